// Prefill attention over the device KV caches (attention.h's layout), tiled: one block takes up to
// 64 query rows (tokens x the query heads of one KV head) of consecutive tokens of one sequence
// and walks their positions in chunks of 32, dequantizing each K/V chunk into shared memory once
// for all its rows (the one-block-per-(token, head) kernel of attention.h dequantizes every cached
// element once per query head and token, which made long prefills instruction-bound: most of a
// 2048-token step of the 2B4T shape). Everything runs in float: q . k summed in float (the
// reference sums in double), times hd^-0.5, softmax and the weighted sum of V online
// (flash-attention). Stated tolerance: |out - ref| <= 1e-5 * max|v| per element, as attention.h's.
// Plain C++ may include this header.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "cuda/infer/attention.h"

namespace a48::cuda {

// Rows first .. first + count - 1 of a call: consecutive tokens of one sequence (consecutive
// positions in one cache).
struct AttentionTile {
  int32_t first = 0;
  int32_t count = 0;
};

// Tokens per tile for the shape: 64 query rows over the query heads sharing a KV head.
int attention_tile_tokens(const AttentionShape& shape);

// Appends the tiles covering one sequence's rows first_row .. first_row + n_rows - 1.
void append_attention_tiles(int32_t first_row, int32_t n_rows, const AttentionShape& shape,
                            std::vector<AttentionTile>& tiles);

// Whether the tiled kernel takes this shape (head_dim <= 128); otherwise use attention().
bool attention_prefill_supports(const AttentionShape& shape);

// out [n_tokens, ld_out] for the rows of `tiles` (device array of n_tiles; host-built with
// append_attention_tiles). q: [n_tokens, ld_q], rotated and quantized (rope_store_kv), caches
// written up to every row's position. Throws a48::Error on bad arguments.
void attention_prefill(const float* q, int64_t ld_q, const KvSlot* slots, const AttentionTile* tiles, int n_tiles,
                       int layer, const AttentionShape& shape, float* out, int64_t ld_out, cudaStream_t stream);

}  // namespace a48::cuda
