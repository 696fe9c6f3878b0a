// The persistent decode kernel (decode_layers.h).
#include "cuda/infer/decode_layers.h"

#include <cuda/atomic>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "cuda/common/check.h"
#include "cuda/common/kernel_attributes.h"
#include "cuda/infer/attention_block.cuh"
#include "cuda/infer/dp4a_rows.cuh"
#include "cuda/infer/packed_ternary.h"
#include "cuda/infer/pdl_launch.cuh"
#include "cuda/infer/row_quant_block.cuh"
#include "model/activation_scheme.h"

namespace a48::cuda {

namespace {

// One block of 512 threads per SM: every block redoes the row passes (the price of no barrier
// between a row pass and its projection), so fewer, wider blocks do less of it, and faster.
constexpr int kThreads = 512;  // >= 256: the top-K's histogram
constexpr int kWarps = kThreads / 32;
constexpr int kRowsPerWarp = 2;

// All blocks of the grid meet here; writes before it are visible to every block after it (reads
// of other blocks' data go around L1: coherent_load.cuh). bar[0] counts the
// arrivals, bar[1] is the generation the last arrival advances; both return to a reusable state.
__device__ inline void grid_barrier(uint32_t* bar) {
  __syncthreads();
  if (threadIdx.x == 0) {
    ::cuda::atomic_ref<uint32_t, ::cuda::thread_scope_device> count(bar[0]), generation(bar[1]);
    const uint32_t gen = generation.load(::cuda::memory_order_acquire);
    if (count.fetch_add(1u, ::cuda::memory_order_acq_rel) == gridDim.x - 1) {
      count.store(0u, ::cuda::memory_order_relaxed);
      generation.store(gen + 1u, ::cuda::memory_order_release);
    } else {
      while (generation.load(::cuda::memory_order_acquire) == gen) __nanosleep(20);
    }
  }
  __syncthreads();
}

// This warp's rows of `s` (rows gwarp * R, + stride, ...) asked of L2.
__device__ inline void prefetch_rows(const RowSegments& s, int gwarp, int n_gwarps, int lane) {
  for (int row0 = gwarp * kRowsPerWarp; row0 < s.n_rows; row0 += n_gwarps * kRowsPerWarp) {
    for (int r = 0; r < kRowsPerWarp && row0 + r < s.n_rows; ++r) {
      const int row = row0 + r;
      const int seg = row < s.end[0] ? 0 : (row < s.end[1] ? 1 : 2);
      const int local = row - (seg == 0 ? 0 : s.end[seg - 1]);
      warp_prefetch_l2(s.w[seg] + static_cast<int64_t>(local) * s.words_per_line, s.words_per_line * 4, lane);
    }
  }
}

__device__ inline void stamp(uint64_t* clock, int index) {
  if (clock == nullptr || blockIdx.x != 0 || threadIdx.x != 0) return;
  uint64_t now;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  clock[index] = now;
}

__device__ inline int padded(int n) { return (n + 63) / 64 * 64; }

__device__ inline RowSegments one_matrix(const uint32_t* w, float alpha, int n_out, int n_in, float* y, int64_t ld_y) {
  RowSegments s{};
  for (int i = 0; i < 3; ++i) {
    s.w[i] = w;
    s.end[i] = n_out;
    s.alpha[i] = alpha;
    s.y[i] = y;
    s.ld_y[i] = ld_y;
  }
  s.n_rows = n_out;
  s.words_per_line = padded(n_in) / 16;
  return s;
}

__device__ inline RowSegments qkv_matrices(const DecodeLayerWeights& L, const DecodeLayersArgs& p, int qs, int kv) {
  RowSegments s{};
  s.w[0] = L.q;
  s.w[1] = L.k;
  s.w[2] = L.v;
  s.end[0] = qs;
  s.end[1] = qs + kv;
  s.end[2] = qs + 2 * kv;
  s.alpha[0] = L.q_scale;
  s.alpha[1] = L.k_scale;
  s.alpha[2] = L.v_scale;
  s.y[0] = p.q;
  s.y[1] = p.k;
  s.y[2] = p.v;
  s.ld_y[0] = qs;
  s.ld_y[1] = kv;
  s.ld_y[2] = kv;
  s.n_rows = qs + 2 * kv;
  s.words_per_line = padded(p.d) / 16;
  return s;
}

// The pieces of a phase (inlined: out of line, the calls' argument passing through local memory
// made the step ~20% slower on the H100).
__device__ __forceinline__ void row_pass(const RowQuantArgs& a, int quantizer, int act, int t, float* row,
                                      RowQuantShared& sh, bool write_x) {
  row_quant_block<true>(a, quantizer, act, t, row, sh, write_x);
}

template <int T>
__device__ __forceinline__ void rows_of_grid(const RowSegments& s, int gwarp, int n_gwarps, int lane, const int8_t* codes,
                                          int64_t ld, const float* steps, const int32_t* sums, int n_tokens, int act) {
  for (int row0 = gwarp * kRowsPerWarp; row0 < s.n_rows; row0 += n_gwarps * kRowsPerWarp) {
    rows_warp<kRowsPerWarp, T, false>(s, row0, lane, codes, ld, steps, sums, 0, n_tokens, nullptr, 0, act);
  }
}

template <int T>
__device__ __forceinline__ void glu_of_grid(const GluRows& g, int gwarp, int n_gwarps, int lane, const int8_t* codes,
                                         int64_t ld, const float* steps, const int32_t* sums, int n_tokens, int act) {
  for (int row0 = gwarp * kRowsPerWarp; row0 < g.n_rows; row0 += n_gwarps * kRowsPerWarp) {
    glu_warp<kRowsPerWarp, T, false>(g, row0, lane, codes, ld, steps, sums, 0, n_tokens, act);
  }
}

__device__ __forceinline__ void rope_store_of_grid(const DecodeLayersArgs& p, int layer, int gwarp, int n_gwarps,
                                                float* head) {
  const AttentionShape& s = p.shape;
  const int qs = s.n_heads * s.head_dim, kv = s.n_kv_heads * s.head_dim;
  const int n_work = s.n_heads + 2 * s.n_kv_heads;
  for (int item = gwarp; item < p.n_tokens * n_work; item += n_gwarps) {
    const int t = item / n_work;
    rope_store_item<true>(p.q, qs, p.k, p.v, kv, p.slots[t], t, item % n_work, layer, s, p.cos_table, p.sin_table,
                          head);
  }
}

__device__ __forceinline__ void attention_of_grid(const DecodeLayersArgs& p, int layer, float scale, int splits,
                                               double* partial, uint32_t* counters, float* smem,
                                               AttentionShared& sh) {
  const AttentionShape& s = p.shape;
  const int qs = s.n_heads * s.head_dim;
  for (int unit = static_cast<int>(blockIdx.x); unit < p.n_tokens * s.n_heads * splits;
       unit += static_cast<int>(gridDim.x)) {
    const int t = unit / (s.n_heads * splits), h = (unit / splits) % s.n_heads, j = unit % splits;
    split_attention_block<true>(p.q, qs, p.slots[t], t, h, j, layer, s, scale, splits, partial, counters, p.attn, qs,
                                smem, sh);
    __syncthreads();
  }
}

// The row pass of one projection input: rows x [T, n] (stride n), RMSNorm weights, top-K count.
__device__ inline RowQuantArgs row_input(float* x, int n, const float* norm, float eps, int keep) {
  RowQuantArgs a;
  a.n = n;
  a.x = x;
  a.ld_x = n;
  a.norm_weight = norm;
  a.eps = eps;
  a.keep = keep;
  return a;
}

// ... of the residual stream: x + delta (no delta: x), stored to x_out by the writer block.
__device__ inline RowQuantArgs residual_input(float* x, const float* delta, float* x_out, int n, const float* norm,
                                              float eps) {
  RowQuantArgs a = row_input(x, n, norm, eps, n);
  a.x_out = x_out;
  a.delta = delta;
  a.ld_delta = n;
  return a;
}

// What the kernel gets beside the arguments: the attention workspace's device buffers (the
// arguments hold the host object), the split count and the score scale (hd^-0.5 as the host's pow
// rounds it, like attention.cu).
struct KernelExtras {
  double* partial;
  uint32_t* counters;
  int splits;
  float scale;
};

template <int T>
__global__ void __launch_bounds__(kThreads, 1) decode_layers_kernel(DecodeLayersArgs p, KernelExtras extras) {
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ float steps[T];
  __shared__ int32_t sums[T];
  __shared__ RowQuantShared row_shared;
  __shared__ AttentionShared attention_shared;
  const AttentionShape& s = p.shape;
  const int hd = s.head_dim, qs = s.n_heads * hd, kv = s.n_kv_heads * hd;
  const int row_floats = max(max(p.d, p.f), max(qs, hd + (p.max_positions + extras.splits - 1) / extras.splits));
  float* row = reinterpret_cast<float*>(smem);
  int8_t* codes = reinterpret_cast<int8_t*>(smem + padded(max(row_floats, kWarps * hd)) * sizeof(float));
  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  const int gwarp = static_cast<int>(blockIdx.x) * kWarps + warp, n_gwarps = static_cast<int>(gridDim.x) * kWarps;
  const int n_tokens = p.n_tokens;
  const bool writer = blockIdx.x == 0;  // the block that stores the residual stream
  const int splits = extras.splits;

  prefetch_rows(qkv_matrices(p.layers[0], p, qs, kv), gwarp, n_gwarps, lane);
  pdl_wait();  // pdl_launch.cuh: the previous kernel's writes are visible from here on
  pdl_release();
  stamp(p.phase_clock, 0);

  // Every block's row pass of one projection input for all tokens, then a block barrier.
  auto codes_of = [&](RowQuantArgs a, int quantizer, bool write_x) {
    a.n_tokens = n_tokens;
    a.quantizer = static_cast<ActivationQuantizer>(quantizer);
    a.q = codes;
    a.ld_q = padded(static_cast<int>(a.n));
    a.step = steps;
    a.sum = sums;
    for (int t = 0; t < n_tokens; ++t) row_pass(a, quantizer, p.act, t, row, row_shared, write_x);
    __syncthreads();
    return static_cast<int64_t>(a.ld_q);
  };

  for (int l = 0; l < s.n_layers; ++l) {
    const DecodeLayerWeights L = p.layers[l];
    const RowSegments o_rows = one_matrix(L.o, L.o_scale, p.d, qs, p.delta_o, p.d);
    const RowSegments down_rows = one_matrix(L.down, L.down_scale, p.d, p.f, p.delta_d, p.d);
    const GluRows glu{L.gate, L.up, L.gate_scale, L.up_scale, p.f, padded(p.d) / 16, p.gate, p.up, p.f};

    // A: x_b = x_a + delta_d; RMSNorm; codes; q/k/v.
    prefetch_rows(o_rows, gwarp, n_gwarps, lane);
    {
      const RowQuantArgs a = residual_input(p.x_a, l > 0 ? p.delta_d : nullptr, p.x_b, p.d, L.attn_norm, p.eps);
      const int64_t ld = codes_of(a, p.quantizer_qkv, writer);
      const RowSegments qkv = qkv_matrices(L, p, qs, kv);
      rows_of_grid<T>(qkv, gwarp, n_gwarps, lane, codes, ld, steps, sums, n_tokens, p.act);
    }
    stamp(p.phase_clock, 1 + l * kDecodePhaseStamps + 0);
    grid_barrier(p.barrier);
    stamp(p.phase_clock, 1 + l * kDecodePhaseStamps + 1);

    // B: RoPE, query quantization, K/V store.
    rope_store_of_grid(p, l, gwarp, n_gwarps, row + warp * hd);
    stamp(p.phase_clock, 1 + l * kDecodePhaseStamps + 2);
    grid_barrier(p.barrier);
    stamp(p.phase_clock, 1 + l * kDecodePhaseStamps + 3);

    // C: attention, one block per (token, head, split).
    attention_of_grid(p, l, extras.scale, splits, extras.partial, extras.counters, row, attention_shared);
    stamp(p.phase_clock, 1 + l * kDecodePhaseStamps + 4);
    grid_barrier(p.barrier);
    stamp(p.phase_clock, 1 + l * kDecodePhaseStamps + 5);

    // D: sub-norm, top-K, codes of the attention output; o_proj.
    prefetch_rows(one_matrix(L.gate, 0, p.f, p.d, nullptr, 0), gwarp, n_gwarps, lane);
    prefetch_rows(one_matrix(L.up, 0, p.f, p.d, nullptr, 0), gwarp, n_gwarps, lane);
    {
      const RowQuantArgs a = row_input(p.attn, qs, L.attn_sub_norm, p.eps, p.keep_out);
      const int64_t ld = codes_of(a, p.quantizer_out, false);
      rows_of_grid<T>(o_rows, gwarp, n_gwarps, lane, codes, ld, steps, sums, n_tokens, p.act);
    }
    stamp(p.phase_clock, 1 + l * kDecodePhaseStamps + 6);
    grid_barrier(p.barrier);
    stamp(p.phase_clock, 1 + l * kDecodePhaseStamps + 7);

    // E: x_a = x_b + delta_o; RMSNorm; codes; gate, then up on the active gate channels.
    prefetch_rows(down_rows, gwarp, n_gwarps, lane);
    {
      const RowQuantArgs a = residual_input(p.x_b, p.delta_o, p.x_a, p.d, L.ffn_norm, p.eps);
      const int64_t ld = codes_of(a, p.quantizer_gate_up, writer);
      glu_of_grid<T>(glu, gwarp, n_gwarps, lane, codes, ld, steps, sums, n_tokens, p.act);
    }
    stamp(p.phase_clock, 1 + l * kDecodePhaseStamps + 8);
    grid_barrier(p.barrier);
    stamp(p.phase_clock, 1 + l * kDecodePhaseStamps + 9);

    // F: ReLU²GLU, sub-norm, codes; down_proj.
    if (l + 1 < s.n_layers) prefetch_rows(qkv_matrices(p.layers[l + 1], p, qs, kv), gwarp, n_gwarps, lane);
    {
      RowQuantArgs a = row_input(nullptr, p.f, L.ffn_sub_norm, p.eps, p.keep_down);
      a.gate = p.gate;
      a.up = p.up;
      a.ld_glu = p.f;
      const int64_t ld = codes_of(a, p.quantizer_down, false);
      rows_of_grid<T>(down_rows, gwarp, n_gwarps, lane, codes, ld, steps, sums, n_tokens, p.act);
    }
    stamp(p.phase_clock, 1 + l * kDecodePhaseStamps + 10);
    grid_barrier(p.barrier);
    stamp(p.phase_clock, 1 + l * kDecodePhaseStamps + 11);
  }
}

struct Launch {
  int grid = 0;
  std::size_t smem = 0;
  int splits = 1;
};

template <int T>
Launch launch_shape(const DecodeLayersArgs& p) {
  const AttentionShape& s = p.shape;
  const int hd = s.head_dim, qs = s.n_heads * hd;
  int device = 0, sms = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  auto smem_for = [&](int splits) {
    const int row_floats = std::max({p.d, p.f, qs, hd + (p.max_positions + splits - 1) / splits, kWarps * hd});
    const auto pad = [](int n) { return (n + 63) / 64 * 64; };
    return static_cast<std::size_t>(pad(row_floats)) * sizeof(float) +
           static_cast<std::size_t>(T) * static_cast<std::size_t>(pad(std::max({p.d, p.f, qs})));
  };
  Launch launch;
  // Co-residency bounds the grid: every block must be resident for the grid barriers. The
  // splits, and with them the shared memory, depend on the grid; two rounds settle them.
  launch.smem = smem_for(1);
  for (int round = 0; round < 2; ++round) {
    allow_dynamic_smem(decode_layers_kernel<T>, launch.smem);
    int per_sm = 0;
    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, decode_layers_kernel<T>, kThreads, launch.smem));
    check(per_sm > 0, "decode_layers: {} bytes of shared memory per block do not fit an SM", launch.smem);
    launch.grid = per_sm * sms;
    // The kernel-by-kernel path's split count: with the same block size its attention sums alike.
    launch.splits = p.workspace->splits(p.n_tokens);
    launch.smem = std::min(smem_for(launch.splits), launch.smem);
  }
  return launch;
}

