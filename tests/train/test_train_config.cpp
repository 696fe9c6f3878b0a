#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "train/train_config.h"

namespace a48 {
namespace {

nlohmann::json small_config() {
  return {{"model",
           {{"model_type", "bitnet"}, {"hidden_size", 64}, {"num_hidden_layers", 2},
            {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"intermediate_size", 160},
            {"vocab_size", 97}, {"max_position_embeddings", 128}, {"hidden_act", "relu2"},
            {"a48", {{"activation_scheme", "a4.8"}}}}},
          {"train_shard", "train.tok"},
          {"valid_shard", "valid.tok"},
          {"seq_len", 64},
          {"micro_batch", 4},
          {"grad_accum", 2},
          {"total_tokens", 100000}};
}

TEST(TrainConfig, ParsesAndDerivesSteps) {
  const TrainConfig c = parse_train_config(small_config());
  c.validate();
  EXPECT_EQ(c.model.activation_scheme, ActivationScheme::a48);
  EXPECT_EQ(c.tokens_per_step(1), 64 * 4 * 2);
  EXPECT_EQ(c.total_steps(1), 100000 / 512);  // 195
  EXPECT_EQ(c.total_steps(2), 100000 / 1024);
  const ScheduleConfig s = c.schedule(1);
  EXPECT_EQ(s.total_steps, 195);
  EXPECT_EQ(s.warmup_steps, 375);  // Appendix A default
  EXPECT_EQ(s.final_scheme, ActivationScheme::a48);
}

TEST(TrainConfig, RoundTripsThroughJson) {
  const TrainConfig c = parse_train_config(small_config());
  const TrainConfig again = parse_train_config(train_config_to_json(c));
  EXPECT_EQ(train_config_to_json(again), train_config_to_json(c));
}

TEST(TrainConfig, BadFieldsAreNamed) {
  auto json = small_config();
  json["learning_rate"] = 1e-3;
  try {
    parse_train_config(json);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("learning_rate"), std::string::npos);
  }
  json = small_config();
  json["seq_len"] = "long";
  try {
    parse_train_config(json);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("seq_len"), std::string::npos);
  }
  json = small_config();
  json["seq_len"] = 4096;  // past max_position_embeddings
  EXPECT_THROW(parse_train_config(json).validate(), Error);
  json = small_config();
  json.erase("model");
  EXPECT_THROW(parse_train_config(json), Error);
}

}  // namespace
}  // namespace a48
