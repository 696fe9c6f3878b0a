// Per-row fake quantization: one block per token row, the row staged in shared memory.
// Float operations mirror quant/int8_absmax.cpp, int4_absmean.cpp and fp4_minmax.cpp one for one
// (IEEE division and sqrt, rintf = round-half-even, no contraction possible in x * s), which is
// what makes the codes bit-identical to the CPU reference.
#include "cuda/train/fake_quant.cuh"

#include "cuda/common/check.h"
#include "cuda/common/reduce.cuh"
#include "cuda/train/topk.cuh"

namespace a48::cuda {

namespace {

constexpr int kThreads = 256;
constexpr float kEps = 1e-5f;  // quant/quant_common.h kQuantEpsilon

enum class Kind : int { none, int8, int4, int4_double_beta, fp4 };

Kind kind_of(ActivationQuantizer q) {
  switch (q) {
    case ActivationQuantizer::none: return Kind::none;
    case ActivationQuantizer::int8_absmax: return Kind::int8;
    case ActivationQuantizer::int4_absmean: return Kind::int4;
    case ActivationQuantizer::int4_absmean_double_beta: return Kind::int4_double_beta;
    case ActivationQuantizer::fp4_e2m1: return Kind::fp4;
  }
  fail("fake_quantize_rows: unknown quantizer {}", static_cast<int>(q));
}

// The row's scale s (codes = round(x * s)); 0 marks an all-zero row (codes 0, step 0).
__device__ float row_scale(const float* row, int n, Kind kind, float* scratch_f,
                           double* scratch_d) {
  if (kind == Kind::int4 || kind == Kind::int4_double_beta) {
    double sum_abs = 0.0;  // eq. 7's mean|x| in double, as int4_absmean.cpp
    for (int i = threadIdx.x; i < n; i += blockDim.x) sum_abs += fabs(static_cast<double>(row[i]));
    sum_abs = block_sum(sum_abs, scratch_d);
    if (sum_abs == 0.0) return 0.0f;
    const float beta = static_cast<float>(sum_abs / static_cast<double>(n)) *
                       (kind == Kind::int4_double_beta ? 2.0f : 1.0f);
    return sqrtf(7.0f) / fmaxf(beta, kEps);
  }
  float max_abs = 0.0f;  // int8 gamma and FP4 max|x|: exact in float
  for (int i = threadIdx.x; i < n; i += blockDim.x) max_abs = fmaxf(max_abs, fabsf(row[i]));
  max_abs = block_reduce(max_abs, MaxOp{}, 0.0f, scratch_f);
  if (kind == Kind::int8) return max_abs == 0.0f ? 0.0f : 127.0f / fmaxf(max_abs, kEps);
  return max_abs < kEps ? 0.0f : 12.0f / max_abs;  // FP4 E2M1: max|x| lands on the top value 12
}

// The integer code of v; + 0.0f turns rintf's -0 into +0 (the CPU stores int8 codes).
__device__ float code_of(float v, float s, Kind kind) {
  if (kind == Kind::int8) return fminf(fmaxf(rintf(v * s), -128.0f), 127.0f) + 0.0f;
  if (kind == Kind::fp4) {
    const float y = v * s;
    if (y == 0.0f) return 0.0f;
    const int p = max(ilogbf(y), 1);  // the element's binade, at least the subnormal one
    const float grid = ldexpf(rintf(ldexpf(y, 1 - p)), p - 1);  // M = 1
    return fminf(fmaxf(grid, -12.0f), 12.0f) + 0.0f;
  }
  return fminf(fmaxf(rintf(v * s), -8.0f), 7.0f) + 0.0f;  // INT4
}

// x, codes, x_hat: [rows, n]; step, nonzero: [rows]. One block per row.
__global__ void fake_quantize_rows_kernel(const float* __restrict__ x, int n, Kind kind, int keep,
                                          float* __restrict__ codes, float* __restrict__ x_hat,
                                          float* __restrict__ step, int* __restrict__ nonzero,
                                          int* __restrict__ non_finite) {
  extern __shared__ float row[];  // [n]
  __shared__ float scratch_f[32];
  __shared__ double scratch_d[32];
  __shared__ int scratch_i[32];
  const int64_t offset = static_cast<int64_t>(blockIdx.x) * n;
  bool bad = false;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = x[offset + i];
    bad = bad || !isfinite(v);
    row[i] = v;
  }
  if (__syncthreads_or(bad) && threadIdx.x == 0 && non_finite != nullptr) atomicExch(non_finite, 1);
  topk_keep_in_place(row, n, keep, scratch_i);

  const float s = kind == Kind::none ? 1.0f : row_scale(row, n, kind, scratch_f, scratch_d);
  const float row_step = kind == Kind::none ? 1.0f : (s == 0.0f ? 0.0f : 1.0f / s);
  int count = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = row[i];
    const float q = kind == Kind::none ? v : (s == 0.0f ? 0.0f : code_of(v, s, kind));
    codes[offset + i] = q;
    x_hat[offset + i] = kind == Kind::none ? v : row_step * q;
    count += q != 0.0f;
  }
  count = block_sum(count, scratch_i);
  if (threadIdx.x == 0) {
    step[blockIdx.x] = row_step;
    if (nonzero != nullptr) nonzero[blockIdx.x] = count;
  }
}

}  // namespace

void fake_quantize_rows(const float* x, int64_t rows, int64_t n, ActivationQuantizer quantizer,
                        int64_t keep, float* codes, float* x_hat, float* step, int* nonzero,
                        int* non_finite, cudaStream_t stream) {
  check(rows >= 0 && n > 0 && n <= kFakeQuantMaxRow,
        "fake_quantize_rows: row length {} outside [1, {}] (rows {})", n, kFakeQuantMaxRow, rows);
  check(keep >= 0 && keep <= n, "fake_quantize_rows: top-K keeps {} of {}", keep, n);
  check(rows <= 0x7fffffff, "fake_quantize_rows: {} rows exceed the grid", rows);
  if (rows == 0) return;
  const Kind kind = kind_of(quantizer);
  const std::size_t shared = static_cast<std::size_t>(n) * sizeof(float);
  if (shared > 46 * 1024) {  // past the default 48 KiB with the static scratch
    CUDA_CHECK(cudaFuncSetAttribute(fake_quantize_rows_kernel,
                                    cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(shared)));
  }
  fake_quantize_rows_kernel<<<static_cast<unsigned>(rows), kThreads, shared, stream>>>(
      x, static_cast<int>(n), kind, static_cast<int>(keep), codes, x_hat, step, nonzero,
      non_finite);
  CUDA_CHECK_LAUNCH();
}

}  // namespace a48::cuda
