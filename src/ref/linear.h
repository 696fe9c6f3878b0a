// Full-precision linear layer y = x W^T (HF nn.Linear without bias, W: [n_out, n_in] row-major):
// the projections of the `fp` scheme (the LLaMA baseline of Table 1) and the LM head.
// Each dot product is accumulated in double and rounded once to fp32, which makes the result
// independent of summation order (fast kernels accumulating in fp32 differ by O(n_in * eps) of the
// magnitude sum, and are compared against this with a norm-derived tolerance).
#pragma once

#include <cstdint>
#include <span>

namespace a48::ref {

// y[o] = sum_i x[i] * w[o, i]. x: [n_in], w: [n_out, n_in], y: [n_out].
void linear(std::span<const float> x, std::span<const float> w, int64_t n_out, int64_t n_in,
            std::span<float> y);

// One output of `linear`: sum_i x[i] * w_row[i]. x, w_row: [n_in].
float linear_row(std::span<const float> x, std::span<const float> w_row);

// fp32 activations against ternary weights alpha * t (eq. 2) without materialising them:
// alpha * sum_i x[i] * t_row[i], in double, rounded once. x, t_row: [n_in].
float linear_ternary_row(std::span<const float> x, std::span<const int8_t> t_row, float alpha);

}  // namespace a48::ref
