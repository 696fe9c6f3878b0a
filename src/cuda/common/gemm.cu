// cuBLASLt matmul wrapper: row-major arguments mapped onto cuBLAS's column-major operands, one
// cached plan (descriptors + heuristic algorithm) per distinct shape.
#include "cuda/common/gemm.h"

#include <cstdint>
#include <limits>

namespace a48::cuda {

namespace {

constexpr std::size_t kWorkspaceBytes = std::size_t{32} << 20;

// The largest power of two (<= 256) dividing the address and, for batches, the byte stride: what
// cuBLASLt may assume about every matrix of the batch.
int64_t alignment_bytes(const void* p, int64_t stride_elements, int64_t batch) {
  uint64_t bits = reinterpret_cast<uintptr_t>(p) | 256u;
  if (batch > 1) bits |= static_cast<uint64_t>(stride_elements) * sizeof(float);
  return static_cast<int64_t>(bits & (~bits + 1));
}

void set_batch(cublasLtMatrixLayout_t layout, int64_t batch, int64_t stride) {
  const int32_t count = static_cast<int32_t>(batch);
  CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                                sizeof(count)));
  CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(
      layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
}

void check_args(const GemmArgs& g) {
  check(g.m > 0 && g.n > 0 && g.k > 0 && g.batch > 0 &&
            g.batch <= std::numeric_limits<int32_t>::max(),
        "gemm: bad shape m {} n {} k {} batch {}", g.m, g.n, g.k, g.batch);
  check(g.a != nullptr && g.b != nullptr && g.c != nullptr, "gemm: null operand");
  check(g.lda >= (g.trans_a ? g.m : g.k) && g.ldb >= (g.trans_b ? g.k : g.n) && g.ldc >= g.n,
        "gemm: leading dimensions lda {} ldb {} ldc {} too small for m {} n {} k {} (trans {} {})",
        g.lda, g.ldb, g.ldc, g.m, g.n, g.k, g.trans_a, g.trans_b);
  check(g.batch == 1 || (g.stride_a >= 0 && g.stride_b >= 0 && g.stride_c >= g.m * g.ldc),
        "gemm: batch strides a {} b {} c {} (C needs >= {})", g.stride_a, g.stride_b, g.stride_c,
        g.m * g.ldc);
}

}  // namespace

GemmContext::GemmContext(cudaStream_t stream) : stream_(stream), workspace_(kWorkspaceBytes) {
  CUBLAS_CHECK(cublasLtCreate(&handle_));
}

GemmContext::~GemmContext() {
  for (auto& [key, plan] : plans_) {
    cublasLtMatrixLayoutDestroy(plan.layout_a);
    cublasLtMatrixLayoutDestroy(plan.layout_b);
    cublasLtMatrixLayoutDestroy(plan.layout_c);
    cublasLtMatmulDescDestroy(plan.desc);
  }
  for (cudaEvent_t e : events_) cudaEventDestroy(e);
  if (handle_ != nullptr) cublasLtDestroy(handle_);
}

const GemmContext::Plan& GemmContext::plan_for(const GemmArgs& g) {
  const int64_t align_a = alignment_bytes(g.a, g.stride_a, g.batch);
  const int64_t align_b = alignment_bytes(g.b, g.stride_b, g.batch);
  const int64_t align_c = alignment_bytes(g.c, g.stride_c, g.batch);
  const Key key = {g.m,        g.n,        g.k,        g.lda,      g.ldb,
                   g.ldc,      g.trans_a,  g.trans_b,  static_cast<int64_t>(g.precision),
                   g.batch,    g.stride_a, g.stride_b, g.stride_c, align_a,
                   align_b,    align_c,    g.beta != 0.0f};
  if (auto it = plans_.find(key); it != plans_.end()) return it->second;

  Plan plan;
  const cublasComputeType_t compute =
      g.precision == GemmPrecision::tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan.desc, compute, CUDA_R_32F));
  // cuBLAS operand "A" is our B, operand "B" is our A (see gemm.h).
  const cublasOperation_t op_first = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_second = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_first,
                                              sizeof(op_first)));
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_second,
                                              sizeof(op_second)));
  // Column-major views of the row-major storage: a row-major [r, c] is a column-major [c, r].
  const uint64_t b_rows = static_cast<uint64_t>(g.trans_b ? g.k : g.n);
  const uint64_t b_cols = static_cast<uint64_t>(g.trans_b ? g.n : g.k);
  const uint64_t a_rows = static_cast<uint64_t>(g.trans_a ? g.m : g.k);
  const uint64_t a_cols = static_cast<uint64_t>(g.trans_a ? g.k : g.m);
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.layout_a, CUDA_R_32F, b_rows, b_cols, g.ldb));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.layout_b, CUDA_R_32F, a_rows, a_cols, g.lda));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.layout_c, CUDA_R_32F, static_cast<uint64_t>(g.n),
                                          static_cast<uint64_t>(g.m), g.ldc));
  if (g.batch > 1) {
    set_batch(plan.layout_a, g.batch, g.stride_b);
    set_batch(plan.layout_b, g.batch, g.stride_a);
    set_batch(plan.layout_c, g.batch, g.stride_c);
  }

  cublasLtMatmulPreference_t preference = nullptr;
  CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
  const uint64_t workspace = kWorkspaceBytes;
  const uint32_t first_align = static_cast<uint32_t>(align_b), second_align =
                                                                   static_cast<uint32_t>(align_a),
                 c_align = static_cast<uint32_t>(align_c);
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof(workspace)));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &first_align, sizeof(first_align)));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &second_align,
      sizeof(second_align)));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &c_align, sizeof(c_align)));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &c_align, sizeof(c_align)));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(
      handle_, plan.desc, plan.layout_a, plan.layout_b, plan.layout_c, plan.layout_c, preference, 1,
      &result, &found);
  cublasLtMatmulPreferenceDestroy(preference);
  CUBLAS_CHECK(status);
  check(found > 0, "gemm: cuBLASLt has no algorithm for m {} n {} k {} batch {}", g.m, g.n, g.k,
        g.batch);
  plan.algo = result.algo;
  return plans_.emplace(key, plan).first->second;
}

void GemmContext::matmul(const GemmArgs& g) {
  check_args(g);
  const Plan& plan = plan_for(g);
  cudaEvent_t start = nullptr, stop = nullptr;
  if (timing_) {
    while (events_.size() < events_used_ + 2) {
      cudaEvent_t e = nullptr;
      CUDA_CHECK(cudaEventCreate(&e));
      events_.push_back(e);
    }
    start = events_[events_used_];
    stop = events_[events_used_ + 1];
    events_used_ += 2;
    CUDA_CHECK(cudaEventRecord(start, stream_));
  }
  CUBLAS_CHECK(cublasLtMatmul(handle_, plan.desc, &g.alpha, g.b, plan.layout_a, g.a, plan.layout_b,
                              &g.beta, g.c, plan.layout_c, g.c, plan.layout_c, &plan.algo,
                              workspace_.data(), workspace_.size(), stream_));
  if (timing_) CUDA_CHECK(cudaEventRecord(stop, stream_));
}

double GemmContext::elapsed_ms() {
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  double total = 0.0;
  for (std::size_t i = 0; i + 1 < events_used_; i += 2) {
    float ms = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, events_[i], events_[i + 1]));
    total += ms;
  }
  events_used_ = 0;
  return total;
}

}  // namespace a48::cuda
