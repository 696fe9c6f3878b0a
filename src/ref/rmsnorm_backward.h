// Backward of RMSNorm (ref/rmsnorm.h), for training (§2.2):
//   y_i = w_i * x_i * r,   r = (mean(x^2) + eps)^-1/2
//   dw_i += dy_i * x_i * r
//   dx_i  = r * w_i * dy_i - x_i * r^3 / n * sum_j w_j * dy_j * x_j
// Evaluated in double and rounded once per output; r is recomputed from x as the forward does.
#pragma once

#include <span>

namespace a48::ref {

// x, weight, dy, dx: [n]; dweight: [n] gradient accumulator (+=). dx must not alias x or dy.
void rmsnorm_backward(std::span<const float> x, std::span<const float> weight, float eps,
                      std::span<const float> dy, std::span<float> dx, std::span<double> dweight);

}  // namespace a48::ref
