// Eq. 2, batched over all projection matrices: three launches whatever the layer count.
#include "cuda/train/ternary.cuh"

#include <algorithm>

#include "cuda/common/check.h"
#include "cuda/common/reduce.cuh"

namespace a48::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kChunk = 16 * 1024;  // elements per block of the first pass
constexpr float kEps = 1e-5f;

// grid (max_chunks, count): partial[m, c] = sum |W| over chunk c of matrix m, in double.
__global__ void abs_sum_kernel(const float* __restrict__ params, const int64_t* __restrict__ offsets,
                               const int64_t* __restrict__ numels, int64_t max_chunks,
                               double* __restrict__ partial, int* __restrict__ non_finite) {
  __shared__ double scratch[32];
  const int m = blockIdx.y;
  const int64_t begin = static_cast<int64_t>(blockIdx.x) * kChunk;
  const int64_t end = min(begin + kChunk, numels[m]);
  const float* w = params + offsets[m];
  double sum = 0.0;
  bool bad = false;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const float v = w[i];
    bad = bad || !isfinite(v);
    sum += fabs(static_cast<double>(v));
  }
  if (__syncthreads_or(bad) && threadIdx.x == 0 && non_finite != nullptr) atomicExch(non_finite, 1);
  sum = block_sum(sum, scratch);
  if (threadIdx.x == 0) partial[m * max_chunks + blockIdx.x] = sum;  // 0 past the matrix's end
}

// grid (count): s and alpha of matrix m from its partial sums, in chunk order.
__global__ void scale_kernel(const double* __restrict__ partial, const int64_t* __restrict__ numels,
                             int64_t max_chunks, float* __restrict__ scale,
                             float* __restrict__ alpha) {
  __shared__ double scratch[32];
  const int m = blockIdx.x;
  double sum = 0.0;
  for (int64_t c = threadIdx.x; c < max_chunks; c += blockDim.x) sum += partial[m * max_chunks + c];
  sum = block_sum(sum, scratch);
  if (threadIdx.x != 0) return;
  if (sum == 0.0) {  // an all-zero matrix has zero scale, not eps
    scale[m] = 0.0f;
    alpha[m] = 0.0f;
    return;
  }
  const float mean_abs = static_cast<float>(sum / static_cast<double>(numels[m]));
  const float s = 1.0f / fmaxf(mean_abs, kEps);
  scale[m] = s;
  alpha[m] = 1.0f / s;
}

// grid (max_chunks, count): codes = clamp(rint(W * s), -1, 1), w_hat = alpha * codes.
__global__ void apply_kernel(const float* __restrict__ params, const int64_t* __restrict__ offsets,
                             const int64_t* __restrict__ numels, const float* __restrict__ scale,
                             const float* __restrict__ alpha, float* __restrict__ codes,
                             float* __restrict__ w_hat) {
  const int m = blockIdx.y;
  const int64_t begin = static_cast<int64_t>(blockIdx.x) * kChunk;
  const int64_t end = min(begin + kChunk, numels[m]);
  const int64_t base = offsets[m];
  const float s = scale[m], a = alpha[m];
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const float t = fminf(fmaxf(rintf(params[base + i] * s), -1.0f), 1.0f) + 0.0f;
    codes[base + i] = t;
    w_hat[base + i] = a * t;
  }
}

}  // namespace

TernaryMatrices::TernaryMatrices(std::span<const int64_t> offsets, std::span<const int64_t> numels)
    : offsets_(offsets.begin(), offsets.end()) {
  check(offsets.size() == numels.size() && !offsets.empty() && offsets.size() <= 65535,
        "TernaryMatrices: {} offsets and {} sizes (1..65535 matrices)", offsets.size(),
        numels.size());
  for (int64_t n : numels) {
    check(n > 0, "TernaryMatrices: empty matrix");
    max_chunks_ = std::max(max_chunks_, (n + kChunk - 1) / kChunk);
  }
  offsets_device_ = to_device(std::vector<int64_t>(offsets.begin(), offsets.end()));
  numels_device_ = to_device(std::vector<int64_t>(numels.begin(), numels.end()));
  partial_ = DeviceBuffer<double>(static_cast<std::size_t>(max_chunks_) * offsets.size());
  scale_ = DeviceBuffer<float>(offsets.size());
}

void TernaryMatrices::quantize(const float* params, float* codes, float* w_hat, float* alpha,
                               int* non_finite, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(max_chunks_), static_cast<unsigned>(count()));
  abs_sum_kernel<<<grid, kThreads, 0, stream>>>(params, offsets_device_.data(),
                                                numels_device_.data(), max_chunks_,
                                                partial_.data(), non_finite);
  CUDA_CHECK_LAUNCH();
  scale_kernel<<<count(), kThreads, 0, stream>>>(partial_.data(), numels_device_.data(),
                                                 max_chunks_, scale_.data(), alpha);
  CUDA_CHECK_LAUNCH();
  apply_kernel<<<grid, kThreads, 0, stream>>>(params, offsets_device_.data(),
                                              numels_device_.data(), scale_.data(), alpha, codes,
                                              w_hat);
  CUDA_CHECK_LAUNCH();
}

}  // namespace a48::cuda
