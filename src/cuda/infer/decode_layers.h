// All transformer layers of a decode step (1 to kDecodeMaxTokens tokens) in one persistent kernel
// (host launcher). At batch 1 the step is a chain of ~10 dependent pieces per layer (row passes,
// projections, RoPE/KV store, attention), each small: as separate kernels every piece pays a
// launch and ramp-up and the row passes run on one SM (docs/BENCHMARKS.md, "CUDA inference").
// Here every block stays resident for the whole step and the pieces are phases separated by grid
// barriers:
//   A  residual add + RMSNorm + INT4/INT8 codes of x (every block, into its shared memory), then
//      the q/k/v rows spread over all warps of the grid;
//   B  RoPE + query quantization + K/V cache store, one warp per (token, head);
//   C  flash-decoding attention, one block per (token, head, split), the last split combining;
//   D  sub-norm + top-K + codes of the attention output (every block), then o_proj rows;
//   E  residual add + RMSNorm + codes, then gate rows and the up rows of active gate channels;
//   F  ReLU²GLU + sub-norm + codes (every block), then down rows.
// Each phase's row pass is the one of row_quant.h, recomputed by every block from L2 instead of
// run once and passed on (a few KB per block: cheaper than a launch), and each phase asks L2 for
// the next phase's weights before it computes. The results are those of the kernel-per-piece
// path (cuda_engine.cu) up to the order of the row passes' double sums (a block size of its own)
// and the attention split count: the same tolerances as that path against the reference.
// Plain C++ may include this header.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "cuda/infer/attention.h"

namespace a48::cuda {

inline constexpr int kDecodeMaxTokens = 8;

// One layer's device weights (rows-order packed ternary, packed_ternary.h) and norms.
struct DecodeLayerWeights {
  const float* attn_norm = nullptr;
  const float* attn_sub_norm = nullptr;
  const float* ffn_norm = nullptr;
  const float* ffn_sub_norm = nullptr;
  const uint32_t* q = nullptr;
  const uint32_t* k = nullptr;
  const uint32_t* v = nullptr;
  const uint32_t* o = nullptr;
  const uint32_t* gate = nullptr;
  const uint32_t* up = nullptr;
  const uint32_t* down = nullptr;
  float q_scale = 0, k_scale = 0, v_scale = 0, o_scale = 0, gate_scale = 0, up_scale = 0, down_scale = 0;
};

struct DecodeLayersArgs {
  int n_tokens = 0;  // 1 .. kDecodeMaxTokens
  int d = 0, f = 0;  // hidden and FFN widths (q_size = H hd, kv_size = H_kv hd from `shape`)
  // ActivationQuantizer (as int) of each projection input, top-K keep counts, ReLU² (0) or SiLU.
  int quantizer_qkv = 0, quantizer_out = 0, quantizer_gate_up = 0, quantizer_down = 0;
  int keep_out = 0, keep_down = 0;
  int act = 0;
  float eps = 1e-5f;
  const DecodeLayerWeights* layers = nullptr;  // device array [shape.n_layers]
  // The residual stream: x_a [T, d] holds the embeddings on entry; on return x_a + delta_d is the
  // residual after the last layer (the final norm's input). x_b: scratch of the same size.
  float* x_a = nullptr;
  float* x_b = nullptr;
  float* delta_d = nullptr;  // [T, d]
  // Scratch: q [T, qs], k/v [T, kv], attention output [T, qs], o_proj delta [T, d], gate/up [T, f].
  float* q = nullptr;
  float* k = nullptr;
  float* v = nullptr;
  float* attn = nullptr;
  float* delta_o = nullptr;
  float* gate = nullptr;
  float* up = nullptr;
  const KvSlot* slots = nullptr;  // [T]
  AttentionShape shape;
  int max_positions = 0;
  const float* cos_table = nullptr;
  const float* sin_table = nullptr;
  AttentionWorkspace* workspace = nullptr;  // the split partials and counters (max_tokens >= T)
  uint32_t* barrier = nullptr;              // 2 words, zero before the first launch
  // Diagnostics: null, or [n_layers * kDecodePhaseStamps + 1] %globaltimer stamps (ns) of block 0:
  // at the start, then per layer and phase A..F the end of its own work and the end of the barrier.
  uint64_t* phase_clock = nullptr;
};

inline constexpr int kDecodePhases = 6;
inline constexpr int kDecodePhaseStamps = 2 * kDecodePhases;

// Launches the persistent kernel on `stream` (graph-capturable). Throws a48::Error on bad
// arguments.
void decode_layers(const DecodeLayersArgs& args, cudaStream_t stream);

}  // namespace a48::cuda
