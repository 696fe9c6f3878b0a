// Gated linear units of the FFN (§2.1, eq. 5):
//   ReLU^2 GLU(X) = X W_up^T (.) ReLU^2(X W_gate^T)   (BitNet a4.8, b1.58 2B4T: hidden_act relu2)
//   SwiGLU(X)     = X W_up^T (.) SiLU(X W_gate^T)      (LLaMA: hidden_act silu)
// In fp32 with HF's op order: act_fn(gate) is rounded to fp32, then multiplied by up.
//   relu2(g) = square(relu(g)) (HF ReLUSquaredActivation);  silu(g) = g / (1 + exp(-g)) (torch).
#pragma once

#include <span>

namespace a48::ref {

float relu2(float gate);
float silu(float gate);

// out[i] = up[i] * relu2(gate[i]). gate, up, out: [n]; out may alias either input.
void relu2_glu(std::span<const float> gate, std::span<const float> up, std::span<float> out);
// out[i] = up[i] * silu(gate[i]).
void silu_glu(std::span<const float> gate, std::span<const float> up, std::span<float> out);

}  // namespace a48::ref
