// save_model/load_model: round trips for each WeightStorage on a small random model, HF's two
// weight_scale conventions, sharded checkpoints, and the loader's errors (missing, unknown,
// misshapen, mistyped tensors, truncated files).
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>

#include "core/half.h"
#include "format/model_files.h"
#include "format/safetensors.h"
#include "format_test_util.h"

namespace a48 {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::TempDir;
using test::throws_error_with;

ModelConfig small_config(bool tied) {
  ModelConfig c;
  c.hidden_size = 16;  // d
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;  // head_dim 4
  c.num_key_value_heads = 2;  // kv_size 8
  c.intermediate_size = 24;   // F
  c.vocab_size = 11;
  c.max_position_embeddings = 64;
  c.tie_word_embeddings = tied;
  c.bos_token_id = 1;
  c.activation_scheme = ActivationScheme::a48;
  c.attention_bits = AttentionBits::q4_kv3;
  return c;
}

std::vector<float> random_floats(std::mt19937& rng, int64_t n, float center, float spread) {
  std::normal_distribution<float> normal(center, spread);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = normal(rng);
  return v;
}

LinearWeights random_linear(std::mt19937& rng, int64_t n_out, int64_t n_in, bool keep_latent) {
  LinearWeights w;
  w.n_out = n_out;
  w.n_in = n_in;
  w.latent = random_floats(rng, n_out * n_in, 0.0f, 0.02f);
  w.quantize_from_latent();
  if (!keep_latent) w.latent.clear();  // as if loaded from a packed file
  return w;
}

// A model built tensor by tensor (not with make_random_model, so that this test fixes every shape).
Model small_model(bool tied, bool keep_latent, uint32_t seed) {
  std::mt19937 rng(seed);
  Model m;
  m.config = small_config(tied);
  const ModelConfig& c = m.config;
  const int64_t d = c.hidden_size, f = c.intermediate_size;
  m.weights.embed_tokens = random_floats(rng, c.vocab_size * d, 0.0f, 0.5f);
  m.weights.final_norm = random_floats(rng, d, 1.0f, 0.1f);
  if (!tied) m.weights.lm_head = random_floats(rng, c.vocab_size * d, 0.0f, 0.5f);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    LayerWeights layer;
    layer.attn_norm = random_floats(rng, d, 1.0f, 0.1f);
    layer.q_proj = random_linear(rng, c.q_size(), d, keep_latent);
    layer.k_proj = random_linear(rng, c.kv_size(), d, keep_latent);
    layer.v_proj = random_linear(rng, c.kv_size(), d, keep_latent);
    layer.attn_sub_norm = random_floats(rng, c.q_size(), 1.0f, 0.1f);
    layer.o_proj = random_linear(rng, d, c.q_size(), keep_latent);
    layer.ffn_norm = random_floats(rng, d, 1.0f, 0.1f);
    layer.gate_proj = random_linear(rng, f, d, keep_latent);
    layer.up_proj = random_linear(rng, f, d, keep_latent);
    layer.ffn_sub_norm = random_floats(rng, f, 1.0f, 0.1f);
    layer.down_proj = random_linear(rng, d, f, keep_latent);
    m.weights.layers.push_back(std::move(layer));
  }
  return m;
}

std::vector<float> bf16_rounded(const std::vector<float>& v) {
  std::vector<float> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = bf16_to_f32(f32_to_bf16(v[i]));
  return out;
}

// Applies `f` to every vector of floats / every projection of a model, in the same order.
void for_each_part(Model& m, const std::function<void(std::vector<float>&)>& floats,
                   const std::function<void(LinearWeights&)>& linears) {
  floats(m.weights.embed_tokens);
  floats(m.weights.final_norm);
  floats(m.weights.lm_head);
  for (LayerWeights& l : m.weights.layers) {
    for (auto* v : {&l.attn_norm, &l.attn_sub_norm, &l.ffn_norm, &l.ffn_sub_norm}) floats(*v);
    for (auto* w :
         {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj})
      linears(*w);
  }
}

void expect_same_linear(const LinearWeights& a, const LinearWeights& b) {
  EXPECT_EQ(a.n_out, b.n_out);
  EXPECT_EQ(a.n_in, b.n_in);
  EXPECT_EQ(a.latent, b.latent);
  EXPECT_EQ(a.ternary, b.ternary);
  EXPECT_EQ(a.scale, b.scale);
}

