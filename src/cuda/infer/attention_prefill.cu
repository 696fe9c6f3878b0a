// Tiled prefill attention (attention_prefill.h).
#include "cuda/infer/attention_prefill.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "cuda/common/check.h"
#include "cuda/common/kernel_attributes.h"
#include "cuda/infer/attention_block.cuh"
#include "cuda/infer/pdl_launch.cuh"

namespace a48::cuda {

namespace {

constexpr int kRows = 64;     // query rows per block
constexpr int kChunk = 32;    // positions per chunk
constexpr int kThreads = 256; // 4 threads per query row
constexpr int kMaxHeadDim = 128;
constexpr int kDimsPerThread = kMaxHeadDim / 4;  // output dims c, c + 4, ... of a row's thread c
constexpr int kPositionsPerThread = kChunk / 4;  // chunk positions c, c + 4, ... of thread c

std::size_t shared_bytes(int head_dim) {
  const int stride = head_dim + 1;  // odd: rows of the tiles fall in different banks
  return static_cast<std::size_t>((kRows + 2 * kChunk) * stride + kRows * (kChunk + 1)) * sizeof(float);
}

// Block (tile, g): the tile's tokens times the query heads of KV head g, as rows
// r = token * group + head-in-group; thread (r, c) = (tid / 4, tid % 4).
__global__ void __launch_bounds__(kThreads)
    prefill_attention_kernel(const float* __restrict__ q, int64_t ld_q, const KvSlot* __restrict__ slots,
                             const AttentionTile* __restrict__ tiles, int layer, AttentionShape s, float scale,
                             float* __restrict__ out, int64_t ld_out) {
  pdl_wait();  // pdl_launch.cuh: the previous kernel's writes are visible from here on
  pdl_release();
  extern __shared__ float smem[];
  __shared__ AttentionShared sh;
  const int hd = s.head_dim, stride = hd + 1, group = s.n_heads / s.n_kv_heads;
  float* q_tile = smem;                      // [kRows][stride]
  float* k_tile = q_tile + kRows * stride;   // [kChunk][stride]
  float* v_tile = k_tile + kChunk * stride;  // [kChunk][stride]
  float* p_tile = v_tile + kChunk * stride;  // [kRows][kChunk + 1] softmax numerators
  const AttentionTile tile = tiles[blockIdx.x];
  const int g = static_cast<int>(blockIdx.y);
  const int tid = static_cast<int>(threadIdx.x), r = tid >> 2, c = tid & 3;
  const int n_rows = tile.count * group;
  const KvSlot slot = slots[tile.first];  // every token of the tile reads this cache
  const int last_position = slot.position + tile.count - 1;

  for (int e = tid; e < n_rows * hd; e += kThreads) {
    const int row = e / hd, d = e % hd;
    const int64_t t = tile.first + row / group;
    q_tile[row * stride + d] = q[t * ld_q + (g * group + row % group) * hd + d];
  }
  fill_code_ratios(s, sh);
  const bool active = r < n_rows;
  const int position = slot.position + r / group;  // this row's token's position
  float m = -INFINITY, l = 0.0f;
  float o[kDimsPerThread];
#pragma unroll
  for (int i = 0; i < kDimsPerThread; ++i) o[i] = 0.0f;
  __syncthreads();

  for (int p0 = 0; p0 <= last_position; p0 += kChunk) {
    const int count = min(kChunk, last_position + 1 - p0);
    for (int e = tid; e < kChunk * hd; e += kThreads) {
      const int j = e / hd, d = e % hd;
      const bool in = j < count;  // rows past the chunk's end are zeros (their scores are masked)
      k_tile[j * stride + d] = in ? cached<false>(slot.k, slot.k_gamma, sh.ratios, slot, layer, p0 + j, g, d, s) : 0.0f;
      v_tile[j * stride + d] = in ? cached<false>(slot.v, slot.v_gamma, sh.ratios, slot, layer, p0 + j, g, d, s) : 0.0f;
    }
    __syncthreads();

    // Scores of positions c, c + 4, ...: q . k summed in float (in double, as the reference does,
    // the float-to-double conversions made the kernel slower than the one-block kernel), then
    // times the scale.
    float score[kPositionsPerThread];
    float dot[kPositionsPerThread];
#pragma unroll
    for (int k = 0; k < kPositionsPerThread; ++k) dot[k] = 0.0f;
    if (active) {
      for (int d = 0; d < hd; ++d) {
        const float qd = q_tile[r * stride + d];
#pragma unroll
        for (int k = 0; k < kPositionsPerThread; ++k) dot[k] = fmaf(qd, k_tile[(c + 4 * k) * stride + d], dot[k]);
      }
    }
    float chunk_max = -INFINITY;
#pragma unroll
    for (int k = 0; k < kPositionsPerThread; ++k) {
      const int j = c + 4 * k;
      const bool valid = active && j < count && p0 + j <= position;
      score[k] = valid ? __fmul_rn(dot[k], scale) : -INFINITY;
      chunk_max = fmaxf(chunk_max, score[k]);
    }
    chunk_max = fmaxf(chunk_max, __shfl_xor_sync(0xffffffffu, chunk_max, 1));
    chunk_max = fmaxf(chunk_max, __shfl_xor_sync(0xffffffffu, chunk_max, 2));
    const float m_new = fmaxf(m, chunk_max);
    const float rescale = m == -INFINITY ? 0.0f : expf(m - m_new);
    float chunk_sum = 0.0f;
#pragma unroll
    for (int k = 0; k < kPositionsPerThread; ++k) {
      const float e = score[k] == -INFINITY ? 0.0f : expf(score[k] - m_new);
      p_tile[r * (kChunk + 1) + c + 4 * k] = e;
      chunk_sum += e;
    }
    chunk_sum += __shfl_xor_sync(0xffffffffu, chunk_sum, 1);
    chunk_sum += __shfl_xor_sync(0xffffffffu, chunk_sum, 2);
    l = l * rescale + chunk_sum;
    m = m_new;
#pragma unroll
    for (int i = 0; i < kDimsPerThread; ++i) o[i] *= rescale;
    __syncthreads();  // the row's numerators are in p_tile

    if (active) {
      for (int j = 0; j < count; ++j) {
        const float w = p_tile[r * (kChunk + 1) + j];
        if (w == 0.0f) continue;
#pragma unroll
        for (int i = 0; i < kDimsPerThread; ++i) {
          const int d = c + 4 * i;
          if (d < hd) o[i] = fmaf(w, v_tile[j * stride + d], o[i]);
        }
      }
    }
    __syncthreads();  // the next chunk overwrites the tiles
  }
  if (!active) return;
  const int64_t t = tile.first + r / group;
  const int h = g * group + r % group;
#pragma unroll
  for (int i = 0; i < kDimsPerThread; ++i) {
    const int d = c + 4 * i;
    if (d < hd) out[t * ld_out + h * hd + d] = o[i] / l;
  }
}

}  // namespace

int attention_tile_tokens(const AttentionShape& shape) {
  check(shape.n_kv_heads > 0 && shape.n_heads % shape.n_kv_heads == 0 && shape.n_heads / shape.n_kv_heads <= kRows,
        "attention_prefill: {} query heads per KV head (at most {})", shape.n_kv_heads > 0 ? shape.n_heads / shape.n_kv_heads : 0,
        kRows);
  return kRows / (shape.n_heads / shape.n_kv_heads);
}

void append_attention_tiles(int32_t first_row, int32_t n_rows, const AttentionShape& shape,
                            std::vector<AttentionTile>& tiles) {
  check(first_row >= 0 && n_rows >= 0, "attention_prefill: rows {} + {}", first_row, n_rows);
  const int per = attention_tile_tokens(shape);
  for (int32_t r = 0; r < n_rows; r += per) tiles.push_back({first_row + r, std::min<int32_t>(per, n_rows - r)});
}

bool attention_prefill_supports(const AttentionShape& shape) {
  return shape.head_dim > 0 && shape.head_dim <= kMaxHeadDim && shape.n_kv_heads > 0 &&
         shape.n_heads % shape.n_kv_heads == 0 && shape.n_heads / shape.n_kv_heads <= kRows;
}

void attention_prefill(const float* q, int64_t ld_q, const KvSlot* slots, const AttentionTile* tiles, int n_tiles,
                       int layer, const AttentionShape& shape, float* out, int64_t ld_out, cudaStream_t stream) {
  check(attention_prefill_supports(shape), "attention_prefill: head_dim {} (at most {}) or {} heads over {} KV heads",
        shape.head_dim, kMaxHeadDim, shape.n_heads, shape.n_kv_heads);
  check(q != nullptr && slots != nullptr && tiles != nullptr && out != nullptr && n_tiles > 0 && n_tiles <= 65535 &&
            layer >= 0 && layer < shape.n_layers,
        "attention_prefill: {} tiles, layer {}", n_tiles, layer);
  const std::size_t smem = shared_bytes(shape.head_dim);
  allow_dynamic_smem(prefill_attention_kernel, smem);
  const float scale = static_cast<float>(std::pow(static_cast<double>(shape.head_dim), -0.5));
  launch_pdl(prefill_attention_kernel, dim3(static_cast<unsigned>(n_tiles), static_cast<unsigned>(shape.n_kv_heads)),
             dim3(kThreads), smem, stream, q, ld_q, slots, tiles, layer, shape, scale, out, ld_out);
  CUDA_CHECK_LAUNCH();
}

}  // namespace a48::cuda