template <int T>
void launch(const DecodeLayersArgs& p, cudaStream_t stream) {
  const Launch shape = launch_shape<T>(p);
  const KernelExtras extras{p.workspace->partial.data(), p.workspace->counters.data(), shape.splits,
                            static_cast<float>(std::pow(static_cast<double>(p.shape.head_dim), -0.5))};
  launch_pdl(decode_layers_kernel<T>, dim3(static_cast<unsigned>(shape.grid)), dim3(kThreads), shape.smem, stream, p,
             extras);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void decode_layers(const DecodeLayersArgs& p, cudaStream_t stream) {
  const AttentionShape& s = p.shape;
  check(p.n_tokens >= 1 && p.n_tokens <= kDecodeMaxTokens, "decode_layers: {} tokens (1 to {})", p.n_tokens,
        kDecodeMaxTokens);
  check(p.d > 0 && p.f > 0 && s.n_layers > 0 && s.n_heads > 0 && s.n_kv_heads > 0 && s.head_dim > 0 &&
            s.n_heads % s.n_kv_heads == 0 && s.head_dim % 2 == 0,
        "decode_layers: bad shape (d {}, f {}, L {}, H {}, H_kv {}, hd {})", p.d, p.f, s.n_layers, s.n_heads,
        s.n_kv_heads, s.head_dim);
  check(p.layers != nullptr && p.x_a != nullptr && p.x_b != nullptr && p.delta_d != nullptr && p.q != nullptr &&
            p.k != nullptr && p.v != nullptr && p.attn != nullptr && p.delta_o != nullptr && p.gate != nullptr &&
            p.up != nullptr && p.slots != nullptr && p.cos_table != nullptr && p.sin_table != nullptr &&
            p.barrier != nullptr,
        "decode_layers: a buffer is missing");
  check(p.workspace != nullptr && p.workspace->max_tokens >= p.n_tokens && p.workspace->n_heads == s.n_heads &&
            p.workspace->head_dim == s.head_dim,
        "decode_layers: the attention workspace does not fit {} tokens of {} heads", p.n_tokens, s.n_heads);
  check(p.keep_out >= 0 && p.keep_out <= s.n_heads * s.head_dim && p.keep_down >= 0 && p.keep_down <= p.f &&
            p.max_positions > 0,
        "decode_layers: keep counts {} / {} or max positions {} out of range", p.keep_out, p.keep_down,
        p.max_positions);
  for (int quantizer : {p.quantizer_qkv, p.quantizer_out, p.quantizer_gate_up, p.quantizer_down}) {
    check(quantizer != static_cast<int>(ActivationQuantizer::none), "decode_layers: an unquantized projection input");
  }
  if (p.n_tokens == 1) {
    launch<1>(p, stream);
  } else if (p.n_tokens == 2) {
    launch<2>(p, stream);
  } else if (p.n_tokens <= 4) {
    launch<4>(p, stream);
  } else {
    launch<8>(p, stream);
  }
}

}  // namespace a48::cuda