void expect_same_model(const Model& a, const Model& b) {
  EXPECT_EQ(model_config_to_json(a.config), model_config_to_json(b.config));
  EXPECT_EQ(a.weights.embed_tokens, b.weights.embed_tokens);
  EXPECT_EQ(a.weights.final_norm, b.weights.final_norm);
  EXPECT_EQ(a.weights.lm_head, b.weights.lm_head);
  ASSERT_EQ(a.weights.layers.size(), b.weights.layers.size());
  for (std::size_t i = 0; i < a.weights.layers.size(); ++i) {
    SCOPED_TRACE("layer " + std::to_string(i));
    const LayerWeights &x = a.weights.layers[i], &y = b.weights.layers[i];
    EXPECT_EQ(x.attn_norm, y.attn_norm);
    EXPECT_EQ(x.attn_sub_norm, y.attn_sub_norm);
    EXPECT_EQ(x.ffn_norm, y.ffn_norm);
    EXPECT_EQ(x.ffn_sub_norm, y.ffn_sub_norm);
    expect_same_linear(x.q_proj, y.q_proj);
    expect_same_linear(x.k_proj, y.k_proj);
    expect_same_linear(x.v_proj, y.v_proj);
    expect_same_linear(x.o_proj, y.o_proj);
    expect_same_linear(x.gate_proj, y.gate_proj);
    expect_same_linear(x.up_proj, y.up_proj);
    expect_same_linear(x.down_proj, y.down_proj);
  }
}

TEST(ModelFiles, F32RoundTripIsExact) {
  for (const bool tied : {true, false}) {
    const Model model = small_model(tied, /*keep_latent=*/true, 11);
    TempDir dir;
    save_model(model, dir.path(), WeightStorage::f32);
    EXPECT_FALSE(fs::exists(dir / "model.safetensors.tmp"));
    EXPECT_FALSE(fs::exists(dir / "config.json.tmp"));
    expect_same_model(load_model(dir.path()), model);
    const json config = json::parse(std::ifstream(dir / "config.json"));
    EXPECT_EQ(config["quantization_config"]["quantization_mode"],
              "online");  // a4.8: ternary weights
    EXPECT_EQ(SafetensorsFile(dir / "model.safetensors").metadata().at("format"), "pt");
  }
}

TEST(ModelFiles, Bf16RoundTripRoundsLatentsAndRequantizes) {
  const Model model = small_model(/*tied=*/false, true, 12);
  Model expected = model;  // bf16 values, then eq. 2 recomputed from them as the loader does
  for_each_part(
      expected, [](std::vector<float>& v) { v = bf16_rounded(v); },
      [](LinearWeights& w) {
        w.latent = bf16_rounded(w.latent);
        w.quantize_from_latent();
      });
  TempDir dir;
  save_model(model, dir.path(), WeightStorage::bf16);
  expect_same_model(load_model(dir.path()), expected);
  EXPECT_EQ(
      SafetensorsFile(dir / "model.safetensors").at("model.layers.1.mlp.up_proj.weight").dtype,
      DType::bf16);
}

TEST(ModelFiles, PackedRoundTripKeepsCodesAndScales) {
  for (const bool keep_latent : {true, false}) {
    const Model model = small_model(/*tied=*/true, keep_latent, 13);
    Model expected = model;  // codes and alpha exactly; latent gone; norms/embeddings in bf16
    for_each_part(
        expected, [](std::vector<float>& v) { v = bf16_rounded(v); },
        [](LinearWeights& w) { w.latent.clear(); });
    TempDir dir;
    save_model(model, dir.path(), WeightStorage::packed_ternary);
    expect_same_model(load_model(dir.path()), expected);

    const SafetensorsFile file(dir / "model.safetensors");
    const TensorInfo& q = file.at("model.layers.0.self_attn.q_proj.weight");
    EXPECT_EQ(q.dtype, DType::u8);
    EXPECT_EQ(q.shape, (std::vector<int64_t>{4, 16}));  // [n_out/4, n_in]
    const std::vector<int64_t> one = {1};
    EXPECT_EQ(file.read_f32("model.layers.0.self_attn.q_proj.weight_scale", one)[0],
              model.weights.layers[0].q_proj.scale);  // alpha itself: the AutoBitLinear multiplier
    const json config = json::parse(std::ifstream(dir / "config.json"));
    EXPECT_EQ(config["quantization_config"], (json{{"quant_method", "bitnet"},
                                                   {"linear_class", "autobitlinear"},
                                                   {"quantization_mode", "offline"}}));
  }
}

