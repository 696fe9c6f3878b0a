// config.json parsing: the 2B4T config, HF defaults, the a48 block, wrong types and missing fields
// (the message must name the field), validation bounds, and the JSON round trip.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "format_test_util.h"
#include "model/config.h"

namespace a48 {
namespace {

using nlohmann::json;
using test::throws_error_with;

// config.json of microsoft/bitnet-b1.58-2B-4T (packed), as published.
json bitnet_2b4t_config() {
  return json::parse(R"({
    "architectures": ["BitNetForCausalLM"],
    "auto_map": {"AutoConfig": "configuration_bitnet.BitNetConfig",
                 "AutoModelForCausalLM": "modeling_bitnet.BitNetForCausalLM"},
    "bos_token_id": 128000, "eos_token_id": 128001, "hidden_act": "relu2", "hidden_size": 2560,
    "initializer_range": 0.02, "intermediate_size": 6912, "max_position_embeddings": 4096,
    "model_type": "bitnet", "rms_norm_eps": 1e-05, "num_attention_heads": 20, "num_hidden_layers": 30,
    "num_key_value_heads": 5, "rope_theta": 500000.0, "tie_word_embeddings": true,
    "torch_dtype": "bfloat16", "use_cache": true, "vocab_size": 128256,
    "quantization_config": {"quant_method": "bitnet", "linear_class": "autobitlinear",
                            "quantization_mode": "offline"}})");
}

json small_config() {
  return json{{"hidden_size", 64},
              {"num_hidden_layers", 2},
              {"num_attention_heads", 4},
              {"intermediate_size", 96},
              {"vocab_size", 100}};
}

TEST(ModelConfig, Parses2B4T) {
  const ModelConfig c = parse_model_config(bitnet_2b4t_config());
  EXPECT_EQ(c.hidden_size, 2560);
  EXPECT_EQ(c.num_hidden_layers, 30);
  EXPECT_EQ(c.num_attention_heads, 20);
  EXPECT_EQ(c.num_key_value_heads, 5);
  EXPECT_EQ(c.intermediate_size, 6912);
  EXPECT_EQ(c.vocab_size, 128256);
  EXPECT_EQ(c.max_position_embeddings, 4096);
  EXPECT_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.rope_theta, 500000.0);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.hidden_act, HiddenActivation::relu2);
  EXPECT_EQ(c.bos_token_id, 128000);
  EXPECT_EQ(c.eos_token_id, 128001);
  EXPECT_EQ(c.activation_scheme, ActivationScheme::b158);  // model_type bitnet, no a48 block
  EXPECT_EQ(c.attention_bits, AttentionBits::fp16);
  EXPECT_EQ(c.head_dim(), 128);
  EXPECT_EQ(c.kv_size(), 640);
}

TEST(ModelConfig, DefaultsFollowTheHfClassOfTheModelType) {
  // LlamaConfig defaults (no model_type): H_kv = H, eps 1e-6, theta 1e4, silu, untied, fp.
  const ModelConfig llama = parse_model_config(small_config());
  EXPECT_EQ(llama.num_key_value_heads, 4);
  EXPECT_EQ(llama.max_position_embeddings, 2048);
  EXPECT_EQ(llama.rms_norm_eps, 1e-6);
  EXPECT_EQ(llama.rope_theta, 10000.0);
  EXPECT_EQ(llama.hidden_act, HiddenActivation::silu);
  EXPECT_FALSE(llama.tie_word_embeddings);
  EXPECT_EQ(llama.activation_scheme, ActivationScheme::fp);
  EXPECT_FALSE(llama.bos_token_id.has_value());
  // BitNetConfig defaults: eps 1e-5, theta 5e5, relu2, b1.58.
  json j = small_config();
  j["model_type"] = "bitnet";
  const ModelConfig bitnet = parse_model_config(j);
  EXPECT_EQ(bitnet.rms_norm_eps, 1e-5);
  EXPECT_EQ(bitnet.rope_theta, 500000.0);
  EXPECT_EQ(bitnet.hidden_act, HiddenActivation::relu2);
  EXPECT_EQ(bitnet.activation_scheme, ActivationScheme::b158);
}

TEST(ModelConfig, TokenIdsAsArraysOrNull) {
  json j = small_config();
  j["eos_token_id"] = {7, 9};
  j["bos_token_id"] = nullptr;
  const ModelConfig c = parse_model_config(j);
  EXPECT_EQ(c.eos_token_id, 7);
  EXPECT_FALSE(c.bos_token_id.has_value());
  j["eos_token_id"] = json::array();
  EXPECT_FALSE(parse_model_config(j).eos_token_id.has_value());
  j["eos_token_id"] = 100;  // == vocab_size
  EXPECT_TRUE(throws_error_with([&] { parse_model_config(j); }, {"eos_token_id", "100"}));
  j["eos_token_id"] = "2";
  EXPECT_TRUE(throws_error_with([&] { parse_model_config(j); }, {"eos_token_id"}));
}

