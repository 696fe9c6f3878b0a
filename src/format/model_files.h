// A model directory: config.json + model.safetensors (or model.safetensors.index.json and shards)
// + tokenizer.json. Weights may be latent floats (f32/f16/bf16) or the packed ternary layout of the
// HF BitNet b1.58 2B4T checkpoint (see hf_ternary_pack.h). HF tensor names:
//   model.embed_tokens.weight, model.norm.weight, lm_head.weight (absent when tied),
//   model.layers.N.{input_layernorm, post_attention_layernorm}.weight,
//   model.layers.N.self_attn.{q,k,v,o}_proj.weight (+ .weight_scale when packed),
//   model.layers.N.self_attn.attn_sub_norm.weight,
//   model.layers.N.mlp.{gate,up,down}_proj.weight (+ .weight_scale), model.layers.N.mlp.ffn_sub_norm.weight
#pragma once

#include <filesystem>

#include "model/weights.h"

namespace a48 {

// Throws a48::Error naming the file and tensor for missing or unknown tensors, wrong shapes or
// dtypes, and truncated or malformed files.
Model load_model(const std::filesystem::path& dir);

enum class WeightStorage {
  f32,             // latent weights as F32
  bf16,            // latent weights as BF16
  packed_ternary,  // HF 2B4T layout: U8 [n_out/4, n_in] + weight_scale; norms/embeddings BF16
};

// Writes config.json and model.safetensors into `dir` (each through a temp file and a rename).
void save_model(const Model& model, const std::filesystem::path& dir, WeightStorage storage);

}  // namespace a48