TEST(ModelFiles, TernaryOnlyModelSavedAsFloatsKeepsItsCodes) {
  // Without latent weights, f32 storage writes alpha * codes; reloading re-derives eq. 2 from
  // those, which gives back the same codes (|code / nonzero fraction| >= 1 clips to +-1).
  const Model model = small_model(/*tied=*/true, /*keep_latent=*/false, 14);
  TempDir dir;
  save_model(model, dir.path(), WeightStorage::f32);
  const Model loaded = load_model(dir.path());
  const LinearWeights &before = model.weights.layers[1].down_proj,
                      &after = loaded.weights.layers[1].down_proj;
  EXPECT_EQ(after.ternary, before.ternary);
  for (std::size_t i = 0; i < after.latent.size(); ++i)
    ASSERT_EQ(after.latent[i], before.scale * before.ternary[i]) << i;
}

TEST(ModelFiles, BitLinearFilesStoreTheInverseScale) {
  // transformers' BitLinear computes y / (input_scale * weight_scale): weight_scale = 1/alpha.
  const Model model = small_model(true, false, 15);
  TempDir dir;
  save_model(model, dir.path(), WeightStorage::packed_ternary);
  json config = json::parse(std::ifstream(dir / "config.json"));
  config["quantization_config"]["linear_class"] = "bitlinear";
  test::write_text(dir / "config.json", config.dump());
  const Model loaded = load_model(dir.path());
  const float s = model.weights.layers[0].k_proj.scale;
  EXPECT_EQ(loaded.weights.layers[0].k_proj.scale, 1.0f / s);
  EXPECT_EQ(loaded.weights.layers[0].k_proj.ternary, model.weights.layers[0].k_proj.ternary);

  config.erase("quantization_config");
  test::write_text(dir / "config.json", config.dump());
  EXPECT_TRUE(
      throws_error_with([&] { load_model(dir.path()); }, {"config.json", "quantization_config"}));
  config["quantization_config"] = {{"quant_method", "gptq"}};
  test::write_text(dir / "config.json", config.dump());
  EXPECT_TRUE(throws_error_with([&] { load_model(dir.path()); }, {"gptq"}));
}

// Rewrites `path` after `edit` changes its list of tensors.
struct EditableTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<std::byte> bytes;
};
void rewrite(const fs::path& path, const std::function<void(std::vector<EditableTensor>&)>& edit) {
  std::vector<EditableTensor> tensors;
  {
    const SafetensorsFile file(path);
    for (const TensorInfo& t : file.tensors())
      tensors.push_back({t.name, t.dtype, t.shape, {t.data.begin(), t.data.end()}});
  }
  edit(tensors);
  std::vector<TensorToWrite> views;
  for (const EditableTensor& t : tensors) views.push_back({t.name, t.dtype, t.shape, t.bytes});
  write_safetensors(path, views, {{"format", "pt"}});
}

EditableTensor& find(std::vector<EditableTensor>& tensors, const std::string& name) {
  for (EditableTensor& t : tensors)
    if (t.name == name) return t;
  throw std::runtime_error("test bug: no tensor " + name);
}

class ModelFilesErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    save_model(small_model(/*tied=*/true, true, 16), dir_.path(), WeightStorage::packed_ternary);
  }
  fs::path weights() const { return dir_ / "model.safetensors"; }
  ::testing::AssertionResult load_fails_with(std::initializer_list<std::string> needles) {
    return throws_error_with([&] { load_model(dir_.path()); }, needles);
  }
  TempDir dir_;
};

TEST_F(ModelFilesErrors, MissingTensor) {
  rewrite(weights(), [](auto& t) {
    std::erase_if(t, [](auto& x) { return x.name == "model.layers.1.mlp.ffn_sub_norm.weight"; });
  });
  EXPECT_TRUE(load_fails_with(
      {"missing tensor", "'model.layers.1.mlp.ffn_sub_norm.weight'", "model.safetensors"}));
}