TEST(ModelConfig, A48Block) {
  json j = small_config();
  j["a48"] = {{"activation_scheme", "a4.8"}, {"attention_bits", "4q3kv"}, {"topk_fraction", 0.25}};
  ModelConfig c = parse_model_config(j);
  EXPECT_EQ(c.activation_scheme, ActivationScheme::a48);
  EXPECT_EQ(c.attention_bits, AttentionBits::q4_kv3);
  EXPECT_EQ(c.topk_fraction, 0.25f);
  j["a48"] = {{"attention_bits", 8}};  // numbers accepted; scheme keeps the default
  c = parse_model_config(j);
  EXPECT_EQ(c.attention_bits, AttentionBits::int8);
  EXPECT_EQ(c.activation_scheme, ActivationScheme::fp);
  EXPECT_EQ(c.topk_fraction, 0.5f);
}

TEST(ModelConfig, HiddenActivations) {
  json j = small_config();
  for (const auto& [name, act] : {std::pair{"relu2", HiddenActivation::relu2},
                                  {"silu", HiddenActivation::silu},
                                  {"swish", HiddenActivation::silu}}) {
    j["hidden_act"] = name;
    EXPECT_EQ(parse_model_config(j).hidden_act, act) << name;
  }
  j["hidden_act"] = "gelu";
  EXPECT_TRUE(throws_error_with([&] { parse_model_config(j); }, {"hidden_act", "'gelu'"}));
}

TEST(ModelConfig, MissingRequiredFieldsAreNamed) {
  for (const char* field : {"hidden_size", "num_hidden_layers", "num_attention_heads",
                            "intermediate_size", "vocab_size"}) {
    json j = small_config();
    j.erase(field);
    EXPECT_TRUE(throws_error_with([&] { parse_model_config(j); }, {"missing", field})) << field;
    j[field] = nullptr;
    EXPECT_TRUE(throws_error_with([&] { parse_model_config(j); }, {"missing", field})) << field;
  }
  EXPECT_TRUE(throws_error_with([] { parse_model_config(json::array()); }, {"JSON object"}));
}

TEST(ModelConfig, WrongTypesAreNamed) {
  const std::vector<std::tuple<const char*, json, std::string>> cases = {
      {"hidden_size", "64", "integer"},
      {"hidden_size", 64.0, "integer"},
      {"num_key_value_heads", true, "integer"},
      {"rms_norm_eps", "1e-5", "number"},
      {"rope_theta", json::array({1}), "number"},
      {"tie_word_embeddings", 1, "true or false"},
      {"hidden_act", 2, "string"},
      {"model_type", 5, "string"},
      {"a48", "a4.8", "object"},
  };
  for (const auto& [field, value, expected] : cases) {
    json j = small_config();
    j[field] = value;
    EXPECT_TRUE(throws_error_with([&] { parse_model_config(j); },
                                  {std::string("'") + field + "'", expected}))
        << field << " = " << value.dump();
  }
  const std::vector<std::pair<json, std::string>> a48_cases = {
      {{{"activation_scheme", 4}}, "activation_scheme"},
      {{{"activation_scheme", "a9.9"}}, "a48.activation_scheme"},
      {{{"attention_bits", "3"}}, "a48.attention_bits"},
      {{{"attention_bits", 2}}, "a48.attention_bits"},
      {{{"attention_bits", 4.5}}, "a48.attention_bits"},
      {{{"topk_fraction", "half"}}, "topk_fraction"},
      {{{"topk_fraction", 0}}, "a48.topk_fraction"},
      {{{"topk_fraction", 1.5}}, "a48.topk_fraction"},
  };
  for (const auto& [block, expected] : a48_cases) {
    json j = small_config();
    j["a48"] = block;
    EXPECT_TRUE(throws_error_with([&] { parse_model_config(j); }, {expected})) << block.dump();
  }
}

