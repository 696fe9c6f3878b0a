// RMSNorm rows: one block per row for the forward and the input gradient; the weight gradient is
// a column sum over rows, done in two deterministic passes (fixed row chunks, then chunk order).
#include "cuda/train/rmsnorm.cuh"

#include "cuda/common/check.h"
#include "cuda/common/reduce.cuh"

namespace a48::cuda {

namespace {

constexpr int kThreads = 256;

// x, out: [rows, n]. One block per row.
__global__ void rmsnorm_forward_kernel(const float* x, const float* __restrict__ weight, int n,
                                       float eps, float* out) {
  __shared__ double scratch[32];
  const int64_t offset = static_cast<int64_t>(blockIdx.x) * n;
  double sum_squares = 0.0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const double v = x[offset + i];
    sum_squares += v * v;
  }
  sum_squares = block_sum(sum_squares, scratch);
  const float variance = static_cast<float>(sum_squares / static_cast<double>(n));
  const float r = 1.0f / sqrtf(variance + eps);  // torch.rsqrt on fp32: 1/sqrt, each rounded
  for (int i = threadIdx.x; i < n; i += blockDim.x) out[offset + i] = weight[i] * (x[offset + i] * r);
}

// x, dy, dx: [rows, n]; r_out: [rows]. One block per row.
__global__ void rmsnorm_backward_kernel(const float* __restrict__ x, const float* __restrict__ weight,
                                        const float* __restrict__ dy, int n, float eps,
                                        float* __restrict__ dx, bool accumulate,
                                        double* __restrict__ r_out) {
  __shared__ double scratch[32];
  const int64_t offset = static_cast<int64_t>(blockIdx.x) * n;
  double sum_squares = 0.0, dot = 0.0;  // dot = sum_j w_j dy_j x_j
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const double v = x[offset + i];
    sum_squares += v * v;
    dot += static_cast<double>(weight[i]) * dy[offset + i] * v;
  }
  sum_squares = block_sum(sum_squares, scratch);
  dot = block_sum(dot, scratch);
  const double r = 1.0 / sqrt(sum_squares / n + static_cast<double>(eps));
  const double correction = r * r * r * dot / n;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const float branch =
        static_cast<float>(r * weight[i] * dy[offset + i] - x[offset + i] * correction);
    dx[offset + i] = accumulate ? dx[offset + i] + branch : branch;
  }
  if (threadIdx.x == 0) r_out[blockIdx.x] = r;
}

// grid (ceil(n / kThreads), chunks): partial[chunk, j] = sum over the chunk's rows of dy x r.
__global__ void weight_partial_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                                      const double* __restrict__ r, int64_t rows, int n,
                                      double* __restrict__ partial) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= n) return;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * kRmsnormRowsPerChunk;
  const int64_t end = min(begin + kRmsnormRowsPerChunk, rows);
  double sum = 0.0;
  for (int64_t row = begin; row < end; ++row) {
    const int64_t i = row * n + j;
    sum += static_cast<double>(dy[i]) * x[i] * r[row];
  }
  partial[static_cast<int64_t>(blockIdx.y) * n + j] = sum;
}

// dweight[j] += float(sum over chunks, in order).
__global__ void weight_reduce_kernel(const double* __restrict__ partial, int64_t chunks, int n,
                                     float* __restrict__ dweight) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= n) return;
  double sum = 0.0;
  for (int64_t c = 0; c < chunks; ++c) sum += partial[c * n + j];
  dweight[j] += static_cast<float>(sum);
}

void check_shape(const char* who, int64_t rows, int64_t n) {
  check(rows >= 0 && rows <= 0x7fffffff && n > 0 && n <= 0x7fffffff, "{}: bad shape [{}, {}]", who,
        rows, n);
}

}  // namespace

void rmsnorm_forward(const float* x, const float* weight, int64_t rows, int64_t n, float eps,
                     float* out, cudaStream_t stream) {
  check_shape("rmsnorm_forward", rows, n);
  if (rows == 0) return;
  rmsnorm_forward_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      x, weight, static_cast<int>(n), eps, out);
  CUDA_CHECK_LAUNCH();
}

void rmsnorm_backward(const float* x, const float* weight, const float* dy, int64_t rows, int64_t n,
                      float eps, float* dx, bool accumulate, double* r_out, cudaStream_t stream) {
  check_shape("rmsnorm_backward", rows, n);
  if (rows == 0) return;
  rmsnorm_backward_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      x, weight, dy, static_cast<int>(n), eps, dx, accumulate, r_out);
  CUDA_CHECK_LAUNCH();
}

void rmsnorm_backward_weight(const float* x, const float* dy, const double* r, int64_t rows,
                             int64_t n, float* dweight, double* scratch, cudaStream_t stream) {
  check_shape("rmsnorm_backward_weight", rows, n);
  if (rows == 0) return;
  const int64_t chunks = (rows + kRmsnormRowsPerChunk - 1) / kRmsnormRowsPerChunk;
  check(chunks <= 65535, "rmsnorm_backward_weight: {} rows exceed the grid", rows);
  const unsigned column_blocks = static_cast<unsigned>((n + kThreads - 1) / kThreads);
  weight_partial_kernel<<<dim3(column_blocks, static_cast<unsigned>(chunks)), kThreads, 0, stream>>>(
      x, dy, r, rows, static_cast<int>(n), scratch);
  CUDA_CHECK_LAUNCH();
  weight_reduce_kernel<<<column_blocks, kThreads, 0, stream>>>(scratch, chunks,
                                                               static_cast<int>(n), dweight);
  CUDA_CHECK_LAUNCH();
}

}  // namespace a48::cuda
