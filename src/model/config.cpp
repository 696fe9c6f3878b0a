// HF config.json <-> ModelConfig. Sizes are required; the other HF fields default as the HF class
// of the file's model_type does (BitNetConfig for "bitnet", LlamaConfig otherwise). Attention
// bit widths follow §3.1 / Table 3.
#include "model/config.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace a48 {
namespace {

using nlohmann::json;

// Field readers: absent (or null, as HF writes for unset optionals) -> std::nullopt; present with
// the wrong JSON type -> a48::Error naming the field and the type expected.
std::optional<int64_t> optional_integer(const json& object, const char* field) {
  if (!object.contains(field) || object[field].is_null()) return std::nullopt;
  const json& value = object[field];
  if (value.is_number_unsigned()) {
    const uint64_t v = value.get<uint64_t>();
    check(v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
          "config field '{}' is too large", field);
    return static_cast<int64_t>(v);
  }
  check(value.is_number_integer(), "config field '{}' must be an integer, got {} ({})", field,
        value.type_name(), value.dump());
  return value.get<int64_t>();
}

int64_t required_integer(const json& object, const char* field) {
  const std::optional<int64_t> value = optional_integer(object, field);
  check(value.has_value(), "config is missing the required field '{}'", field);
  return *value;
}

std::optional<double> optional_number(const json& object, const char* field) {
  if (!object.contains(field) || object[field].is_null()) return std::nullopt;
  const json& value = object[field];
  check(value.is_number(), "config field '{}' must be a number, got {} ({})", field,
        value.type_name(), value.dump());
  return value.get<double>();
}

std::optional<bool> optional_bool(const json& object, const char* field) {
  if (!object.contains(field) || object[field].is_null()) return std::nullopt;
  const json& value = object[field];
  check(value.is_boolean(), "config field '{}' must be true or false, got {} ({})", field,
        value.type_name(), value.dump());
  return value.get<bool>();
}

std::optional<std::string> optional_string(const json& object, const char* field) {
  if (!object.contains(field) || object[field].is_null()) return std::nullopt;
  const json& value = object[field];
  check(value.is_string(), "config field '{}' must be a string, got {} ({})", field,
        value.type_name(), value.dump());
  return value.get<std::string>();
}

// bos/eos: an integer, or (as in some HF configs) an array whose first entry is used; null = unset.
std::optional<int32_t> token_id(const json& object, const char* field) {
  if (!object.contains(field) || object[field].is_null()) return std::nullopt;
  const json& value = object[field];
  const json* id = &value;
  if (value.is_array()) {
    if (value.empty()) return std::nullopt;
    id = &value[0];
  }
  check(id->is_number_integer(),
        "config field '{}' must be an integer token id (or an array of them), got {}", field,
        value.dump());
  const int64_t v = id->get<int64_t>();
  check(v >= 0 && v <= std::numeric_limits<int32_t>::max(),
        "config field '{}' = {} is not a valid token id", field, v);
  return static_cast<int32_t>(v);
}

HiddenActivation parse_hidden_act(const std::string& name) {
  if (name == "relu2") return HiddenActivation::relu2;
  if (name == "silu" || name == "swish") return HiddenActivation::silu;
  fail("config field 'hidden_act' = '{}' is not supported (expected relu2, silu or swish)", name);
}

void parse_a48_block(const json& block, ModelConfig& config) {
  check(block.is_object(), "config field 'a48' must be an object, got {}", block.type_name());
  // The parsers' own messages list the accepted names; prefix the field they came from.
  const auto named = [](const char* field, auto parse) {
    try {
      return parse();
    } catch (const Error& e) {
      fail("config field '{}': {}", field, e.what());
    }
  };
  if (const auto scheme = optional_string(block, "activation_scheme"))
    config.activation_scheme =
        named("a48.activation_scheme", [&] { return parse_activation_scheme(*scheme); });
  if (block.contains("attention_bits") && !block["attention_bits"].is_null()) {
    const json& bits = block["attention_bits"];
    if (bits.is_string()) {
      config.attention_bits = named("a48.attention_bits",
                                    [&] { return parse_attention_bits(bits.get<std::string>()); });
    } else {
      check(
          bits.is_number_integer(),
          "config field 'a48.attention_bits' must be a string (\"16\", \"8\", \"4\", \"4q3kv\") or "
          "an integer, got {}",
          bits.dump());
      config.attention_bits = named("a48.attention_bits", [&] {
        return parse_attention_bits(std::to_string(bits.get<int64_t>()));
      });
    }
  }
  if (const auto fraction = optional_number(block, "topk_fraction")) {
    check(*fraction > 0.0 && *fraction <= 1.0,
          "config field 'a48.topk_fraction' = {} must be in (0, 1]", *fraction);
    config.topk_fraction = static_cast<float>(*fraction);
  }
}

}  // namespace

