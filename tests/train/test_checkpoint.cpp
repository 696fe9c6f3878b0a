// Training checkpoints: bit-exact round trips, hostile files, and the keep-last directory.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "format/model_files.h"
#include "format/safetensors.h"
#include "train/checkpoint.h"
#include "train/parameter_layout.h"
#include "train_io_test_util.h"

namespace a48 {
namespace {

using test::error_of;
namespace fs = std::filesystem;

// d = 16, L = 2, H = 2, H_kv = 1, F = 24, V = 19, untied: 4,608 parameters.
ModelConfig small_config() {
  ModelConfig c;
  c.hidden_size = 16;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.intermediate_size = 24;
  c.vocab_size = 19;
  c.max_position_embeddings = 32;
  c.tie_word_embeddings = false;
  c.activation_scheme = ActivationScheme::a48;
  c.attention_bits = AttentionBits::q4_kv3;
  c.topk_fraction = 0.375f;
  c.bos_token_id = 0;
  return c;
}

Checkpoint random_checkpoint(uint32_t seed) {
  Checkpoint c;
  c.model = small_config();
  const int64_t total = ParameterLayout(c.model).total();
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  for (auto* values : {&c.params, &c.adam_m, &c.adam_v}) {
    values->resize(static_cast<std::size_t>(total));
    for (float& x : *values) x = normal(rng);
  }
  for (float& v : c.adam_v) v = v * v;  // second moments are >= 0
  c.adam_v[3] = std::numeric_limits<float>::denorm_min();  // bit patterns, not just values
  c.params[5] = -0.0f;
  c.step = 1234;
  c.tokens_seen = 5'000'000'123;
  c.data = {~uint64_t{0}, 2, 40};
  c.rng_state = {0, 1, ~uint64_t{0}};
  c.train_config = {{"seq_len", 512}, {"peak_lr", 1.5e-3}, {"nested", {{"a", {1, 2}}}}};
  return c;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class CheckpointTest : public test::TempDirTest {};

TEST_F(CheckpointTest, RoundTripIsBitExact) {
  const Checkpoint saved = random_checkpoint(1);
  const fs::path path = dir_ / "c.safetensors";
  save_checkpoint(path, saved);
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));
  const Checkpoint loaded = load_checkpoint(path);
  EXPECT_TRUE(same_bits(loaded.params, saved.params));
  EXPECT_TRUE(same_bits(loaded.adam_m, saved.adam_m));
  EXPECT_TRUE(same_bits(loaded.adam_v, saved.adam_v));
  EXPECT_EQ(loaded.step, 1234);
  EXPECT_EQ(loaded.tokens_seen, 5'000'000'123);
  EXPECT_EQ(loaded.data, saved.data);
  EXPECT_EQ(loaded.rng_state, saved.rng_state);
  EXPECT_EQ(loaded.train_config, saved.train_config);
  EXPECT_EQ(model_config_to_json(loaded.model), model_config_to_json(saved.model));

  const Checkpoint params_only = load_checkpoint(path, /*with_optimizer=*/false);
  EXPECT_TRUE(same_bits(params_only.params, saved.params));
  EXPECT_TRUE(params_only.adam_m.empty());
  EXPECT_TRUE(params_only.adam_v.empty());
}

TEST_F(CheckpointTest, SaveRefusesBuffersOfTheWrongSize) {
  Checkpoint c = random_checkpoint(2);
  c.adam_v.pop_back();
  const std::string error = error_of([&] { save_checkpoint(dir_ / "c.safetensors", c); });
  EXPECT_NE(error.find("'adam_v'"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(dir_ / "c.safetensors"));
}

class CheckpointHostileTest : public test::TempDirTest {
 protected:
  void SetUp() override {
    test::TempDirTest::SetUp();
    good_ = random_checkpoint(3);
    save_checkpoint(dir_ / "good.safetensors", good_);
    metadata_ = SafetensorsFile(dir_ / "good.safetensors").metadata();
    total_ = static_cast<int64_t>(good_.params.size());
  }
  // Writes a checkpoint-like file from parts and returns the error of loading it.
  std::string load_error(const std::vector<TensorToWrite>& tensors,
                         const std::map<std::string, std::string>& metadata) {
    const fs::path path = dir_ / "hostile.safetensors";
    write_safetensors(path, tensors, metadata);
    return error_of([&] { load_checkpoint(path); });
  }
  std::vector<TensorToWrite> good_tensors() const {
    const std::vector<int64_t> shape = {total_};
    return {{"params", DType::f32, shape, std::as_bytes(std::span(good_.params))},
            {"adam_m", DType::f32, shape, std::as_bytes(std::span(good_.adam_m))},
            {"adam_v", DType::f32, shape, std::as_bytes(std::span(good_.adam_v))}};
  }
  std::map<std::string, std::string> with(const std::string& key, const std::string& value) const {
    auto m = metadata_;
    m[key] = value;
    return m;
  }
  Checkpoint good_;
  std::map<std::string, std::string> metadata_;
  int64_t total_ = 0;
};

TEST_F(CheckpointHostileTest, TruncationsAreRefused) {
  const std::string bytes = test::read_bytes(dir_ / "good.safetensors");
  for (const std::size_t size : {std::size_t{0}, std::size_t{7}, std::size_t{8}, std::size_t{100},
                                 bytes.size() / 2, bytes.size() - 4, bytes.size() - 1}) {
    test::write_bytes(dir_ / "cut.safetensors", bytes.substr(0, size));
    const std::string error = error_of([&] { load_checkpoint(dir_ / "cut.safetensors"); });
    EXPECT_NE(error.find("cut.safetensors"), std::string::npos) << size << ": " << error;
  }
}

TEST_F(CheckpointHostileTest, AModelFileIsNotACheckpoint) {
  save_model(make_random_model(small_config(), 1), dir_ / "model", WeightStorage::f32);
  const std::string error = error_of([&] { load_checkpoint(dir_ / "model/model.safetensors"); });
  EXPECT_NE(error.find("not an a48 training checkpoint"), std::string::npos) << error;
}

TEST_F(CheckpointHostileTest, WrongTensorsAreNamed) {
  EXPECT_EQ(load_error(good_tensors(), metadata_), "");
  auto tensors = good_tensors();
  tensors[1].shape = {total_ - 1};
  tensors[1].data = tensors[1].data.first(tensors[1].data.size() - 4);
  std::string error = load_error(tensors, metadata_);
  EXPECT_NE(error.find("'adam_m' holds " + std::to_string(total_ - 1)), std::string::npos) << error;
  EXPECT_NE(error.find("has " + std::to_string(total_) + " parameters"), std::string::npos) << error;

  tensors = good_tensors();
  tensors[0].dtype = DType::f16;
  tensors[0].shape = {total_ * 2};
  EXPECT_NE(load_error(tensors, metadata_).find("dtype F16"), std::string::npos);

  tensors = good_tensors();
  tensors[0].shape = {total_ / 2, 2};
  EXPECT_NE(load_error(tensors, metadata_).find("flat"), std::string::npos);

  tensors = good_tensors();
  tensors.pop_back();
  EXPECT_NE(load_error(tensors, metadata_).find("'adam_v'"), std::string::npos);

  tensors = good_tensors();
  const float extra = 1;
  tensors.push_back({"lr_scale", DType::f32, {1}, std::as_bytes(std::span(&extra, 1))});
  EXPECT_NE(load_error(tensors, metadata_).find("unexpected tensor 'lr_scale'"), std::string::npos);
}

TEST_F(CheckpointHostileTest, NonFiniteValuesNameTheirParameter) {
  const ParameterLayout layout(good_.model);
  const ParameterTensor& q = layout.at("model.layers.1.self_attn.q_proj.weight");
  std::vector<float> params = good_.params;
  params[static_cast<std::size_t>(q.offset + 3)] = std::numeric_limits<float>::quiet_NaN();
  auto tensors = good_tensors();
  tensors[0].data = std::as_bytes(std::span(params));
  const std::string error = load_error(tensors, metadata_);
  EXPECT_NE(error.find("model.layers.1.self_attn.q_proj.weight element 3"), std::string::npos)
      << error;

  std::vector<float> v = good_.adam_v;
  v[0] = -1e-9f;
  tensors = good_tensors();
  tensors[2].data = std::as_bytes(std::span(v));
  EXPECT_NE(load_error(tensors, metadata_).find("second moment"), std::string::npos);
}

TEST_F(CheckpointHostileTest, BadMetadataIsNamed) {
  const auto tensors = good_tensors();
  const auto expect = [&](const std::map<std::string, std::string>& metadata,
                          const std::string& needle) {
    const std::string error = load_error(tensors, metadata);
    EXPECT_NE(error.find(needle), std::string::npos) << "want '" << needle << "' in: " << error;
  };
  expect(with("format", "pt"), "not an a48 training checkpoint");
  expect(with("format_version", "2"), "format version '2'");
  expect(with("step", "-1"), "'step' = '-1'");
  expect(with("step", "12x"), "'step' = '12x'");
  expect(with("tokens_seen", ""), "'tokens_seen' = ''");
  expect(with("model_config", "{not json"), "'model_config' is not valid JSON");
  expect(with("model_config", R"({"hidden_size": 16})"), "model_config");
  expect(with("train_config", "[1]"), "'train_config' must be a JSON object");
  expect(with("data_loader", R"({"seed": 1, "epoch": 0})"), "cursor");
  expect(with("rng_state", "[1, -2]"), "'rng_state'[1]");
  auto missing = metadata_;
  missing.erase("data_loader");
  expect(missing, "no 'data_loader'");
  // A config of another size: the tensors no longer fit it.
  ModelConfig bigger = good_.model;
  bigger.intermediate_size = 32;
  expect(with("model_config", model_config_to_json(bigger).dump()), "'params' holds");
}

TEST_F(CheckpointTest, DirectoryKeepsTheLatest) {
  Checkpoint c = random_checkpoint(4);
  EXPECT_EQ(checkpoint_path(dir_, 42).filename(), "step_0000000042.safetensors");
  EXPECT_FALSE(latest_checkpoint(dir_).has_value());
  EXPECT_FALSE(latest_checkpoint(dir_ / "absent").has_value());
  test::write_bytes(dir_ / "notes.txt", "x");
  test::write_bytes(dir_ / "step_0000000099.safetensors.tmp", "half-written");
  for (const int64_t step : {1, 5, 10}) {
    c.step = step;
    c.params[0] = static_cast<float>(step);
    save_checkpoint_in_dir(dir_, c, 2);
  }
  const std::vector<fs::path> kept = list_checkpoints(dir_);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0], checkpoint_path(dir_, 5));
  EXPECT_EQ(kept[1], checkpoint_path(dir_, 10));
  EXPECT_EQ(latest_checkpoint(dir_), checkpoint_path(dir_, 10));
  EXPECT_EQ(load_checkpoint(*latest_checkpoint(dir_)).params[0], 10.0f);
  EXPECT_TRUE(fs::exists(dir_ / "notes.txt")) << "other files are left alone";

  c.step = 11;
  save_checkpoint_in_dir(dir_, c, 0);  // keep all
  EXPECT_EQ(list_checkpoints(dir_).size(), 3u);
  c.step = 12;
  save_checkpoint_in_dir(dir_, c, 1);
  EXPECT_EQ(list_checkpoints(dir_), std::vector<fs::path>{checkpoint_path(dir_, 12)});
}

}  // namespace
}  // namespace a48
