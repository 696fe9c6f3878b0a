// (g) ParameterLayout: counts, HF names (as format/model_files.cpp writes them), flatten/unflatten.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "core/error.h"
#include "format/model_files.h"
#include "format/safetensors.h"
#include "train/parameter_layout.h"
#include "train/train_test_util.h"

namespace a48 {
namespace {

TEST(ParameterLayout, CountsMatchCountParameters) {
  for (bool tied : {true, false}) {
    ModelConfig c = test::tiny_train_config();
    c.tie_word_embeddings = tied;
    const ParameterLayout layout(c);
    const ParameterCounts counts = count_parameters(c);
    EXPECT_EQ(layout.total(), counts.embedding + counts.non_embedding);  // embedding has lm_head
    // 1 embedding + 11 per layer + final norm (+ lm_head).
    EXPECT_EQ(layout.tensors().size(), (tied ? 2u : 3u) + 11u * 2u);
    int64_t offset = 0, projections = 0;
    for (const ParameterTensor& t : layout.tensors()) {
      EXPECT_EQ(t.offset, offset) << t.name;  // contiguous, in order
      offset += t.numel;
      if (t.kind == ParameterTensor::Kind::projection) projections += t.numel;
      EXPECT_EQ(t.weight_decay, t.kind != ParameterTensor::Kind::norm) << t.name;
    }
    EXPECT_EQ(offset, layout.total());
    EXPECT_EQ(projections, counts.projections);
  }
}

TEST(ParameterLayout, OrderAndNames) {
  const ParameterLayout layout(test::tiny_train_config());
  const auto& t = layout.tensors();
  EXPECT_EQ(t.front().name, "model.embed_tokens.weight");
  EXPECT_EQ(t[1].name, "model.layers.0.input_layernorm.weight");
  EXPECT_EQ(t[2].name, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(t[2].shape, (std::vector<int64_t>{32, 32}));
  EXPECT_EQ(t[3].shape, (std::vector<int64_t>{16, 32}));  // k_proj: H_kv * hd = 16
  EXPECT_EQ(t[11].name, "model.layers.0.mlp.down_proj.weight");
  EXPECT_EQ(t[11].shape, (std::vector<int64_t>{32, 40}));
  EXPECT_EQ(t.back().name, "model.norm.weight");
  EXPECT_EQ(layout.at("model.layers.1.mlp.ffn_sub_norm.weight").shape, (std::vector<int64_t>{40}));
  EXPECT_THROW(layout.at("model.layers.2.mlp.ffn_sub_norm.weight"), Error);
}

// The names and shapes are those of the model files: save a model, read the safetensors header.
TEST(ParameterLayout, NamesAndValuesMatchTheSavedModelFile) {
  for (bool tied : {true, false}) {
    ModelConfig c = test::tiny_train_config();
    c.tie_word_embeddings = tied;
    const Model model = make_random_model(c, 61);
    const ParameterLayout layout(c);
    const std::vector<float> flat = flatten_parameters(model, layout);
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() /
        ("a48_layout_test_" + std::to_string(::getpid()) + (tied ? "_tied" : "_untied"));
    save_model(model, dir, WeightStorage::f32);
    {
      const SafetensorsFile file(dir / "model.safetensors");
      std::set<std::string> file_names;
      for (const TensorInfo& info : file.tensors()) file_names.insert(info.name);
      std::set<std::string> layout_names;
      for (const ParameterTensor& t : layout.tensors()) {
        layout_names.insert(t.name);
        const std::vector<float> values = file.read_f32(t.name, t.shape);
        EXPECT_TRUE(std::equal(values.begin(), values.end(), flat.begin() + t.offset)) << t.name;
      }
      EXPECT_EQ(file_names, layout_names);
      // And a model loaded back flattens to the same buffer.
      EXPECT_EQ(flatten_parameters(load_model(dir), layout), flat);
    }
    std::filesystem::remove_all(dir);
  }
}

TEST(ParameterLayout, FlattenUnflattenRoundTrip) {
  for (bool tied : {true, false}) {
    ModelConfig c = test::tiny_train_config(ActivationScheme::a48);
    c.tie_word_embeddings = tied;
    const Model model = make_random_model(c, 62);
    const ParameterLayout layout(c);
    const std::vector<float> flat = flatten_parameters(model, layout);
    const Model back = unflatten_parameters(flat, c, layout);
    EXPECT_EQ(back.weights.embed_tokens, model.weights.embed_tokens);
    EXPECT_EQ(back.weights.lm_head, model.weights.lm_head);
    EXPECT_EQ(back.weights.final_norm, model.weights.final_norm);
    for (std::size_t l = 0; l < model.weights.layers.size(); ++l) {
      const LayerWeights &a = back.weights.layers[l], &b = model.weights.layers[l];
      EXPECT_EQ(a.attn_norm, b.attn_norm);
      EXPECT_EQ(a.ffn_sub_norm, b.ffn_sub_norm);
      for (auto [x, y] : {std::pair{&a.q_proj, &b.q_proj},
                          {&a.k_proj, &b.k_proj},
                          {&a.o_proj, &b.o_proj},
                          {&a.down_proj, &b.down_proj}}) {
        EXPECT_EQ(x->latent, y->latent);
        EXPECT_EQ(x->ternary, y->ternary);  // eq. 2 re-applied on the latent weights
        EXPECT_EQ(x->scale, y->scale);
        EXPECT_EQ(x->n_out, y->n_out);
      }
    }
    EXPECT_EQ(flatten_parameters(back, layout), flat);
  }
}

TEST(ParameterLayout, RejectsMismatches) {
  const ModelConfig c = test::tiny_train_config();
  const ParameterLayout layout(c);
  Model model = make_random_model(c, 63);
  const std::vector<float> flat = flatten_parameters(model, layout);
  EXPECT_THROW(unflatten_parameters(std::span(flat).first(flat.size() - 1), c, layout), Error);
  ModelConfig wider = c;
  wider.intermediate_size = 48;
  EXPECT_THROW(unflatten_parameters(flat, wider, layout), Error);
  model.weights.layers[1].up_proj.latent.clear();  // packed-only weights cannot be trained
  EXPECT_THROW(flatten_parameters(model, layout), Error);
  ModelConfig bad = c;
  bad.num_key_value_heads = 3;
  EXPECT_THROW((ParameterLayout(bad)), Error);
}

}  // namespace
}  // namespace a48
