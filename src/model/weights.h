// The backend-neutral model description: every tensor as the reference engine reads it.
// Shapes follow the HF BitNet layout (y = x W^T, W is [n_out, n_in], row-major).
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"

namespace a48 {

// One BitLinear projection.
struct LinearWeights {
  int64_t n_out = 0, n_in = 0;
  std::vector<float> latent;    // [n_out, n_in] fp32 latent weights; empty when the file held
                                // packed ternary codes only (then `fp` uses scale*ternary)
  std::vector<int8_t> ternary;  // [n_out, n_in] codes in {-1, 0, 1} (eq. 2)
  float scale = 0;              // alpha of eq. 2: Q_w(W) = scale * ternary

  // Fills ternary/scale from latent with eq. 2 (call after setting latent).
  void quantize_from_latent();
};

struct LayerWeights {
  std::vector<float> attn_norm;      // [d]            input_layernorm
  LinearWeights q_proj;              // [H*hd, d]
  LinearWeights k_proj;              // [H_kv*hd, d]
  LinearWeights v_proj;              // [H_kv*hd, d]
  std::vector<float> attn_sub_norm;  // [H*hd]         before o_proj
  LinearWeights o_proj;              // [d, H*hd]
  std::vector<float> ffn_norm;       // [d]            post_attention_layernorm
  LinearWeights gate_proj;           // [F, d]
  LinearWeights up_proj;             // [F, d]
  std::vector<float> ffn_sub_norm;   // [F]            before down_proj
  LinearWeights down_proj;           // [d, F]
};

struct ModelWeights {
  std::vector<float> embed_tokens;  // [V, d]
  std::vector<LayerWeights> layers;  // [L]
  std::vector<float> final_norm;    // [d]
  std::vector<float> lm_head;       // [V, d]; empty when tie_word_embeddings (embed_tokens is used)

  const std::vector<float>& output_matrix() const { return lm_head.empty() ? embed_tokens : lm_head; }
};

struct Model {
  ModelConfig config;
  ModelWeights weights;
};

// A model of `config`'s shape with seeded random weights (latent ~ N(0, 0.02), norms ~ 1 +- 0.1);
// used by tests and benchmarks (`a48 init`).
Model make_random_model(const ModelConfig& config, uint64_t seed);

// A model of `config`'s shape with seeded random ternary codes drawn directly (about a third zeros,
// scale 0.016 as eq. 2 gives N(0, 0.02) latents) and no latent weights: models of billions of
// parameters for benchmarks (`a48 bench --shape`) without the fp32 latents' memory. Embeddings
// ~ N(0, 0.02), norms ~ 1 +- 0.1.
Model make_random_ternary_model(const ModelConfig& config, uint64_t seed);

// Parameter counts (Table 2 counts non-embedding parameters).
struct ParameterCounts {
  int64_t embedding = 0;      // embed_tokens (+ lm_head when untied)
  int64_t non_embedding = 0;  // projections + norms
  int64_t projections = 0;    // the BitLinear weights alone
};
ParameterCounts count_parameters(const ModelConfig& config);

}  // namespace a48