AttentionBits parse_attention_bits(std::string_view name) {
  if (name == "16") return AttentionBits::fp16;
  if (name == "8") return AttentionBits::int8;
  if (name == "4") return AttentionBits::int4;
  if (name == "4q3kv") return AttentionBits::q4_kv3;
  fail("unknown attention bits '{}' (expected 16, 8, 4 or 4q3kv)", name);
}

std::string_view to_string(AttentionBits bits) {
  switch (bits) {
    case AttentionBits::fp16:
      return "16";
    case AttentionBits::int8:
      return "8";
    case AttentionBits::int4:
      return "4";
    case AttentionBits::q4_kv3:
      return "4q3kv";
  }
  return "?";
}

int query_bits(AttentionBits bits) {
  switch (bits) {
    case AttentionBits::fp16:
      return 16;
    case AttentionBits::int8:
      return 8;
    case AttentionBits::int4:
    case AttentionBits::q4_kv3:
      return 4;
  }
  fail("unknown attention bits {}", static_cast<int>(bits));
}

int kv_cache_bits(AttentionBits bits) {
  switch (bits) {
    case AttentionBits::fp16:
      return 16;
    case AttentionBits::int8:
      return 8;
    case AttentionBits::int4:
      return 4;
    case AttentionBits::q4_kv3:
      return 3;
  }
  fail("unknown attention bits {}", static_cast<int>(bits));
}

void ModelConfig::validate() const {
  // Upper bounds keep every product of sizes far from int64 overflow and reject garbage early.
  constexpr int64_t kMaxDim = int64_t{1} << 20;
  const auto check_size = [](const char* field, int64_t value, int64_t limit) {
    check(value > 0, "config field '{}' = {} must be positive", field, value);
    check(value < limit, "config field '{}' = {} is implausibly large (limit {})", field, value,
          limit);
  };
  check_size("hidden_size", hidden_size, kMaxDim);
  check_size("num_hidden_layers", num_hidden_layers, 4096);
  check_size("num_attention_heads", num_attention_heads, kMaxDim);
  check_size("num_key_value_heads", num_key_value_heads, kMaxDim);
  check_size("intermediate_size", intermediate_size, kMaxDim);
  check_size("vocab_size", vocab_size, int64_t{1} << 31);
  check_size("max_position_embeddings", max_position_embeddings, int64_t{1} << 31);
  check(hidden_size % num_attention_heads == 0,
        "config: hidden_size {} is not a multiple of num_attention_heads {}", hidden_size,
        num_attention_heads);
  check(num_attention_heads % num_key_value_heads == 0,
        "config: num_attention_heads {} is not a multiple of num_key_value_heads {}",
        num_attention_heads, num_key_value_heads);
  check(head_dim() % 2 == 0,
        "config: head_dim {} (hidden_size / num_attention_heads) must be even for RoPE",
        head_dim());
  check(std::isfinite(rms_norm_eps) && rms_norm_eps > 0 && rms_norm_eps < 1,
        "config field 'rms_norm_eps' = {} must be in (0, 1)", rms_norm_eps);
  check(std::isfinite(rope_theta) && rope_theta > 0,
        "config field 'rope_theta' = {} must be positive", rope_theta);
  check(topk_fraction > 0 && topk_fraction <= 1,
        "config field 'a48.topk_fraction' = {} must be in (0, 1]", topk_fraction);
  for (const auto& [field, id] :
       {std::pair{"bos_token_id", bos_token_id}, {"eos_token_id", eos_token_id}}) {
    if (id)
      check(*id < vocab_size, "config field '{}' = {} is outside the vocabulary ({})", field, *id,
            vocab_size);
  }
}

