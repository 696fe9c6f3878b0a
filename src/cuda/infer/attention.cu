// RoPE + K/V cache writes and attention over the device caches (attention.h).
#include "cuda/infer/attention.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "cuda/common/check.h"
#include "cuda/common/reduce.cuh"
#include "cuda/infer/pdl_launch.cuh"
#include "quant/quant_common.h"
#include "ref/rope.h"

namespace a48::cuda {

namespace {

constexpr int kStoreWarps = 4;
constexpr int kAttentionThreads = 128;

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

__global__ void __launch_bounds__(kStoreWarps * 32)
    rope_store_kernel(float* q, int64_t ld_q, float* k, const float* v, int64_t ld_kv,
                      const KvSlot* __restrict__ slots, int layer, AttentionShape s,
                      const float* __restrict__ cos_table, const float* __restrict__ sin_table) {
  pdl_wait();  // pdl_launch.cuh: the previous kernel's writes are visible from here on
  pdl_release();
  extern __shared__ float heads[];  // [kStoreWarps, hd]
  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  const int64_t t = blockIdx.x;
  const KvSlot slot = slots[t];
  const int hd = s.head_dim, half = hd / 2;
  float* head = heads + warp * hd;
  const float* c = cos_table + static_cast<int64_t>(slot.position) * half;
  const float* sn = sin_table + static_cast<int64_t>(slot.position) * half;
  const int n_work = s.n_heads + 2 * s.n_kv_heads;
  // blockIdx.y spreads the heads over blocks (at batch 1 one block would do them one after another).
  for (int w = static_cast<int>(blockIdx.y) * kStoreWarps + warp; w < n_work;
       w += static_cast<int>(gridDim.y) * kStoreWarps) {
    const bool is_q = w < s.n_heads, is_k = !is_q && w < s.n_heads + s.n_kv_heads;
    const int g = is_q ? w : (is_k ? w - s.n_heads : w - s.n_heads - s.n_kv_heads);
    float* src = is_q ? q + t * ld_q + g * hd : k + t * ld_kv + g * hd;
    if (!is_q && !is_k) src = const_cast<float*>(v + t * ld_kv + g * hd);
    if (is_q || is_k) {
      for (int i = lane; i < half; i += 32) {
        const float x1 = src[i], x2 = src[i + half];
        head[i] = __fadd_rn(__fmul_rn(x1, c[i]), __fmul_rn(-x2, sn[i]));
        head[i + half] = __fadd_rn(__fmul_rn(x2, c[i]), __fmul_rn(x1, sn[i]));
      }
    } else {
      for (int i = lane; i < hd; i += 32) head[i] = src[i];
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
}

// Element i of cached head (position p, kv head g) of the layer, dequantized through `ratios`:
// (2u - L) / L in double for every code u, [256] at the cache's bits then [16] at the bos's 4 bits,
// built once per block (the same correctly rounded divisions dequantize() does per element).
__device__ inline float cached(const void* base, const float* gammas, const double* ratios, const KvSlot& slot,
                               int layer, int p, int g, int i, const AttentionShape& s) {
  const int64_t index = (static_cast<int64_t>(layer) * slot.capacity + p) * s.n_kv_heads + g;
  if (s.kv_bits == 16) return static_cast<const float*>(base)[index * s.head_dim + i];
  const uint8_t u = static_cast<const uint8_t*>(base)[index * s.head_dim + i];
  const double ratio = (s.kv_bits == 3 && p == 0) ? ratios[256 + u] : ratios[u];
  return static_cast<float>(static_cast<double>(gammas[index]) * ratio);
}

__global__ void __launch_bounds__(kAttentionThreads)
    attention_kernel(const float* __restrict__ q, int64_t ld_q, const KvSlot* __restrict__ slots, int layer,
                     AttentionShape s, float scale, float* __restrict__ out, int64_t ld_out) {
  pdl_wait();  // pdl_launch.cuh: the previous kernel's writes are visible from here on
  pdl_release();
  extern __shared__ float smem[];  // [hd] query, then [position + 1] scores
  __shared__ float fscratch[32];
  __shared__ double dscratch[32];
  __shared__ double ratios[256 + 16];
  const int64_t t = blockIdx.x;
  const int h = static_cast<int>(blockIdx.y);
  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  const int n_warps = kAttentionThreads / 32;
  const KvSlot slot = slots[t];
  const int hd = s.head_dim, g = h / (s.n_heads / s.n_kv_heads), n = slot.position + 1;
  float* qh = smem;
  float* scores = smem + hd;
  for (int i = static_cast<int>(threadIdx.x); i < hd; i += kAttentionThreads) qh[i] = q[t * ld_q + h * hd + i];
  if (s.kv_bits != 16) {
    const int levels = (1 << s.kv_bits) - 1;
    for (int u = static_cast<int>(threadIdx.x); u < 256 + 16; u += kAttentionThreads) {
      const int l = u < 256 ? levels : 15;
      const int code = u < 256 ? u : u - 256;
      ratios[u] = static_cast<double>(2 * code - l) / l;
    }
  }
  __syncthreads();
  for (int p = warp; p < n; p += n_warps) {
    double dot = 0.0;
    for (int i = lane; i < hd; i += 32) {
      dot += static_cast<double>(qh[i]) * static_cast<double>(cached(slot.k, slot.k_gamma, ratios, slot, layer, p, g, i, s));
    }
    for (int off = 16; off > 0; off >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, off);
    if (lane == 0) scores[p] = __fmul_rn(static_cast<float>(dot), scale);
  }
  __syncthreads();
  float m = -INFINITY;
  for (int p = static_cast<int>(threadIdx.x); p < n; p += kAttentionThreads) m = fmaxf(m, scores[p]);
  m = block_reduce(m, MaxOp{}, -INFINITY, fscratch);
  double sum = 0.0;
  for (int p = static_cast<int>(threadIdx.x); p < n; p += kAttentionThreads) sum += expf(__fsub_rn(scores[p], m));
  sum = block_sum(sum, dscratch);
  for (int p = static_cast<int>(threadIdx.x); p < n; p += kAttentionThreads) {
    scores[p] = static_cast<float>(static_cast<double>(expf(__fsub_rn(scores[p], m))) / sum);
  }
  __syncthreads();
  for (int i = static_cast<int>(threadIdx.x); i < hd; i += kAttentionThreads) {
    double acc = 0.0;
    for (int p = 0; p < n; ++p) {
      acc += static_cast<double>(scores[p]) * static_cast<double>(cached(slot.v, slot.v_gamma, ratios, slot, layer, p, g, i, s));
    }
    out[t * ld_out + h * hd + i] = static_cast<float>(acc);
  }
}

// Flash-decoding: block (t, h, j) takes its share of token t's positions (the split depends on the
// position, read on the device), leaves its max m_j, sum_j = sum exp(score - m_j) and
// acc_j[i] = sum exp(score - m_j) v[i] in the workspace, and the last block of (t, h) to arrive
// combines them: out = sum_j e^(m_j - M) acc_j / sum_j e^(m_j - M) sum_j.
__global__ void __launch_bounds__(kAttentionThreads)
    split_attention_kernel(const float* __restrict__ q, int64_t ld_q, const KvSlot* __restrict__ slots, int layer,
                           AttentionShape s, float scale, int splits, double* partial, uint32_t* counters,
                           float* __restrict__ out, int64_t ld_out) {
  pdl_wait();  // pdl_launch.cuh: the previous kernel's writes are visible from here on
  pdl_release();
  extern __shared__ float smem[];  // [hd] query, then this block's weights
  __shared__ float fscratch[32];
  __shared__ double dscratch[32];
  __shared__ double ratios[256 + 16];
  __shared__ bool last;
  const int64_t t = blockIdx.x;
  const int h = static_cast<int>(blockIdx.y), j = static_cast<int>(blockIdx.z);
  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  const int n_warps = kAttentionThreads / 32;
  const KvSlot slot = slots[t];
  const int hd = s.head_dim, g = h / (s.n_heads / s.n_kv_heads), n = slot.position + 1;
  const int chunk = (n + splits - 1) / splits;
  const int p0 = min(n, j * chunk), count = min(n, p0 + chunk) - p0;
  float* qh = smem;
  float* weights = smem + hd;
  for (int i = static_cast<int>(threadIdx.x); i < hd; i += kAttentionThreads) qh[i] = q[t * ld_q + h * hd + i];
  if (s.kv_bits != 16) {
    const int levels = (1 << s.kv_bits) - 1;
    for (int u = static_cast<int>(threadIdx.x); u < 256 + 16; u += kAttentionThreads) {
      const int l = u < 256 ? levels : 15;
      const int code = u < 256 ? u : u - 256;
      ratios[u] = static_cast<double>(2 * code - l) / l;
    }
  }
  __syncthreads();
  for (int p = warp; p < count; p += n_warps) {
    double dot = 0.0;
    for (int i = lane; i < hd; i += 32) {
      dot += static_cast<double>(qh[i]) *
             static_cast<double>(cached(slot.k, slot.k_gamma, ratios, slot, layer, p0 + p, g, i, s));
    }
    for (int off = 16; off > 0; off >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, off);
    if (lane == 0) weights[p] = __fmul_rn(static_cast<float>(dot), scale);
  }
  __syncthreads();
  float m = -INFINITY;
  for (int p = static_cast<int>(threadIdx.x); p < count; p += kAttentionThreads) m = fmaxf(m, weights[p]);
  m = block_reduce(m, MaxOp{}, -INFINITY, fscratch);
  double sum = 0.0;
  for (int p = static_cast<int>(threadIdx.x); p < count; p += kAttentionThreads) {
    const float e = expf(__fsub_rn(weights[p], m));
    weights[p] = e;
    sum += e;
  }
  sum = block_sum(sum, dscratch);  // its barriers also publish the weights
  double* mine = partial + ((t * s.n_heads + h) * splits + j) * (hd + 2);
  for (int i = static_cast<int>(threadIdx.x); i < hd; i += kAttentionThreads) {
    double acc = 0.0;
    for (int p = 0; p < count; ++p) {
      acc += static_cast<double>(weights[p]) *
             static_cast<double>(cached(slot.v, slot.v_gamma, ratios, slot, layer, p0 + p, g, i, s));
    }
    mine[i] = acc;
  }
  if (threadIdx.x == 0) {
    mine[hd] = sum;
    mine[hd + 1] = count > 0 ? static_cast<double>(m) : -INFINITY;
  }
  __threadfence();  // the partials are visible device-wide before the arrival is counted
  __syncthreads();
  uint32_t* counter = counters + t * s.n_heads + h;
  if (threadIdx.x == 0) last = atomicAdd(counter, 1u) == static_cast<uint32_t>(splits - 1);
  __syncthreads();
  if (!last) return;
  __threadfence();
  const double* base = partial + (t * s.n_heads + h) * splits * (hd + 2);
  double big = -INFINITY;
  for (int k = 0; k < splits; ++k) big = fmax(big, __ldcg(base + k * (hd + 2) + hd + 1));
  double total = 0.0;
  for (int k = 0; k < splits; ++k) {
    const double mk = __ldcg(base + k * (hd + 2) + hd + 1);
    if (mk != -INFINITY) total += exp(mk - big) * __ldcg(base + k * (hd + 2) + hd);
  }
  for (int i = static_cast<int>(threadIdx.x); i < hd; i += kAttentionThreads) {
    double acc = 0.0;
    for (int k = 0; k < splits; ++k) {
      const double mk = __ldcg(base + k * (hd + 2) + hd + 1);
      if (mk != -INFINITY) acc += exp(mk - big) * __ldcg(base + k * (hd + 2) + i);
    }
    out[t * ld_out + h * hd + i] = static_cast<float>(acc / total);
  }
  if (threadIdx.x == 0) *counter = 0;  // ready for the next call
}

void check_shape(const AttentionShape& s) {
  check(s.n_heads > 0 && s.n_kv_heads > 0 && s.n_heads % s.n_kv_heads == 0 && s.head_dim > 0 &&
            s.head_dim % 2 == 0 && s.n_layers > 0,
        "attention: bad shape (H {}, H_kv {}, hd {}, L {})", s.n_heads, s.n_kv_heads, s.head_dim, s.n_layers);
  check(s.kv_bits == 16 || (s.kv_bits >= 2 && s.kv_bits <= 8), "attention: kv bits {}", s.kv_bits);
  check(s.query_bits == 16 || (s.query_bits >= 2 && s.query_bits <= 8), "attention: query bits {}", s.query_bits);
}

}  // namespace

void rope_tables(int64_t head_dim, double theta, int64_t max_positions, std::vector<float>& cos_table,
                 std::vector<float>& sin_table) {
  const std::vector<float> inv_freq = ref::rope_inv_freq(head_dim, theta);
  const int64_t half = head_dim / 2;
  cos_table.assign(static_cast<std::size_t>(max_positions * half), 0.0f);
  sin_table.assign(cos_table.size(), 0.0f);
  for (int64_t p = 0; p < max_positions; ++p) {
    const float pos = static_cast<float>(p);
    for (int64_t i = 0; i < half; ++i) {
      const float freq = inv_freq[static_cast<std::size_t>(i)] * pos;
      cos_table[static_cast<std::size_t>(p * half + i)] = std::cos(freq);
      sin_table[static_cast<std::size_t>(p * half + i)] = std::sin(freq);
    }
  }
}

void rope_store_kv(float* q, int64_t ld_q, float* k, const float* v, int64_t ld_kv, const KvSlot* slots,
                   int64_t n_tokens, int layer, const AttentionShape& shape, const float* cos_table,
                   const float* sin_table, cudaStream_t stream) {
  check_shape(shape);
  check(n_tokens > 0 && layer >= 0 && layer < shape.n_layers, "rope_store_kv: {} tokens, layer {}", n_tokens,
        layer);
  const std::size_t smem = static_cast<std::size_t>(kStoreWarps * shape.head_dim) * sizeof(float);
  const int n_work = shape.n_heads + 2 * shape.n_kv_heads;
  const dim3 grid(static_cast<unsigned>(n_tokens), static_cast<unsigned>((n_work + kStoreWarps - 1) / kStoreWarps));
  launch_pdl(rope_store_kernel, grid, dim3(kStoreWarps * 32), smem, stream,
      q, ld_q, k, v, ld_kv, slots, layer, shape, cos_table, sin_table);
  CUDA_CHECK_LAUNCH();
}

AttentionWorkspace::AttentionWorkspace(const AttentionShape& shape, int64_t tokens)
    : max_tokens(tokens), n_heads(shape.n_heads), head_dim(shape.head_dim) {
  check_shape(shape);
  check(tokens > 0 && tokens <= 4096, "attention workspace: {} tokens (1 to 4096)", tokens);
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, device));
  partial = DeviceBuffer<double>(static_cast<std::size_t>(tokens * n_heads * kMaxSplits * (head_dim + 2)));
  counters = DeviceBuffer<uint32_t>(static_cast<std::size_t>(tokens * n_heads));
  counters.fill_bytes(0);
  CUDA_CHECK(cudaDeviceSynchronize());
}

int AttentionWorkspace::splits(int64_t n_tokens) const {
  // About two blocks per SM over all (token, head) pairs.
  const int64_t pairs = n_tokens * n_heads;
  return static_cast<int>(std::clamp<int64_t>((2 * sm_count + pairs - 1) / pairs, 1, kMaxSplits));
}

void attention(const float* q, int64_t ld_q, const KvSlot* slots, int64_t n_tokens, int layer,
               const AttentionShape& shape, int64_t max_positions, float* out, int64_t ld_out,
               cudaStream_t stream, AttentionWorkspace* workspace) {
  check_shape(shape);
  check(n_tokens > 0 && n_tokens <= 65535 && layer >= 0 && layer < shape.n_layers && max_positions > 0,
        "attention: {} tokens, layer {}, max positions {}", n_tokens, layer, max_positions);
  const std::size_t smem = static_cast<std::size_t>(shape.head_dim + max_positions) * sizeof(float);
  check(smem <= 227 * 1024, "attention: {} positions do not fit shared memory", max_positions);
  if (smem > 48 * 1024) {
    CUDA_CHECK(cudaFuncSetAttribute(attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(smem)));
  }
  const float scale = static_cast<float>(std::pow(static_cast<double>(shape.head_dim), -0.5));
  const int splits = workspace != nullptr && n_tokens <= workspace->max_tokens ? workspace->splits(n_tokens) : 1;
  if (splits > 1) {
    check(workspace->n_heads == shape.n_heads && workspace->head_dim == shape.head_dim,
          "attention: the workspace was made for {} heads of {}, not {} of {}", workspace->n_heads,
          workspace->head_dim, shape.n_heads, shape.head_dim);
    const std::size_t split_smem =
        static_cast<std::size_t>(shape.head_dim + (max_positions + splits - 1) / splits) * sizeof(float);
    if (split_smem > 48 * 1024) {
      CUDA_CHECK(cudaFuncSetAttribute(split_attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      static_cast<int>(split_smem)));
    }
    const dim3 split_grid(static_cast<unsigned>(n_tokens), static_cast<unsigned>(shape.n_heads),
                          static_cast<unsigned>(splits));
    launch_pdl(split_attention_kernel, split_grid, dim3(kAttentionThreads), split_smem, stream,
        q, ld_q, slots, layer, shape, scale, splits, workspace->partial.data(), workspace->counters.data(), out,
        ld_out);
    CUDA_CHECK_LAUNCH();
    return;
  }
  const dim3 grid(static_cast<unsigned>(n_tokens), static_cast<unsigned>(shape.n_heads));
  launch_pdl(attention_kernel, grid, dim3(kAttentionThreads), smem, stream, q, ld_q, slots, layer, shape, scale, out, ld_out);
  CUDA_CHECK_LAUNCH();
}

}  // namespace a48::cuda
