// The fused residual / GLU / RMSNorm / top-K / quantizer pass (row_quant.h).
#include "cuda/infer/row_quant.h"

#include <algorithm>

#include "cuda/common/check.h"
#include "cuda/common/kernel_attributes.h"
#include "cuda/infer/pdl_launch.cuh"
#include "cuda/infer/row_quant_block.cuh"

namespace a48::cuda {

namespace {

// Up to 1024 threads per token: at batch 1 the pass is one block, and its time is the chain of
// load latencies and barriers, which more threads shorten.
constexpr int kMaxThreads = 1024;

struct Params {
  RowQuantArgs a;
  int quantizer;  // ActivationQuantizer as int
  int act;
};

__global__ void __launch_bounds__(kMaxThreads) row_quant_kernel(Params p) {
  pdl_wait();  // pdl_launch.cuh: the previous kernel's writes are visible from here on
  pdl_release();
  extern __shared__ float row[];  // [n]
  __shared__ RowQuantShared shared;
  row_quant_block<false>(p.a, p.quantizer, p.act, blockIdx.x, row, shared, true);
}

}  // namespace

void quantize_rows(const RowQuantArgs& a, cudaStream_t stream) {
  check(a.n_tokens > 0 && a.n_tokens <= 65535 && a.n > 0 && a.n <= 48 * 1024,
        "quantize_rows: {} tokens of {} values (at most 65535 of 49152)", a.n_tokens, a.n);
  check(a.gate != nullptr ? (a.up != nullptr && a.ld_glu >= a.n) : (a.x != nullptr && a.ld_x >= a.n),
        "quantize_rows: no input row");
  check(a.gate == nullptr || (a.delta == nullptr && a.delta_acc == nullptr),
        "quantize_rows: a residual delta needs x, not a GLU input");
  check(a.keep >= 0 && a.keep <= a.n, "quantize_rows: keep {} outside [0, {}]", a.keep, a.n);
  if (a.quantizer != ActivationQuantizer::none) {
    check(a.q != nullptr && a.step != nullptr && a.sum != nullptr && a.ld_q >= a.n && a.ld_q % 64 == 0,
          "quantize_rows: code outputs missing or stride {} not a multiple of 64 >= {}", a.ld_q, a.n);
  }
  const std::size_t smem = static_cast<std::size_t>(a.n) * sizeof(float);
  allow_dynamic_smem(row_quant_kernel, smem);
  const Params p{a, static_cast<int>(a.quantizer), a.act == HiddenActivation::relu2 ? 0 : 1};
  // At least 256 threads (the top-K's histogram), at most one per 2 entries up to kMaxThreads.
  const int threads = static_cast<int>(std::clamp<int64_t>((a.n / 2 + 31) / 32 * 32, 256, kMaxThreads));
  launch_pdl(row_quant_kernel, dim3(static_cast<unsigned>(a.n_tokens)), dim3(threads), smem, stream, p);
  CUDA_CHECK_LAUNCH();
}

}  // namespace a48::cuda
