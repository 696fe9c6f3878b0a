// Decode/prefill attention over device KV caches (§3.1), host launchers:
//   rope_store_kv:  RoPE on q and k (cos/sin tables computed on the host with the reference's own
//                   float operations, so rotated values are bit-identical), then Q's heads
//                   quantized and dequantized in place at the query bits, and K/V written to each
//                   token's cache at its position, quantized post-RoPE per head with the unsigned
//                   absmax quantizer (quant/kv_quant.h; the bos position at 4 bits under 3-bit KV).
//                   All of this is the reference's float arithmetic: exact.
//   attention:      softmax(q k^T / sqrt(hd)) v per token and head over positions 0..position,
//                   reading K/V back dequantized (the reference's double formula). Dot products,
//                   the softmax sum and the output sums are taken in double as the reference does,
//                   in another order; exp is the device's expf (within 2 ulp of glibc's). Stated
//                   tolerance: |out - ref| <= 1e-5 * max|v| per element.
//                   With a workspace and few tokens (decode), flash-decoding: each (token, head)'s
//                   positions are split over several blocks, each keeping its own max, sum and
//                   unnormalized output (doubles), and the last block to finish combines them with
//                   exp(m_j - M) factors. Same tolerance (the weights differ from the one-block
//                   path's by float rounding of exp only). Long prefills go to the tiled kernel
//                   of attention_prefill.h instead (the engine does so above 16 rows).
// Cache layout per sequence, as model/kv_cache.h's: codes (one byte each) or fp32 rows
// [L, capacity, H_kv, hd], gammas [L, capacity, H_kv]. Plain C++ may include this header.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "cuda/common/device_buffer.h"

namespace a48::cuda {

// Where one token's sequence keeps its cache, and the token's position in it.
struct KvSlot {
  void* k = nullptr;  // uint8 codes, or float when kv_bits == 16
  void* v = nullptr;
  float* k_gamma = nullptr;  // null when kv_bits == 16
  float* v_gamma = nullptr;
  int32_t position = 0;
  int32_t capacity = 0;
};

struct AttentionShape {
  int n_layers = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0;
  int kv_bits = 16;     // 16 = fp32 storage
  int query_bits = 16;  // 16 = not quantized
};

// cos and sin of position * inv_freq[i], [max_positions, hd / 2] each, as ref::rope computes them.
void rope_tables(int64_t head_dim, double theta, int64_t max_positions, std::vector<float>& cos_table,
                 std::vector<float>& sin_table);

// q: [n_tokens, ld_q] (H heads, rotated and quantized in place); k, v: [n_tokens, ld_kv] (k is
// rotated in place). slots: device array [n_tokens].
void rope_store_kv(float* q, int64_t ld_q, float* k, const float* v, int64_t ld_kv, const KvSlot* slots,
                   int64_t n_tokens, int layer, const AttentionShape& shape, const float* cos_table,
                   const float* sin_table, cudaStream_t stream);

// Scratch of the split (flash-decoding) path for up to max_tokens tokens per call: partial
// results and per-(token, head) arrival counters (zero between calls; the combining block resets
// its counter). One workspace serves one stream at a time.
struct AttentionWorkspace {
  static constexpr int kMaxSplits = 16;
  int64_t max_tokens = 0;
  int n_heads = 0, head_dim = 0, sm_count = 1;
  DeviceBuffer<double> partial;     // [max_tokens, H, kMaxSplits, hd + 2]: output sums, sum, max
  DeviceBuffer<uint32_t> counters;  // [max_tokens, H]
  AttentionWorkspace() = default;
  AttentionWorkspace(const AttentionShape& shape, int64_t max_tokens);
  // Blocks per (token, head) for n_tokens (1: the one-block path). Depends on the shape and
  // n_tokens only, so a captured graph stays valid as contexts grow.
  int splits(int64_t n_tokens) const;
};

// out: [n_tokens, ld_out]. max_positions bounds every slot's position + 1 (shared memory size).
// workspace: null, or the split path's scratch (used when n_tokens <= its max_tokens).
void attention(const float* q, int64_t ld_q, const KvSlot* slots, int64_t n_tokens, int layer,
               const AttentionShape& shape, int64_t max_positions, float* out, int64_t ld_out,
               cudaStream_t stream, AttentionWorkspace* workspace = nullptr);

}  // namespace a48::cuda
