// The fused per-token row pass of row_quant.h as a block-level device function (device code; .cu
// files only): row_quant.cu's kernel runs it once per block and token, the fused decode kernel
// (decode_layers.cu) runs it in every block on the rows it needs.
//
// kCoherent: read the row's inputs (x, delta, the GLU's gate and up) around L1
// (coherent_load.cuh): inside one persistent kernel other blocks write them.
#pragma once

#include "cuda/common/reduce.cuh"
#include "cuda/infer/act.cuh"
#include "cuda/infer/coherent_load.cuh"
#include "cuda/infer/radix_topk.cuh"
#include "cuda/infer/row_quant.h"
#include "quant/quant_common.h"

namespace a48::cuda {

struct RowQuantShared {
  double d[32];
  float f[32];
  int i[32];
  RadixTopkShared topk;
};


// Token t's row of `a` (every thread of the block calls): row is [a.n] floats of shared memory.
// quantizer / act: ActivationQuantizer and 0 = ReLU², 1 = SiLU, as ints. write_x: whether this
// block stores x + delta (to a.x_out, or back into a.x when that is null); when several blocks
// compute the same row, one of them does.
template <bool kCoherent>
__device__ void row_quant_block(const RowQuantArgs& a, int quantizer, int act, int64_t t, float* row,
                                RowQuantShared& sh, bool write_x) {
  constexpr int kUnroll = 8;  // row entries whose loads are issued together
  const int n = static_cast<int>(a.n);
  const int threads = static_cast<int>(blockDim.x);
  float* x_out = a.x_out != nullptr ? a.x_out : a.x;
  // The norm's weights are no kernel's output: ask L1 for them now, so that the loads after the
  // sum of squares do not each wait for L2.
  if (a.norm_weight != nullptr) {
    for (int i = static_cast<int>(threadIdx.x) * 32; i < n; i += threads * 32) {
      asm volatile("prefetch.global.L1 [%0];" ::"l"(a.norm_weight + i));
    }
  }

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
        x0[u] = coherent_load<kCoherent>(a.gate + t * a.ld_glu + i);
        x1[u] = coherent_load<kCoherent>(a.up + t * a.ld_glu + i);
      } else {
        x0[u] = coherent_load<kCoherent>(a.x + t * a.ld_x + i);
        if (a.delta != nullptr) x1[u] = coherent_load<kCoherent>(a.delta + t * a.ld_delta + i);
        if (a.delta_acc != nullptr) acc[u] = coherent_load<kCoherent>(a.delta_acc + t * a.ld_acc + i);
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = base + u * threads;
      if (i >= n) continue;
      float v;
      if (a.gate != nullptr) {
        v = __fmul_rn(activate_gate(x0[u], act), x1[u]);
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
          if (write_x) a.delta_acc[t * a.ld_acc + i] = 0;
          v = __fadd_rn(v, d);
          changed = true;
        }
        if ((changed || a.x_out != nullptr) && write_x) x_out[t * a.ld_x + i] = v;
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
    ss = block_sum(ss, sh.d);
    const float variance = static_cast<float>(ss / static_cast<double>(n));
    const float r = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(variance, a.eps)));
    for (int base = static_cast<int>(threadIdx.x); base < n; base += kUnroll * threads) {
      float w[kUnroll];  // loads issued together: one wait per kUnroll entries, not per entry
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int i = base + u * threads;
        w[u] = i < n ? __ldg(a.norm_weight + i) : 0.0f;
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int i = base + u * threads;
        if (i >= n) continue;
        const float v = __fmul_rn(w[u], __fmul_rn(row[i], r));
        row[i] = v;
        if (a.normed != nullptr) a.normed[t * a.ld_normed + i] = v;
      }
    }
  } else if (a.normed != nullptr) {
    for (int i = static_cast<int>(threadIdx.x); i < n; i += threads) a.normed[t * a.ld_normed + i] = row[i];
  }
  if (quantizer == static_cast<int>(ActivationQuantizer::none)) return;
  __syncthreads();
  if (a.keep < a.n) radix_topk_keep_in_place(row, n, static_cast<int>(a.keep), sh.topk, sh.i);

  // The quantizer's scale s (0: the row quantizes to zeros) and step.
  float s = 0.0f, step = 0.0f;
  const int qz = quantizer;
  if (qz == static_cast<int>(ActivationQuantizer::int4_absmean) ||
      qz == static_cast<int>(ActivationQuantizer::int4_absmean_double_beta)) {
    double sa = 0.0;
    for (int i = static_cast<int>(threadIdx.x); i < n; i += threads) sa += fabs(static_cast<double>(row[i]));
    sa = block_sum(sa, sh.d);
    if (sa != 0.0) {
      const float mult = qz == static_cast<int>(ActivationQuantizer::int4_absmean) ? 1.0f : 2.0f;
      const float beta = __fmul_rn(static_cast<float>(sa / static_cast<double>(n)), mult);
      s = __fdiv_rn(__fsqrt_rn(7.0f), fmaxf(beta, kQuantEpsilon));
      step = __fdiv_rn(1.0f, s);
    }
  } else {
    float m = 0.0f;
    for (int i = static_cast<int>(threadIdx.x); i < n; i += threads) m = fmaxf(m, fabsf(row[i]));
    m = block_reduce(m, MaxOp{}, 0.0f, sh.f);
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
  code_sum = block_sum(code_sum, sh.i);
  if (threadIdx.x == 0) {
    a.step[t] = step;
    a.sum[t] = code_sum;
  }
}

}  // namespace a48::cuda
