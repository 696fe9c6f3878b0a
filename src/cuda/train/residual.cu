// Residual add of a projection's scaled raw product: elementwise.
#include "cuda/train/residual.cuh"

#include "cuda/common/check.h"

namespace a48::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void residual_add_projection_kernel(const float* x, const float* __restrict__ raw,
                                               const float* __restrict__ step,
                                               const float* __restrict__ alpha, int64_t n_tokens,
                                               int64_t d, float* out) {
  const int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= n_tokens * d) return;
  const double scale = static_cast<double>(alpha[0]) * static_cast<double>(step[index / d]);
  const float y = static_cast<float>(scale * static_cast<double>(raw[index]));
  out[index] = x[index] + y;  // the reference's xt[i] + o[i] in fp32
}

}  // namespace

void residual_add_projection(const float* x, const float* raw, const float* step,
                             const float* alpha, int64_t n_tokens, int64_t d, float* out,
                             cudaStream_t stream) {
  check(n_tokens >= 0 && d > 0, "residual_add_projection: bad shape [{}, {}]", n_tokens, d);
  const int64_t n = n_tokens * d;
  if (n == 0) return;
  residual_add_projection_kernel<<<static_cast<unsigned>((n + kThreads - 1) / kThreads), kThreads,
                                   0, stream>>>(x, raw, step, alpha, n_tokens, d, out);
  CUDA_CHECK_LAUNCH();
}

}  // namespace a48::cuda
