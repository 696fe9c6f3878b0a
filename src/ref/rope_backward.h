// Backward of rotary position embedding (ref/rope.h): RoPE is a rotation of each pair
// (x_i, x_{i+hd/2}) by the angle p*f_i, so its gradient is the rotation by -p*f_i:
//   dx[i]        =  dy[i] * cos + dy[i + hd/2] * sin
//   dx[i + hd/2] = -dy[i] * sin + dy[i + hd/2] * cos
// with cos and sin computed in fp32 exactly as the forward computes them.
#pragma once

#include <cstdint>
#include <span>

namespace a48::ref {

// Replaces the gradient dy (w.r.t. RoPE's output) by the gradient w.r.t. its input, in place.
// dy: [n_heads, hd], position >= 0.
void rope_backward(std::span<float> dy, int64_t n_heads, int64_t head_dim, int64_t position,
                   double theta);

}  // namespace a48::ref
