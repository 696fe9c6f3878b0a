// Block- and warp-level pieces of attention.h's kernels (device code; .cu files only), shared by
// attention.cu's kernels and the fused decode kernel (decode_layers.cu): the post-RoPE absmax
// quantizer of one head, RoPE + quantize + KV-cache store of one head, the cached K/V read-back,
// and one flash-decoding split of one (token, head).
//
// kCoherent: read q and the caches around L1 (coherent_load.cuh): inside one persistent kernel
// other blocks write them.
#pragma once

#include <cstdint>

#include "cuda/common/reduce.cuh"
#include "cuda/infer/attention.h"
#include "cuda/infer/coherent_load.cuh"
#include "quant/quant_common.h"

namespace a48::cuda {

__device__ inline int bits_at(int kv_bits, int position) { return (kv_bits == 3 && position == 0) ? 4 : kv_bits; }

__device__ inline float dequantize(uint8_t u, int levels, float gamma) {
  const double ratio = static_cast<double>(2 * static_cast<int>(u) - levels) / levels;
  return static_cast<float>(static_cast<double>(gamma) * ratio);
}

__device__ inline float warp_max(float v) {
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// Unsigned absmax quantization of one head held in `head` (a warp's shared buffer): codes to
// `codes` (may be null), and the dequantized values back into `head` when `dequantize_back`.
__device__ inline float quantize_head(float* head, int hd, int bits, uint8_t* codes, bool dequantize_back) {
  const int lane = static_cast<int>(threadIdx.x & 31);
  float g = 0.0f;
  for (int i = lane; i < hd; i += 32) g = fmaxf(g, fabsf(head[i]));
  g = warp_max(g);
  const int levels = (1 << bits) - 1;
  if (g < kQuantEpsilon) g = 0.0f;
  const float inv_delta = g == 0.0f ? 0.0f : __fdiv_rn(static_cast<float>(levels), __fmul_rn(2.0f, g));
  for (int i = lane; i < hd; i += 32) {
    uint8_t u = 0;
    if (g != 0.0f) {
      u = static_cast<uint8_t>(fminf(fmaxf(rintf(__fmul_rn(__fadd_rn(head[i], g), inv_delta)), 0.0f),
                                     static_cast<float>(levels)));
    }
    if (codes != nullptr) codes[i] = u;
    if (dequantize_back) head[i] = dequantize(u, levels, g);
  }
  return g;
}


// Work item w of token t (one warp; w < n_heads: query head w, then the K heads, then the V heads):
// RoPE on q/k, q quantized and dequantized in place at the query bits, k written back rotated,
// K/V stored in the token's cache at its position. head: [hd] floats of shared memory.
template <bool kCoherent>
__device__ inline void rope_store_item(float* q, int64_t ld_q, float* k, const float* v, int64_t ld_kv,
                                       const KvSlot& slot, int64_t t, int w, int layer, const AttentionShape& s,
                                       const float* cos_table, const float* sin_table, float* head) {
  const int lane = static_cast<int>(threadIdx.x & 31);
  const int hd = s.head_dim, half = hd / 2;
  const float* c = cos_table + static_cast<int64_t>(slot.position) * half;
  const float* sn = sin_table + static_cast<int64_t>(slot.position) * half;
  const bool is_q = w < s.n_heads, is_k = !is_q && w < s.n_heads + s.n_kv_heads;
  const int g = is_q ? w : (is_k ? w - s.n_heads : w - s.n_heads - s.n_kv_heads);
  float* src = is_q ? q + t * ld_q + g * hd : k + t * ld_kv + g * hd;
  if (!is_q && !is_k) src = const_cast<float*>(v + t * ld_kv + g * hd);
  if (is_q || is_k) {
    for (int i = lane; i < half; i += 32) {
      const float x1 = coherent_load<kCoherent>(src + i), x2 = coherent_load<kCoherent>(src + i + half);
      head[i] = __fadd_rn(__fmul_rn(x1, c[i]), __fmul_rn(-x2, sn[i]));
      head[i + half] = __fadd_rn(__fmul_rn(x2, c[i]), __fmul_rn(x1, sn[i]));
    }
  } else {
    for (int i = lane; i < hd; i += 32) head[i] = coherent_load<kCoherent>(src + i);
  }
  __syncwarp();
  if (is_q) {
    if (s.query_bits != 16) quantize_head(head, hd, s.query_bits, nullptr, true);
    __syncwarp();
    for (int i = lane; i < hd; i += 32) src[i] = head[i];
  } else {
    if (is_k) {
      for (int i = lane; i < hd; i += 32) src[i] = head[i];  // the rotated k (for tests)
    }
    const int64_t index = (static_cast<int64_t>(layer) * slot.capacity + slot.position) * s.n_kv_heads + g;
    if (s.kv_bits == 16) {
      float* dst = static_cast<float*>(is_k ? slot.k : slot.v) + index * hd;
      for (int i = lane; i < hd; i += 32) dst[i] = head[i];
    } else {
      uint8_t* dst = static_cast<uint8_t*>(is_k ? slot.k : slot.v) + index * hd;
      const float gamma = quantize_head(head, hd, bits_at(s.kv_bits, slot.position), dst, false);
      if (lane == 0) (is_k ? slot.k_gamma : slot.v_gamma)[index] = gamma;
    }
  }
  __syncwarp();
}

// Shared memory of the block-level attention pieces.
struct AttentionShared {
  float f[32];
  double d[32];
  double ratios[256 + 16];
  double factor[AttentionWorkspace::kMaxSplits];
  bool last;
};

// (2u - L) / L in double for every code u, [256] at the cache's bits then [16] at the bos's 4 bits
// (the same correctly rounded divisions dequantize() does per element), for cached(). Every
// thread of the block calls; the caller synchronizes the block before use.
__device__ inline void fill_code_ratios(const AttentionShape& s, AttentionShared& sh) {
  if (s.kv_bits == 16) return;
  const int levels = (1 << s.kv_bits) - 1;
  for (int u = static_cast<int>(threadIdx.x); u < 256 + 16; u += static_cast<int>(blockDim.x)) {
    const int l = u < 256 ? levels : 15;
    const int code = u < 256 ? u : u - 256;
    sh.ratios[u] = static_cast<double>(2 * code - l) / l;
  }
}

// The code ratios, and token t's query head h into qh. The caller synchronizes the block before use.
template <bool kCoherent>
__device__ inline void attention_prologue(const float* q, int64_t ld_q, int64_t t, int h, const AttentionShape& s,
                                          float* qh, AttentionShared& sh) {
  const int threads = static_cast<int>(blockDim.x);
  for (int i = static_cast<int>(threadIdx.x); i < s.head_dim; i += threads) {
    qh[i] = coherent_load<kCoherent>(q + t * ld_q + h * s.head_dim + i);
  }
  fill_code_ratios(s, sh);
}

// Element i of cached head (position p, kv head g) of the layer, dequantized through `ratios`.
template <bool kCoherent>
__device__ inline float cached(const void* base, const float* gammas, const double* ratios, const KvSlot& slot,
                               int layer, int p, int g, int i, const AttentionShape& s) {
  const int64_t index = (static_cast<int64_t>(layer) * slot.capacity + p) * s.n_kv_heads + g;
  if (s.kv_bits == 16) return coherent_load<kCoherent>(static_cast<const float*>(base) + index * s.head_dim + i);
  const uint8_t u = coherent_load<kCoherent>(static_cast<const uint8_t*>(base) + index * s.head_dim + i);
  const double ratio = (s.kv_bits == 3 && p == 0) ? ratios[256 + u] : ratios[u];
  return static_cast<float>(static_cast<double>(coherent_load<kCoherent>(gammas + index)) * ratio);
}

// Scores q . k_p * scale of positions p0 .. p0 + count - 1 into scores[0 .. count) (one warp per
// position at a time); the caller synchronizes the block before use.
template <bool kCoherent>
__device__ inline void attention_scores(const float* qh, const KvSlot& slot, int layer, int g, int p0, int count,
                                        float scale, const AttentionShape& s, const AttentionShared& sh,
                                        float* scores) {
  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  const int n_warps = static_cast<int>(blockDim.x >> 5);
  for (int p = warp; p < count; p += n_warps) {
    double dot = 0.0;
    for (int i = lane; i < s.head_dim; i += 32) {
      dot += static_cast<double>(qh[i]) *
             static_cast<double>(cached<kCoherent>(slot.k, slot.k_gamma, sh.ratios, slot, layer, p0 + p, g, i, s));
    }
    for (int off = 16; off > 0; off >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, off);
    if (lane == 0) scores[p] = __fmul_rn(static_cast<float>(dot), scale);
  }
}

// sum over p < count of weights[p] * v[p0 + p][i] in double, in order of p.
template <bool kCoherent>
__device__ inline double weighted_values(const float* weights, const KvSlot& slot, int layer, int p0, int count, int g,
                                         int i, const AttentionShape& s, const AttentionShared& sh) {
  double acc = 0.0;
  for (int p = 0; p < count; ++p) {
    acc += static_cast<double>(weights[p]) *
           static_cast<double>(cached<kCoherent>(slot.v, slot.v_gamma, sh.ratios, slot, layer, p0 + p, g, i, s));
  }
  return acc;
}

// Flash-decoding split j of (token t, head h) (every thread of the block calls): its share of
// the positions (the split depends on the position, read on the device) leaves its max m_j,
// sum_j = sum exp(score - m_j) and acc_j[i] = sum exp(score - m_j) v[i] in `partial`, and the last
// block of (t, h) to arrive combines them: out = sum_j e^(m_j - M) acc_j / sum_j e^(m_j - M) sum_j.
// smem: [hd + ceil(positions / splits)] floats.
template <bool kCoherent>
__device__ inline void split_attention_block(const float* q, int64_t ld_q, const KvSlot& slot, int64_t t, int h,
                                             int j, int layer, const AttentionShape& s, float scale, int splits,
                                             double* partial, uint32_t* counters, float* out, int64_t ld_out,
                                             float* smem, AttentionShared& sh) {
  const int threads = static_cast<int>(blockDim.x);
  const int hd = s.head_dim, g = h / (s.n_heads / s.n_kv_heads), n = slot.position + 1;
  const int chunk = (n + splits - 1) / splits;
  const int p0 = min(n, j * chunk), count = min(n, p0 + chunk) - p0;
  float* qh = smem;
  float* weights = smem + hd;
  attention_prologue<kCoherent>(q, ld_q, t, h, s, qh, sh);
  __syncthreads();
  attention_scores<kCoherent>(qh, slot, layer, g, p0, count, scale, s, sh, weights);
  __syncthreads();
  float m = -INFINITY;
  for (int p = static_cast<int>(threadIdx.x); p < count; p += threads) m = fmaxf(m, weights[p]);
  m = block_reduce(m, MaxOp{}, -INFINITY, sh.f);
  double sum = 0.0;
  for (int p = static_cast<int>(threadIdx.x); p < count; p += threads) {
    const float e = expf(__fsub_rn(weights[p], m));
    weights[p] = e;
    sum += e;
  }
  sum = block_sum(sum, sh.d);  // its barriers also publish the weights
  double* mine = partial + ((t * s.n_heads + h) * splits + j) * (hd + 2);
  for (int i = static_cast<int>(threadIdx.x); i < hd; i += threads) mine[i] = weighted_values<kCoherent>(weights, slot, layer, p0, count, g, i, s, sh);
  if (threadIdx.x == 0) {
    mine[hd] = sum;
    mine[hd + 1] = count > 0 ? static_cast<double>(m) : -INFINITY;
  }
  __threadfence();  // the partials are visible device-wide before the arrival is counted
  __syncthreads();
  uint32_t* counter = counters + t * s.n_heads + h;
  if (threadIdx.x == 0) sh.last = atomicAdd(counter, 1u) == static_cast<uint32_t>(splits - 1);
  __syncthreads();
  if (!sh.last) return;
  __threadfence();
  const double* base = partial + (t * s.n_heads + h) * splits * (hd + 2);
  // e^(m_k - M) once per split (0 for an empty split), then the weighted sums.
  if (threadIdx.x < 32) {
    const int k = static_cast<int>(threadIdx.x);
    const double mk = k < splits ? __ldcg(base + k * (hd + 2) + hd + 1) : -INFINITY;
    double big = mk;
    for (int off = 16; off > 0; off >>= 1) big = fmax(big, __shfl_xor_sync(0xffffffffu, big, off));
    if (k < splits) sh.factor[k] = mk != -INFINITY ? exp(mk - big) : 0.0;
  }
  __syncthreads();
  double total = 0.0;
  for (int k = 0; k < splits; ++k) {
    if (sh.factor[k] != 0.0) total += sh.factor[k] * __ldcg(base + k * (hd + 2) + hd);
  }
  for (int i = static_cast<int>(threadIdx.x); i < hd; i += threads) {
    double acc = 0.0;
    for (int k = 0; k < splits; ++k) {
      if (sh.factor[k] != 0.0) acc += sh.factor[k] * __ldcg(base + k * (hd + 2) + i);
    }
    out[t * ld_out + h * hd + i] = static_cast<float>(acc / total);
  }
  if (threadIdx.x == 0) *counter = 0;  // ready for the next call
}

}  // namespace a48::cuda
