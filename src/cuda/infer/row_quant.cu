// The fused residual / GLU / RMSNorm / top-K / quantizer pass (row_quant.h).
#include "cuda/infer/row_quant.h"

#include <algorithm>

#include "cuda/common/check.h"
#include "cuda/common/reduce.cuh"
#include "cuda/infer/act.cuh"
#include "cuda/infer/pdl_launch.cuh"
#include "cuda/infer/radix_topk.cuh"
#include "quant/quant_common.h"

namespace a48::cuda {

namespace {

// Up to 1024 threads per token: at batch 1 the pass is one block, and its time is the chain of
// load latencies and barriers, which more threads shorten.
constexpr int kMaxThreads = 1024;
constexpr int kUnroll = 4;  // row entries whose loads are issued together

struct Params {
  RowQuantArgs a;
  int quantizer;  // ActivationQuantizer as int
  int act;
};

__global__ void __launch_bounds__(kMaxThreads) row_quant_kernel(Params p) {
  pdl_wait();  // pdl_launch.cuh: the previous kernel's writes are visible from here on
  pdl_release();
  extern __shared__ float row[];  // [n]
  __shared__ double dscratch[32];
  __shared__ float fscratch[32];
  __shared__ int iscratch[32];
  __shared__ RadixTopkShared topk_shared;
  const RowQuantArgs& a = p.a;
  const int n = static_cast<int>(a.n);
  const int64_t t = blockIdx.x;
  const int threads = static_cast<int>(blockDim.x);

  // The input row, kUnroll entries per thread at a time: every load of a group is issued before
  // the first is used (the write-back to x could alias the loads otherwise).
  for (int base = static_cast<int>(threadIdx.x); base < n; base += kUnroll * threads) {
    float x0[kUnroll], x1[kUnroll];
    int32_t acc[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = base + u * threads;
      x0[u] = x1[u] = 0.0f;
      acc[u] = 0;
      if (i >= n) continue;
      if (a.gate != nullptr) {
        x0[u] = a.gate[t * a.ld_glu + i];
        x1[u] = a.up[t * a.ld_glu + i];
      } else {
        x0[u] = a.x[t * a.ld_x + i];
        if (a.delta != nullptr) x1[u] = a.delta[t * a.ld_delta + i];
        if (a.delta_acc != nullptr) acc[u] = a.delta_acc[t * a.ld_acc + i];
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = base + u * threads;
      if (i >= n) continue;
      float v;
      if (a.gate != nullptr) {
        v = __fmul_rn(activate_gate(x0[u], p.act), x1[u]);
      } else {
        v = x0[u];
        bool changed = false;
        if (a.delta != nullptr) {
          v = __fadd_rn(v, x1[u]);
          changed = true;
        }
        if (a.delta_acc != nullptr) {
          const float d = static_cast<float>(static_cast<double>(a.delta_alpha) *
                                             static_cast<double>(a.delta_step[t]) *
                                             static_cast<double>(acc[u] - a.delta_sum[t]));
          a.delta_acc[t * a.ld_acc + i] = 0;
          v = __fadd_rn(v, d);
          changed = true;
        }
        if (changed) a.x[t * a.ld_x + i] = v;
      }
      row[i] = v;
    }
  }

  if (a.norm_weight != nullptr) {
    double ss = 0.0;
    for (int i = static_cast<int>(threadIdx.x); i < n; i += threads) {
      const double v = row[i];
      ss += v * v;
    }
    ss = block_sum(ss, dscratch);
    const float variance = static_cast<float>(ss / static_cast<double>(n));
    const float r = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(variance, a.eps)));
    for (int i = static_cast<int>(threadIdx.x); i < n; i += threads) {
      const float v = __fmul_rn(a.norm_weight[i], __fmul_rn(row[i], r));
      row[i] = v;
      if (a.normed != nullptr) a.normed[t * a.ld_normed + i] = v;
    }
  } else if (a.normed != nullptr) {
    for (int i = static_cast<int>(threadIdx.x); i < n; i += threads) a.normed[t * a.ld_normed + i] = row[i];
  }
  if (p.quantizer == static_cast<int>(ActivationQuantizer::none)) return;
  __syncthreads();
  if (a.keep < a.n) radix_topk_keep_in_place(row, n, static_cast<int>(a.keep), topk_shared, iscratch);

