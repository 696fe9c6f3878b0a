// The reference forward pass (§2.1, Figure 1), plain and scalar, written once against the model
// description. Per layer:
//   h  = x + o_proj(Q_out(sub_norm(Attention(RoPE(q_proj(Q_in(norm(x)))), ...))))
//   x' = h + down_proj(Q_down(sub_norm(ReLU^2(gate_proj(Q_in(norm(h)))) * up_proj(Q_in(norm(h))))))
// where each Q_* is the scheme's activation quantizer for that input (model/activation_scheme.h).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "model/kv_cache.h"
#include "model/weights.h"

namespace a48 {

// Table 2's columns: the fraction of each projection's weight reads that zero activations skip.
struct SparsityStats {
  struct Entry {
    double active = 0;  // weight elements multiplied by a non-zero input (summed over tokens)
    double total = 0;   // weight elements of the projection (summed over tokens)
    double sparsity() const { return total > 0 ? 1.0 - active / total : 0.0; }
    // One token through a projection [n_out, n_in] that read `active_rows` of its rows for each
    // of its `nonzero_inputs` non-zero inputs.
    void add_token(int64_t nonzero_inputs, int64_t active_rows, int64_t n_out, int64_t n_in) {
      active += static_cast<double>(nonzero_inputs) * static_cast<double>(active_rows);
      total += static_cast<double>(n_in) * static_cast<double>(n_out);
    }
  };
  Entry qkv, out, up, gate, down;
  int64_t n_tokens = 0;
  void add(const SparsityStats& other);
  // Overall, over non-embedding parameters: skipped weight reads / (non-embedding params * tokens).
  double overall(const ModelConfig& config) const;
};

// One sequence of a batch: its tokens continue at positions cache->size(), cache->size()+1, ...
struct SequenceInput {
  KvCache* cache = nullptr;
  std::span<const int32_t> tokens;
  bool all_logits = false;  // logits for every token (scoring) or only for the last (generation)
};

// Called with every named intermediate of every token, in this order, for debugging and golden
// tests: "embed" (layer -1); per layer "attn_norm", "q", "k" (both post-RoPE, before any attention
// quantization), "v", "attn_out" (before the sub-norm), "attn_sub_norm", "o_proj", "ffn_norm",
// "gate" (before the activation), "up" (0 on rows the gate skips), "glu", "ffn_sub_norm", "down",
// "l_out" (the residual stream after the layer); then "final_norm" (layer -1).
using IntermediateCallback =
    std::function<void(std::string_view name, int64_t layer, std::span<const float> values)>;

struct ForwardOptions {
  SparsityStats* sparsity = nullptr;
  IntermediateCallback on_intermediate;
};

// Returns fp32 logits, row-major [rows, V]: per sequence in order, one row per token when
// all_logits, else one row for its last token. Commits the new positions to each cache.
// Throws a48::Error for token ids outside [0, V) or sequences past their cache's capacity.
std::vector<float> forward(const Model& model, std::span<const SequenceInput> batch,
                           const ForwardOptions& options = {});

}  // namespace a48
