// RoPE + K/V cache writes and attention over the device caches (attention.h).
#include "cuda/infer/attention.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "cuda/common/check.h"
#include "cuda/common/kernel_attributes.h"
#include "cuda/common/reduce.cuh"
#include "cuda/infer/attention_block.cuh"
#include "cuda/infer/pdl_launch.cuh"
#include "ref/rope.h"

namespace a48::cuda {

namespace {

constexpr int kStoreWarps = 4;
// The split (decode) kernel's block size is the persistent decode kernel's (decode_layers.cu): the
// softmax sums are block reductions whose order depends on the block size, so both paths then sum
// alike. The one-block (prefill) kernel keeps 128 threads: its output loop has head_dim entries.
constexpr int kAttentionThreads = 128;
constexpr int kSplitThreads = 512;

__global__ void __launch_bounds__(kStoreWarps * 32)
    rope_store_kernel(float* q, int64_t ld_q, float* k, const float* v, int64_t ld_kv,
                      const KvSlot* __restrict__ slots, int layer, AttentionShape s,
                      const float* __restrict__ cos_table, const float* __restrict__ sin_table) {
  pdl_wait();  // pdl_launch.cuh: the previous kernel's writes are visible from here on
  pdl_release();
  extern __shared__ float heads[];  // [kStoreWarps, hd]
  const int warp = static_cast<int>(threadIdx.x >> 5);
  const int64_t t = blockIdx.x;
  const KvSlot slot = slots[t];
  const int n_work = s.n_heads + 2 * s.n_kv_heads;
  // blockIdx.y spreads the heads over blocks (at batch 1 one block would do them one after another).
  for (int w = static_cast<int>(blockIdx.y) * kStoreWarps + warp; w < n_work;
       w += static_cast<int>(gridDim.y) * kStoreWarps) {
    rope_store_item<false>(q, ld_q, k, v, ld_kv, slot, t, w, layer, s, cos_table, sin_table,
                           heads + warp * s.head_dim);
  }
}

__global__ void __launch_bounds__(kAttentionThreads)
    attention_kernel(const float* __restrict__ q, int64_t ld_q, const KvSlot* __restrict__ slots, int layer,
                     AttentionShape s, float scale, float* __restrict__ out, int64_t ld_out) {
  pdl_wait();  // pdl_launch.cuh: the previous kernel's writes are visible from here on
  pdl_release();
  extern __shared__ float smem[];  // [hd] query, then [position + 1] scores
  __shared__ AttentionShared sh;
  const int64_t t = blockIdx.x;
  const int h = static_cast<int>(blockIdx.y);
  const KvSlot slot = slots[t];
  const int hd = s.head_dim, g = h / (s.n_heads / s.n_kv_heads), n = slot.position + 1;
  float* qh = smem;
  float* scores = smem + hd;
  attention_prologue<false>(q, ld_q, t, h, s, qh, sh);
  __syncthreads();
  attention_scores<false>(qh, slot, layer, g, 0, n, scale, s, sh, scores);
  __syncthreads();
  float m = -INFINITY;
  for (int p = static_cast<int>(threadIdx.x); p < n; p += kAttentionThreads) m = fmaxf(m, scores[p]);
  m = block_reduce(m, MaxOp{}, -INFINITY, sh.f);
  double sum = 0.0;
  for (int p = static_cast<int>(threadIdx.x); p < n; p += kAttentionThreads) sum += expf(__fsub_rn(scores[p], m));
  sum = block_sum(sum, sh.d);
  for (int p = static_cast<int>(threadIdx.x); p < n; p += kAttentionThreads) {
    scores[p] = static_cast<float>(static_cast<double>(expf(__fsub_rn(scores[p], m))) / sum);
  }
  __syncthreads();
  for (int i = static_cast<int>(threadIdx.x); i < hd; i += kAttentionThreads) {
    out[t * ld_out + h * hd + i] = static_cast<float>(weighted_values<false>(scores, slot, layer, 0, n, g, i, s, sh));
  }
}

// Flash-decoding (attention_block.cuh): block (t, h, j) is split j of token t's head h.
__global__ void __launch_bounds__(kSplitThreads)
    split_attention_kernel(const float* __restrict__ q, int64_t ld_q, const KvSlot* __restrict__ slots, int layer,
                           AttentionShape s, float scale, int splits, double* partial, uint32_t* counters,
                           float* __restrict__ out, int64_t ld_out) {
  pdl_wait();  // pdl_launch.cuh: the previous kernel's writes are visible from here on
  pdl_release();
  extern __shared__ float smem[];  // [hd] query, then this block's weights
  __shared__ AttentionShared sh;
  const int64_t t = blockIdx.x;
  split_attention_block<false>(q, ld_q, slots[t], t, static_cast<int>(blockIdx.y), static_cast<int>(blockIdx.z),
                               layer, s, scale, splits, partial, counters, out, ld_out, smem, sh);
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
  // About one block per SM over all (token, head) pairs, not more: the persistent decode kernel
  // (decode_layers.cu) runs one block per SM and uses the same count.
  const int64_t pairs = n_tokens * n_heads;
  return static_cast<int>(std::clamp<int64_t>(sm_count / pairs, 1, kMaxSplits));
}

void attention(const float* q, int64_t ld_q, const KvSlot* slots, int64_t n_tokens, int layer,
               const AttentionShape& shape, int64_t max_positions, float* out, int64_t ld_out,
               cudaStream_t stream, AttentionWorkspace* workspace) {
  check_shape(shape);
  check(n_tokens > 0 && n_tokens <= 65535 && layer >= 0 && layer < shape.n_layers && max_positions > 0,
        "attention: {} tokens, layer {}, max positions {}", n_tokens, layer, max_positions);
  const std::size_t smem = static_cast<std::size_t>(shape.head_dim + max_positions) * sizeof(float);
  check(smem <= 227 * 1024, "attention: {} positions do not fit shared memory", max_positions);
  allow_dynamic_smem(attention_kernel, smem);
  const float scale = static_cast<float>(std::pow(static_cast<double>(shape.head_dim), -0.5));
  const int splits = workspace != nullptr && n_tokens <= workspace->max_tokens ? workspace->splits(n_tokens) : 1;
  if (splits > 1) {
    check(workspace->n_heads == shape.n_heads && workspace->head_dim == shape.head_dim,
          "attention: the workspace was made for {} heads of {}, not {} of {}", workspace->n_heads,
          workspace->head_dim, shape.n_heads, shape.head_dim);
    const std::size_t split_smem =
        static_cast<std::size_t>(shape.head_dim + (max_positions + splits - 1) / splits) * sizeof(float);
    allow_dynamic_smem(split_attention_kernel, split_smem);
    const dim3 split_grid(static_cast<unsigned>(n_tokens), static_cast<unsigned>(shape.n_heads),
                          static_cast<unsigned>(splits));
    launch_pdl(split_attention_kernel, split_grid, dim3(kSplitThreads), split_smem, stream,
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
