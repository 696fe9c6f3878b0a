// Backward of the linear layer y = x W^T (ref/linear.h), W: [n_out, n_in] row-major:
//   dx[i]    = sum_o dy[o] * W[o, i]
//   dW[o, i] += dy[o] * x[i]
// In training every BitLinear runs backward through this with x = the dequantized input x_hat and
// W = the weights the forward multiplied (alpha * t, or the latent weights for `fp`): that is the
// straight-through estimator of §2.2. Sums in double, dx rounded once to fp32.
#pragma once

#include <cstdint>
#include <span>

namespace a48::ref {

// dy: [n_out], x: [n_in], w: [n_out, n_in], dx: [n_in] (written), dw: [n_out, n_in] accumulator
// (+=). Throws a48::Error on shape mismatches.
void linear_backward(std::span<const float> dy, std::span<const float> x, std::span<const float> w,
                     int64_t n_out, int64_t n_in, std::span<float> dx, std::span<double> dw);

}  // namespace a48::ref
