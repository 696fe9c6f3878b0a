// Model configuration: the HF `config.json` fields of BitNet/LLaMA plus a48's own block:
//   "a48": {"activation_scheme": "a4.8", "attention_bits": "4q3kv", "topk_fraction": 0.5}
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "model/activation_scheme.h"

namespace a48 {

// Post-RoPE attention quantization (§3.1, Table 3): none (16), Q/K/V at 8 or 4 bits, or 4-bit Q
// with a 3-bit KV cache whose bos position stays at 4 bits ("4q3kv").
enum class AttentionBits { fp16, int8, int4, q4_kv3 };

AttentionBits parse_attention_bits(std::string_view name);  // "16", "8", "4", "4q3kv"
std::string_view to_string(AttentionBits bits);
int query_bits(AttentionBits bits);     // 16 = not quantized
int kv_cache_bits(AttentionBits bits);  // 16 = not quantized

enum class HiddenActivation { relu2, silu };  // ReLU^2 GLU (eq. 5) or SwiGLU

struct ModelConfig {
  int64_t hidden_size = 0;              // d
  int64_t num_hidden_layers = 0;        // L
  int64_t num_attention_heads = 0;      // H
  int64_t num_key_value_heads = 0;      // H_kv (GQA: H % H_kv == 0)
  int64_t intermediate_size = 0;        // FFN width
  int64_t vocab_size = 0;               // V
  int64_t max_position_embeddings = 0;  // context length
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = true;
  HiddenActivation hidden_act = HiddenActivation::relu2;
  std::optional<int32_t> bos_token_id, eos_token_id;

  // a48 block.
  ActivationScheme activation_scheme = ActivationScheme::b158;
  AttentionBits attention_bits = AttentionBits::fp16;
  float topk_fraction = 0.5f;  // fraction of o_proj inputs kept by eq. 1's top-K

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  int64_t q_size() const { return num_attention_heads * head_dim(); }
  int64_t kv_size() const { return num_key_value_heads * head_dim(); }

  // Throws a48::Error naming the first inconsistent field (zero sizes, H % H_kv != 0, ...).
  void validate() const;
};

// Parses an HF config.json object; unknown fields are ignored, missing required ones or fields of
// the wrong type throw a48::Error naming them.
ModelConfig parse_model_config(const nlohmann::json& json);
ModelConfig load_model_config(const std::filesystem::path& path);
nlohmann::json model_config_to_json(const ModelConfig& config);

}  // namespace a48
