// Cross-entropy: one block per row, three passes over the row (max, sum of exp, gradient).
#include "cuda/train/cross_entropy.cuh"

#include <cmath>

#include "cuda/common/check.h"
#include "cuda/common/reduce.cuh"

namespace a48::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void cross_entropy_kernel(float* __restrict__ logits, const int32_t* __restrict__ targets,
                                     int64_t vocab, double scale, bool write_gradient,
                                     double* __restrict__ row_loss, int* __restrict__ non_finite) {
  __shared__ float scratch_f[32];
  __shared__ double scratch_d[32];
  float* z = logits + static_cast<int64_t>(blockIdx.x) * vocab;
  const int32_t target = targets[blockIdx.x];
  if (target < 0) {  // not scored (the whole block takes this branch)
    if (write_gradient) {
      for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) z[j] = 0.0f;
    }
    if (threadIdx.x == 0) row_loss[blockIdx.x] = 0.0;
    return;
  }
  float max = -INFINITY;
  bool bad = false;
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) {
    const float v = z[j];
    bad = bad || !isfinite(v);
    max = fmaxf(max, v);
  }
  if (__syncthreads_or(bad)) {
    if (threadIdx.x == 0) {
      if (non_finite != nullptr) atomicExch(non_finite, 1);
      row_loss[blockIdx.x] = NAN;
    }
    return;
  }
  max = block_reduce(max, MaxOp{}, -INFINITY, scratch_f);
  double sum = 0.0;
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) sum += exp(static_cast<double>(z[j]) - max);
  sum = block_sum(sum, scratch_d);
  const double log_sum = max + log(sum);  // log(sum_j exp(z_j))
  const double target_logit = z[target];
  __syncthreads();  // every thread has read z[target] before the gradient overwrites it
  if (write_gradient) {
    for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) {
      const double p = exp(static_cast<double>(z[j]) - log_sum);
      z[j] = static_cast<float>(scale * (p - (j == target ? 1.0 : 0.0)));
    }
  }
  if (threadIdx.x == 0) row_loss[blockIdx.x] = log_sum - target_logit;
}

__global__ void sum_in_order_kernel(const double* __restrict__ values, int64_t n,
                                    double* __restrict__ total) {
  __shared__ double scratch[32];
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += values[i];
  sum = block_sum(sum, scratch);
  if (threadIdx.x == 0) *total = sum;
}

}  // namespace

void cross_entropy(float* logits, const int32_t* targets, int64_t rows, int64_t vocab,
                   double scale, bool write_gradient, double* row_loss, int* non_finite,
                   cudaStream_t stream) {
  check(rows >= 0 && rows <= 0x7fffffff && vocab > 0, "cross_entropy: bad shape [{}, {}]", rows,
        vocab);
  if (rows == 0) return;
  cross_entropy_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      logits, targets, vocab, scale, write_gradient, row_loss, non_finite);
  CUDA_CHECK_LAUNCH();
}

void sum_in_order(const double* values, int64_t n, double* total, cudaStream_t stream) {
  check(n >= 0, "sum_in_order: negative length {}", n);
  sum_in_order_kernel<<<1, 1024, 0, stream>>>(values, n, total);
  CUDA_CHECK_LAUNCH();
}

}  // namespace a48::cuda