  // The quantizer's scale s (0: the row quantizes to zeros) and step.
  float s = 0.0f, step = 0.0f;
  const int qz = p.quantizer;
  if (qz == static_cast<int>(ActivationQuantizer::int4_absmean) ||
      qz == static_cast<int>(ActivationQuantizer::int4_absmean_double_beta)) {
    double sa = 0.0;
    for (int i = static_cast<int>(threadIdx.x); i < n; i += threads) sa += fabs(static_cast<double>(row[i]));
    sa = block_sum(sa, dscratch);
    if (sa != 0.0) {
      const float mult = qz == static_cast<int>(ActivationQuantizer::int4_absmean) ? 1.0f : 2.0f;
      const float beta = __fmul_rn(static_cast<float>(sa / static_cast<double>(n)), mult);
      s = __fdiv_rn(__fsqrt_rn(7.0f), fmaxf(beta, kQuantEpsilon));
      step = __fdiv_rn(1.0f, s);
    }
  } else {
    float m = 0.0f;
    for (int i = static_cast<int>(threadIdx.x); i < n; i += threads) m = fmaxf(m, fabsf(row[i]));
    m = block_reduce(m, MaxOp{}, 0.0f, fscratch);
    if (qz == static_cast<int>(ActivationQuantizer::int8_absmax)) {
      if (m != 0.0f) {
        s = __fdiv_rn(127.0f, fmaxf(m, kQuantEpsilon));
        step = __fdiv_rn(1.0f, s);
      }
    } else if (m >= kQuantEpsilon) {  // fp4 e2m1
      s = __fdiv_rn(12.0f, m);
      step = __fdiv_rn(1.0f, s);  // ldexp(1/s, 1 - M) with M = 1
    }
  }

  int code_sum = 0;
  const int padded = static_cast<int>(a.ld_q);
  for (int i = static_cast<int>(threadIdx.x); i < padded; i += threads) {
    int code = 0;
    if (i < n && s != 0.0f) {
      const float y = __fmul_rn(row[i], s);
      if (qz == static_cast<int>(ActivationQuantizer::int8_absmax)) {
        code = static_cast<int>(fminf(fmaxf(rintf(y), -128.0f), 127.0f));
      } else if (qz == static_cast<int>(ActivationQuantizer::fp4_e2m1)) {
        if (y != 0.0f) {
          const int e = max(ilogbf(y), 1);
          const float grid = ldexpf(rintf(ldexpf(y, 1 - e)), e - 1);
          code = static_cast<int>(fminf(fmaxf(grid, -12.0f), 12.0f));
        }
      } else {
        code = static_cast<int>(fminf(fmaxf(rintf(y), -8.0f), 7.0f));
      }
    }
    a.q[t * a.ld_q + i] = static_cast<int8_t>(code);
    code_sum += code;
  }
  code_sum = block_sum(code_sum, iscratch);
  if (threadIdx.x == 0) {
    a.step[t] = step;
    a.sum[t] = code_sum;
  }
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
  if (smem > 48 * 1024) {
    CUDA_CHECK(cudaFuncSetAttribute(row_quant_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(smem)));
  }
  const Params p{a, static_cast<int>(a.quantizer), a.act == HiddenActivation::relu2 ? 0 : 1};
  // At least 256 threads (the top-K's histogram), at most one per 2 entries up to kMaxThreads.
  const int threads = static_cast<int>(std::clamp<int64_t>((a.n / 2 + 31) / 32 * 32, 256, kMaxThreads));
  launch_pdl(row_quant_kernel, dim3(static_cast<unsigned>(a.n_tokens)), dim3(threads), smem, stream, p);
  CUDA_CHECK_LAUNCH();
}

}  // namespace a48::cuda
