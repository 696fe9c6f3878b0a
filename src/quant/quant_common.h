// Conventions shared by the paper's quantizers (§2.1, §2.3).
//
// Every activation quantizer turns one token's vector x into small integers q (int8 storage) and
// one float `step` such that the dequantized value is x_hat = step * q. A BitLinear then computes
// y = step_x * alpha_w * sum_i q_i * t_i exactly in int32, which is what integer kernels do.
//
// Rounding is round-half-to-even (std::nearbyint under the default FP environment), as torch.round.
// The paper's epsilon in "x / (gamma + eps)" only guards a division by zero; we apply it as a floor,
// max(gamma, kQuantEpsilon), as BitNet's released code and HF transformers do (s = 127/max(gamma,
// eps), q = round(x*s), step = 1/s, all in float32), so that codes match HF bit for bit. The two
// differ only when gamma < eps: the scale is then capped at 1/eps, so tiny entries stay tiny.
// An exactly all-zero vector returns step 0 with q = 0. FP4 and the KV quantizer, which have no
// HF counterpart, go further and map any vector with max|x| < eps to zeros with scale 0.
//
// Non-finite input (NaN, +-Inf) is a bug upstream or a corrupt model file: every quantizer checks
// and throws a48::Error naming itself rather than emit garbage codes.
#pragma once

#include <cstdint>
#include <span>

namespace a48 {

inline constexpr float kQuantEpsilon = 1e-5f;

// Throws a48::Error("<who>: non-finite input at index i") if any value is NaN or infinite.
void check_finite(std::span<const float> x, const char* who);

}  // namespace a48
