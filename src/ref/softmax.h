// Softmax and log-softmax over one row, in fp32 with max subtraction (as torch's softmax with
// dtype=float32, used by HF attention and by scoring):
//   softmax(x)_i     = exp(x_i - m) / sum_j exp(x_j - m),          m = max_j x_j
//   log_softmax(x)_i = (x_i - m) - log(sum_j exp(x_j - m))
// exp is evaluated in fp32 on the fp32 difference; the sum, the division and the log are done in
// double and rounded once. -inf entries (masked) give probability 0; NaN or +inf input, an empty
// row, or a row that is entirely -inf throw a48::Error.
#pragma once

#include <span>

namespace a48::ref {

// x, out: [n]; out may alias x.
void softmax(std::span<const float> x, std::span<float> out);
void log_softmax(std::span<const float> x, std::span<float> out);

}  // namespace a48::ref