TEST_F(ModelFilesErrors, MissingWeightScale) {
  rewrite(weights(), [](auto& t) {
    std::erase_if(t, [](auto& x) { return x.name == "model.layers.0.mlp.up_proj.weight_scale"; });
  });
  EXPECT_TRUE(load_fails_with({"'model.layers.0.mlp.up_proj.weight_scale'"}));
}

TEST_F(ModelFilesErrors, UnknownTensor) {
  rewrite(weights(), [](auto& t) {
    t.push_back({"model.layers.7.extra.weight", DType::f32, {1}, std::vector<std::byte>(4)});
  });
  EXPECT_TRUE(load_fails_with({"unknown tensor", "'model.layers.7.extra.weight'"}));
}

TEST_F(ModelFilesErrors, RotaryBuffersAndATiedLmHeadAreIgnored) {
  rewrite(weights(), [](auto& t) {
    t.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq",
                 DType::f32,
                 {2},
                 std::vector<std::byte>(8)});
    t.push_back({"lm_head.weight", DType::bf16, {11, 16}, std::vector<std::byte>(11 * 16 * 2)});
  });
  EXPECT_NO_THROW(load_model(dir_.path()));
}

TEST_F(ModelFilesErrors, WrongShape) {
  rewrite(weights(), [](auto& t) {
    EditableTensor& norm = find(t, "model.norm.weight");
    norm.shape = {8, 2};  // same byte count, wrong shape
  });
  EXPECT_TRUE(load_fails_with({"'model.norm.weight'", "[8, 2]", "[16]"}));
}

TEST_F(ModelFilesErrors, WrongPackedShape) {
  rewrite(weights(), [](auto& t) {
    find(t, "model.layers.0.self_attn.v_proj.weight").shape = {4, 8};
  });
  EXPECT_TRUE(load_fails_with({"'model.layers.0.self_attn.v_proj.weight'", "[4, 8]", "[2, 16]"}));
}

TEST_F(ModelFilesErrors, WrongDType) {
  rewrite(weights(),
          [](auto& t) { find(t, "model.layers.1.input_layernorm.weight").dtype = DType::i16; });
  EXPECT_TRUE(load_fails_with({"'model.layers.1.input_layernorm.weight'", "I16"}));
  rewrite(weights(), [](auto& t) {
    find(t, "model.layers.1.input_layernorm.weight").dtype = DType::bf16;  // undo the first edit
    find(t, "model.layers.1.self_attn.o_proj.weight").dtype = DType::i8;
  });
  EXPECT_TRUE(load_fails_with({"'model.layers.1.self_attn.o_proj.weight'", "I8"}));
}

TEST_F(ModelFilesErrors, CorruptPackedByte) {
  rewrite(weights(), [](auto& t) {
    find(t, "model.layers.0.mlp.gate_proj.weight").bytes[5] = std::byte{0xFF};
  });
  EXPECT_TRUE(load_fails_with({"'model.layers.0.mlp.gate_proj.weight'", "value 3"}));
}

TEST_F(ModelFilesErrors, BadScale) {
  rewrite(weights(), [](auto& t) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(find(t, "model.layers.1.mlp.down_proj.weight_scale").bytes.data(), &nan, 4);
  });
  EXPECT_TRUE(load_fails_with({"'model.layers.1.mlp.down_proj.weight_scale'", "nan"}));
}

TEST_F(ModelFilesErrors, TruncatedFile) {
  std::vector<char> bytes = test::read_bytes(weights());
  bytes.resize(bytes.size() - 3);
  test::write_bytes(weights(), bytes);
  EXPECT_TRUE(load_fails_with({"model.safetensors"}));
}

