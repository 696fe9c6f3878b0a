// BitLinear with quantized activations (BitNet b1.58; eqs. 1, 2, 3, 6 of the paper):
//   Y = Q_x(X) Q_w(W)^T = (step * q) (alpha * t)^T
//   y[o] = (alpha * step) * sum_i t[o, i] * q[i]
// t in {-1, 0, 1} are the ternary codes of eq. 2, q the int8-stored codes of the activation
// quantizer (INT8 absmax, INT4 absmean or FP4 grid values, see quant/quant_common.h). The integer
// sum is exact in int32 (|q| <= 128, so any n_in <= 2^24 fits); the single rescale is done in
// double and rounded once to fp32, so the result is the correctly rounded value of the exact
// product.
#pragma once

#include <cstdint>
#include <span>

#include "model/weights.h"

namespace a48::ref {

// sum_i t_row[i] * q[i], exact. t_row, q: [n_in].
int32_t bitlinear_dot(std::span<const int8_t> t_row, std::span<const int8_t> q);

// y[o] for one output row o of w (uses w.ternary and w.scale). q: [n_in].
float bitlinear_row(const LinearWeights& w, int64_t o, std::span<const int8_t> q, float step);

// All rows. q: [n_in], y: [n_out]. Throws a48::Error on shape mismatches.
void bitlinear(const LinearWeights& w, std::span<const int8_t> q, float step, std::span<float> y);

}  // namespace a48::ref