ModelConfig parse_model_config(const json& object) {
  check(object.is_object(), "config must be a JSON object, got {}", object.type_name());
  const bool bitnet = optional_string(object, "model_type").value_or("") == "bitnet";

  ModelConfig config;
  config.hidden_size = required_integer(object, "hidden_size");
  config.num_hidden_layers = required_integer(object, "num_hidden_layers");
  config.num_attention_heads = required_integer(object, "num_attention_heads");
  config.intermediate_size = required_integer(object, "intermediate_size");
  config.vocab_size = required_integer(object, "vocab_size");
  config.num_key_value_heads =
      optional_integer(object, "num_key_value_heads").value_or(config.num_attention_heads);
  // Defaults of transformers' BitNetConfig / LlamaConfig for the fields a file may leave out.
  config.max_position_embeddings =
      optional_integer(object, "max_position_embeddings").value_or(2048);
  config.rms_norm_eps = optional_number(object, "rms_norm_eps").value_or(bitnet ? 1e-5 : 1e-6);
  config.rope_theta = optional_number(object, "rope_theta").value_or(bitnet ? 500000.0 : 10000.0);
  config.tie_word_embeddings = optional_bool(object, "tie_word_embeddings").value_or(false);
  config.hidden_act =
      parse_hidden_act(optional_string(object, "hidden_act").value_or(bitnet ? "relu2" : "silu"));
  config.bos_token_id = token_id(object, "bos_token_id");
  config.eos_token_id = token_id(object, "eos_token_id");

  // Fields that would change the maths if we ignored them: refuse rather than run a different
  // model.
  if (const auto head_dim = optional_integer(object, "head_dim")) {
    check(config.num_attention_heads > 0 &&
              *head_dim * config.num_attention_heads == config.hidden_size,
          "config field 'head_dim' = {} differs from hidden_size / num_attention_heads (not "
          "supported)",
          *head_dim);
  }
  check(!object.contains("rope_scaling") || object["rope_scaling"].is_null(),
        "config field 'rope_scaling' is not supported (plain RoPE only)");

  config.activation_scheme = bitnet ? ActivationScheme::b158 : ActivationScheme::fp;
  if (object.contains("a48") && !object["a48"].is_null()) parse_a48_block(object["a48"], config);
  config.validate();
  return config;
}

ModelConfig load_model_config(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), "cannot open {}", path.string());
  std::stringstream text;
  text << in.rdbuf();
  try {
    return parse_model_config(json::parse(text.str()));
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", path.string(), e.what());
  } catch (const Error& e) {
    fail("{}: {}", path.string(), e.what());
  }
}

json model_config_to_json(const ModelConfig& config) {
  json out = {
      {"architectures", {"BitNetForCausalLM"}},
      {"model_type", "bitnet"},
      {"hidden_size", config.hidden_size},
      {"num_hidden_layers", config.num_hidden_layers},
      {"num_attention_heads", config.num_attention_heads},
      {"num_key_value_heads", config.num_key_value_heads},
      {"intermediate_size", config.intermediate_size},
      {"vocab_size", config.vocab_size},
      {"max_position_embeddings", config.max_position_embeddings},
      {"rms_norm_eps", config.rms_norm_eps},
      {"rope_theta", config.rope_theta},
      {"tie_word_embeddings", config.tie_word_embeddings},
      {"hidden_act", config.hidden_act == HiddenActivation::relu2 ? "relu2" : "silu"},
      {"a48",
       {{"activation_scheme", std::string(to_string(config.activation_scheme))},
        {"attention_bits", std::string(to_string(config.attention_bits))},
        {"topk_fraction", config.topk_fraction}}},
  };
  if (config.bos_token_id) out["bos_token_id"] = *config.bos_token_id;
  if (config.eos_token_id) out["eos_token_id"] = *config.eos_token_id;
  return out;
}

}  // namespace a48