TEST(ModelConfig, ValidationBounds) {
  const std::vector<std::tuple<const char*, json, std::string>> cases = {
      {"hidden_size", 0, "'hidden_size' = 0 must be positive"},
      {"num_hidden_layers", -1, "'num_hidden_layers'"},
      {"num_hidden_layers", 4096, "implausibly large"},
      {"vocab_size", int64_t{1} << 31, "'vocab_size'"},
      {"intermediate_size", int64_t{1} << 20, "'intermediate_size'"},
      {"num_attention_heads", 3, "not a multiple of num_attention_heads"},  // 64 % 3
      {"num_key_value_heads", 3, "not a multiple of num_key_value_heads"},  // 4 % 3
      {"num_attention_heads", 64, "must be even for RoPE"},                 // head_dim 1
      {"rms_norm_eps", 0.0, "'rms_norm_eps'"},
      {"rms_norm_eps", 2.0, "'rms_norm_eps'"},
      {"rope_theta", -1.0, "'rope_theta'"},
      {"max_position_embeddings", 0, "'max_position_embeddings'"},
  };
  for (const auto& [field, value, expected] : cases) {
    json j = small_config();
    j[field] = value;
    EXPECT_TRUE(throws_error_with([&] { parse_model_config(j); }, {expected}))
        << field << " = " << value.dump();
  }
  EXPECT_NO_THROW(parse_model_config(small_config()));
}

TEST(ModelConfig, FieldsThatWouldChangeTheMathsAreRefused) {
  json j = small_config();
  j["head_dim"] = 16;  // == 64 / 4: consistent, accepted
  j["rope_scaling"] = nullptr;
  EXPECT_NO_THROW(parse_model_config(j));
  j["head_dim"] = 32;
  EXPECT_TRUE(throws_error_with([&] { parse_model_config(j); }, {"'head_dim' = 32"}));
  j["head_dim"] = 16;
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
  EXPECT_TRUE(throws_error_with([&] { parse_model_config(j); }, {"'rope_scaling'"}));
}

void expect_same(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.num_key_value_heads, b.num_key_value_heads);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.hidden_act, b.hidden_act);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_id, b.eos_token_id);
  EXPECT_EQ(a.activation_scheme, b.activation_scheme);
  EXPECT_EQ(a.attention_bits, b.attention_bits);
  EXPECT_EQ(a.topk_fraction, b.topk_fraction);
}

TEST(ModelConfig, JsonRoundTrip) {
  ModelConfig c = parse_model_config(bitnet_2b4t_config());
  c.activation_scheme = ActivationScheme::a48_fp4;
  c.attention_bits = AttentionBits::int4;
  c.topk_fraction = 0.3f;  // not exact in binary: must still come back bit-identical
  c.rms_norm_eps = 1.0 / 3.0 * 1e-5;
  json j = model_config_to_json(c);
  EXPECT_EQ(j["model_type"], "bitnet");
  EXPECT_EQ(j["architectures"], json::array({"BitNetForCausalLM"}));
  EXPECT_EQ(j["a48"]["attention_bits"], "4");
  expect_same(parse_model_config(json::parse(j.dump())), c);

  // fp scheme, silu, untied, no token ids: nothing may come back as a model_type default.
  ModelConfig d = parse_model_config(small_config());
  d.attention_bits = AttentionBits::q4_kv3;
  expect_same(parse_model_config(json::parse(model_config_to_json(d).dump())), d);
}

TEST(ModelConfig, AttentionBitsNames) {
  const std::vector<std::tuple<AttentionBits, const char*, int, int>> table = {
      {AttentionBits::fp16, "16", 16, 16},
      {AttentionBits::int8, "8", 8, 8},
      {AttentionBits::int4, "4", 4, 4},
      {AttentionBits::q4_kv3, "4q3kv", 4, 3},  // §3.1: 4-bit Q, 3-bit KV cache
  };
  for (const auto& [bits, name, q, kv] : table) {
    EXPECT_EQ(parse_attention_bits(name), bits);
    EXPECT_EQ(to_string(bits), name);
    EXPECT_EQ(query_bits(bits), q) << name;
    EXPECT_EQ(kv_cache_bits(bits), kv) << name;
  }
  EXPECT_TRUE(throws_error_with([] { parse_attention_bits("3"); }, {"'3'"}));
}

TEST(ModelConfig, LoadFromFileNamesThePath) {
  test::TempDir dir;
  test::write_text(dir / "config.json", bitnet_2b4t_config().dump());
  EXPECT_EQ(load_model_config(dir / "config.json").hidden_size, 2560);
  test::write_text(dir / "bad.json", "{\"hidden_size\": ");
  EXPECT_TRUE(
      throws_error_with([&] { load_model_config(dir / "bad.json"); }, {"bad.json", "JSON"}));
  test::write_text(dir / "short.json", R"({"hidden_size": 64})");
  EXPECT_TRUE(throws_error_with([&] { load_model_config(dir / "short.json"); },
                                {"short.json", "num_hidden_layers"}));
  EXPECT_TRUE(throws_error_with([&] { load_model_config(dir / "absent.json"); }, {"absent.json"}));
}

}  // namespace
}  // namespace a48
