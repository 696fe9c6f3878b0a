// Backward of the gated linear units of the FFN (ref/glu.h, eq. 5): out = act(gate) * up.
//   dup   = dout * act(gate)
//   dgate = dout * up * act'(gate)
//   relu2'(g) = 2 max(g, 0)                     (continuous: the GLU is C^1 at g = 0)
//   silu'(g)  = sigmoid(g) * (1 + g * (1 - sigmoid(g)))
// In double, rounded once per output.
#pragma once

#include <span>

namespace a48::ref {

// gate, up, dout, dgate, dup: [n]. dgate and dup are written.
void relu2_glu_backward(std::span<const float> gate, std::span<const float> up,
                        std::span<const float> dout, std::span<float> dgate, std::span<float> dup);
void silu_glu_backward(std::span<const float> gate, std::span<const float> up,
                       std::span<const float> dout, std::span<float> dgate, std::span<float> dup);

}  // namespace a48::ref