TEST_F(ModelFilesErrors, ConfigDoesNotMatchTheWeights) {
  json config = json::parse(std::ifstream(dir_ / "config.json"));
  config["intermediate_size"] = 28;
  test::write_text(dir_ / "config.json", config.dump());
  EXPECT_TRUE(load_fails_with({"model.layers.0.mlp.gate_proj.weight", "[7, 16]"}));
  config["intermediate_size"] = 24;
  config["tie_word_embeddings"] = false;
  test::write_text(dir_ / "config.json", config.dump());
  EXPECT_TRUE(load_fails_with({"missing tensor", "'lm_head.weight'"}));
  config["num_hidden_layers"] = "2";
  test::write_text(dir_ / "config.json", config.dump());
  EXPECT_TRUE(load_fails_with({"config.json", "'num_hidden_layers'"}));
}

TEST_F(ModelFilesErrors, NoWeightsOrConfig) {
  fs::remove(weights());
  EXPECT_TRUE(load_fails_with({"model.safetensors", "model.safetensors.index.json"}));
  fs::remove(dir_ / "config.json");
  EXPECT_TRUE(load_fails_with({"config.json"}));
}

// Splits model.safetensors into two shards and an index, as save_pretrained does for big models.
void shard(const fs::path& dir) {
  std::vector<EditableTensor> all;
  rewrite(dir / "model.safetensors", [&](auto& t) { all = t; });
  json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", json::object()}};
  std::vector<TensorToWrite> parts[2];
  for (std::size_t i = 0; i < all.size(); ++i) {
    const int part = i % 2;
    parts[part].push_back({all[i].name, all[i].dtype, all[i].shape, all[i].bytes});
    index["weight_map"][all[i].name] = fmt::format("model-0000{}-of-00002.safetensors", part + 1);
  }
  for (int part = 0; part < 2; ++part)
    write_safetensors(dir / fmt::format("model-0000{}-of-00002.safetensors", part + 1),
                      parts[part]);
  test::write_text(dir / "model.safetensors.index.json", index.dump());
  fs::remove(dir / "model.safetensors");
}

TEST(ModelFiles, ShardedCheckpoint) {
  const Model model = small_model(/*tied=*/false, true, 17);
  TempDir dir;
  save_model(model, dir.path(), WeightStorage::f32);
  shard(dir.path());
  expect_same_model(load_model(dir.path()), model);

  json index = json::parse(std::ifstream(dir / "model.safetensors.index.json"));
  const std::string moved = "model.norm.weight";
  const std::string home = index["weight_map"][moved];
  index["weight_map"][moved] = home == "model-00001-of-00002.safetensors"
                                   ? "model-00002-of-00002.safetensors"
                                   : "model-00001-of-00002.safetensors";
  test::write_text(dir / "model.safetensors.index.json", index.dump());
  EXPECT_TRUE(
      throws_error_with([&] { load_model(dir.path()); }, {"'model.norm.weight'", "weight_map"}));
  index["weight_map"][moved] = "../" + home;
  test::write_text(dir / "model.safetensors.index.json", index.dump());
  EXPECT_TRUE(throws_error_with([&] { load_model(dir.path()); }, {"not a plain file name"}));
  index["weight_map"][moved] = home;
  index["weight_map"]["ghost.weight"] = home;
  test::write_text(dir / "model.safetensors.index.json", index.dump());
  EXPECT_TRUE(
      throws_error_with([&] { load_model(dir.path()); }, {"'ghost.weight'", "missing from shard"}));
}

TEST(ModelFiles, SaveRejectsInconsistentModels) {
  TempDir dir;
  Model model = small_model(true, true, 18);
  model.weights.layers[1].attn_sub_norm.pop_back();
  EXPECT_TRUE(throws_error_with([&] { save_model(model, dir.path(), WeightStorage::f32); },
                                {"model.layers.1.self_attn.attn_sub_norm.weight", "15", "16"}));
  model = small_model(true, true, 18);
  model.weights.layers[0].q_proj.n_in = 8;
  EXPECT_TRUE(
      throws_error_with([&] { save_model(model, dir.path(), WeightStorage::packed_ternary); },
                        {"model.layers.0.self_attn.q_proj.weight", "[16, 8]", "[16, 16]"}));
  model = small_model(true, true, 18);
  model.weights.lm_head.assign(11 * 16, 0.5f);
  EXPECT_TRUE(
      throws_error_with([&] { save_model(model, dir.path(), WeightStorage::bf16); }, {"lm_head"}));
  EXPECT_FALSE(fs::exists(dir / "config.json"));
}

}  // namespace
}  // namespace a48
