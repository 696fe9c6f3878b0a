// Matrix products through cuBLASLt, in ROW-MAJOR terms (the layout of every a48 tensor):
//
//   C[m, n] = alpha * op(A) op(B) + beta * C        op(A): [m, k]    op(B): [k, n]
//
// A is stored row-major as [m, k] (lda >= k), or as [k, m] (lda >= m) when trans_a; likewise B is
// [k, n] (ldb >= n) or [n, k] (ldb >= k) when trans_b; C is [m, n] with ldc >= n. With batch > 1,
// product i reads A + i*stride_a, B + i*stride_b and writes C + i*stride_c.
// (cuBLAS is column-major; a row-major C is a column-major C^T = op(B)^T op(A)^T, so the wrapper
// passes B as cuBLAS's first operand.)
//
// Precision, all fp32 in memory with fp32 accumulation:
//   tf32: inputs rounded to TF32 (10 explicit mantissa bits, relative error <= 2^-11 each) on the
//         tensor cores. Exact when both inputs are small integers (|v| <= 2^11): the trainer's
//         forward projections multiply integer activation codes by ternary codes this way and
//         apply the float scales afterwards, so they match the CPU reference's integer BitLinear.
//         Otherwise each product carries ~2^-10 relative error: ||C - C_exact|| is about
//         1e-3 * ||A|| ||B|| / sqrt(k)-ish for random data; the backward products run here.
//   fp32: plain fp32 FMA (no tensor cores): ~k * 2^-24 relative error; used for attention.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <array>
#include <cstdint>
#include <map>
#include <vector>

#include "cuda/common/device_buffer.h"

namespace a48::cuda {

enum class GemmPrecision { fp32, tf32 };

struct GemmArgs {
  int64_t m = 0, n = 0, k = 0;
  const float* a = nullptr;
  int64_t lda = 0;
  bool trans_a = false;
  const float* b = nullptr;
  int64_t ldb = 0;
  bool trans_b = false;
  float* c = nullptr;
  int64_t ldc = 0;
  float alpha = 1.0f, beta = 0.0f;
  GemmPrecision precision = GemmPrecision::tf32;
  int64_t batch = 1, stride_a = 0, stride_b = 0, stride_c = 0;
};

// One cuBLASLt handle, workspace and plan cache, bound to one stream. Not thread-safe.
class GemmContext {
 public:
  explicit GemmContext(cudaStream_t stream);
  ~GemmContext();
  GemmContext(const GemmContext&) = delete;
  GemmContext& operator=(const GemmContext&) = delete;

  // Enqueues the product on the stream. Throws a48::Error on bad shapes or a cuBLASLt failure.
  void matmul(const GemmArgs& args);

  // Timing of matmul calls with CUDA events (for benchmarks): while on, each call is bracketed by
  // events; elapsed_ms() synchronizes, returns the summed time since the last call and resets.
  void set_timing(bool on) { timing_ = on; }
  double elapsed_ms();

 private:
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t layout_a = nullptr, layout_b = nullptr, layout_c = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  using Key = std::array<int64_t, 17>;
  const Plan& plan_for(const GemmArgs& args);

  cudaStream_t stream_;
  cublasLtHandle_t handle_ = nullptr;
  DeviceBuffer<unsigned char> workspace_;
  std::map<Key, Plan> plans_;
  bool timing_ = false;
  std::vector<cudaEvent_t> events_;  // pairs (start, stop), reused
  std::size_t events_used_ = 0;
};

}  // namespace a48::cuda
