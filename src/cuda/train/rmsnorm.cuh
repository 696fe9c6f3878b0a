// RMSNorm forward and backward on rows (ref/rmsnorm.h, ref/rmsnorm_backward.h):
//   forward:  r = 1 / sqrt(float(mean(x^2)) + eps) (mean in double), out = w * (x * r)  (fp32 ops)
//   backward: with r in double from the exact mean,
//             dx = r w dy - x r^3 (sum_j w_j dy_j x_j) / n,    dw += sum_rows dy x r
// Host launchers; plain C++ may include this header.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace a48::cuda {

// x, out: [rows, n] (out may alias x); weight: [n].
void rmsnorm_forward(const float* x, const float* weight, int64_t rows, int64_t n, float eps,
                     float* out, cudaStream_t stream);

// dx = (accumulate ? dx : 0) + d out / d x . dy, rounded to fp32 per row as the reference does
// (dx + float(branch)). x, dy, dx: [rows, n]. r_out: [rows] doubles, the r of each row, for
// rmsnorm_backward_weight.
void rmsnorm_backward(const float* x, const float* weight, const float* dy, int64_t rows, int64_t n,
                      float eps, float* dx, bool accumulate, double* r_out, cudaStream_t stream);

// Rows summed per chunk of this many into the weight gradient's partial sums.
inline constexpr int64_t kRmsnormRowsPerChunk = 64;
// Doubles of scratch rmsnorm_backward_weight needs.
inline int64_t rmsnorm_weight_scratch(int64_t rows, int64_t n) {
  return (rows + kRmsnormRowsPerChunk - 1) / kRmsnormRowsPerChunk * n;
}

// dweight[j] += float(sum_rows dy[., j] x[., j] r[.]), summed in double in a fixed order.
void rmsnorm_backward_weight(const float* x, const float* dy, const double* r, int64_t rows,
                             int64_t n, float* dweight, double* scratch, cudaStream_t stream);

}  // namespace a48::cuda
