// AdamW, gradient norm and scaling kernels: elementwise and fixed-order reductions.
#include "cuda/train/optimizer.cuh"

#include <cmath>

#include "cuda/common/check.h"
#include "cuda/common/reduce.cuh"

namespace a48::cuda {

namespace {

constexpr int kThreads = 256;

struct AdamWConstants {
  double lr, beta1, beta2, eps, decay, correction1, correction2, grad_scale;
};

__global__ void adamw_kernel(float* __restrict__ params, const float* __restrict__ grad,
                             float* __restrict__ m, float* __restrict__ v,
                             const uint8_t* __restrict__ decay_mask, int64_t count,
                             AdamWConstants k) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const float g32 = k.grad_scale == 1.0 ? grad[i] : static_cast<float>(grad[i] * k.grad_scale);
  const double g = g32;
  // As adamw.cpp: m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g g  (each operation rounded).
  const double m_i = __dadd_rn(__dmul_rn(k.beta1, m[i]), __dmul_rn(1.0 - k.beta1, g));
  const double v_i = __dadd_rn(__dmul_rn(k.beta2, v[i]), __dmul_rn(__dmul_rn(1.0 - k.beta2, g), g));
  m[i] = static_cast<float>(m_i);
  v[i] = static_cast<float>(v_i);
  double p = params[i];
  if (decay_mask[i] != 0) p = __dmul_rn(p, k.decay);
  const double m_hat = __ddiv_rn(m[i], k.correction1), v_hat = __ddiv_rn(v[i], k.correction2);
  p = __dsub_rn(p, __ddiv_rn(__dmul_rn(k.lr, m_hat), __dadd_rn(__dsqrt_rn(v_hat), k.eps)));
  params[i] = static_cast<float>(p);
}

// Block b sums elements b*blockDim + tid + j*gridDim*blockDim, j = 0, 1, ...
__global__ void sum_squares_partial_kernel(const float* __restrict__ x, int64_t n,
                                           double* __restrict__ partial) {
  __shared__ double scratch[32];
  double sum = 0.0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const double v = x[i];
    sum += v * v;
  }
  sum = block_sum(sum, scratch);
  if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

__global__ void sum_partials_kernel(const double* __restrict__ partial, int64_t n,
                                    double* __restrict__ result) {
  __shared__ double scratch[32];
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += partial[i];
  sum = block_sum(sum, scratch);
  if (threadIdx.x == 0) *result = sum;
}

__global__ void scale_kernel(float* __restrict__ x, int64_t n, float factor) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= factor;
}

unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

}  // namespace

void adamw_update(float* params, const float* grad, float* m, float* v, const uint8_t* decay_mask,
                  int64_t count, const AdamWHyper& hyper, int64_t t, double grad_scale,
                  cudaStream_t stream) {
  // The same checks as a48::adamw_update.
  check(count >= 0, "adamw_update: negative count {}", count);
  check(t >= 1, "adamw_update: step {} must be >= 1", t);
  check(hyper.beta1 >= 0 && hyper.beta1 < 1 && hyper.beta2 >= 0 && hyper.beta2 < 1,
        "adamw_update: betas ({}, {}) must be in [0, 1)", hyper.beta1, hyper.beta2);
  check(hyper.lr >= 0 && std::isfinite(hyper.lr) && hyper.eps > 0 && hyper.weight_decay >= 0,
        "adamw_update: lr {}, eps {}, weight_decay {} out of range", hyper.lr, hyper.eps,
        hyper.weight_decay);
  check(std::isfinite(grad_scale), "adamw_update: grad_scale {} is not finite", grad_scale);
  if (count == 0) return;
  AdamWConstants k{};
  k.lr = hyper.lr;
  k.beta1 = hyper.beta1;
  k.beta2 = hyper.beta2;
  k.eps = hyper.eps;
  k.decay = 1.0 - hyper.lr * hyper.weight_decay;
  k.correction1 = 1.0 - std::pow(hyper.beta1, static_cast<double>(t));
  k.correction2 = 1.0 - std::pow(hyper.beta2, static_cast<double>(t));
  k.grad_scale = grad_scale;
  adamw_kernel<<<blocks_for(count), kThreads, 0, stream>>>(params, grad, m, v, decay_mask, count, k);
  CUDA_CHECK_LAUNCH();
}

void sum_squares(const float* x, int64_t n, double* scratch, double* result, cudaStream_t stream) {
  check(n >= 0, "sum_squares: negative length {}", n);
  sum_squares_partial_kernel<<<kSumSquaresBlocks, kThreads, 0, stream>>>(x, n, scratch);
  CUDA_CHECK_LAUNCH();
  sum_partials_kernel<<<1, 1024, 0, stream>>>(scratch, kSumSquaresBlocks, result);
  CUDA_CHECK_LAUNCH();
}

void scale_values(float* x, int64_t n, float factor, cudaStream_t stream) {
  check(n >= 0, "scale_values: negative length {}", n);
  if (n == 0) return;
  scale_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, n, factor);
  CUDA_CHECK_LAUNCH();
}

}  // namespace a48::cuda
