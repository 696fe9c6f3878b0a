#include "train/train_config.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

#include "core/error.h"

namespace a48 {
namespace {

template <class T>
void read_field(const nlohmann::json& json, const char* key, T& value) {
  if (!json.contains(key)) return;
  try {
    value = json.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("train config: field '{}' has the wrong type ({})", key, json.at(key).type_name());
  }
}

}  // namespace

int64_t TrainConfig::total_steps(int world) const {
  return std::max<int64_t>(1, total_tokens / tokens_per_step(world));
}

ScheduleConfig TrainConfig::schedule(int world) const {
  ScheduleConfig s;
  s.total_steps = total_steps(world);
  s.warmup_steps = warmup_steps;
  s.peak_lr = peak_lr;
  s.second_lr = second_lr;
  s.weight_decay = weight_decay;
  s.two_stage_lr = two_stage_lr;
  s.stage2_fraction = stage2_fraction;
  s.final_scheme = model.activation_scheme;
  return s;
}

AdamWHyper TrainConfig::adamw(double lr, double weight_decay_now) const {
  return {lr, beta1, beta2, adam_eps, weight_decay_now};
}

void TrainConfig::validate() const {
  model.validate();
  check(!train_shard.empty(), "train config: train_shard is required");
  check(!valid_shard.empty(), "train config: valid_shard is required");
  check(seq_len >= 2 && seq_len <= model.max_position_embeddings,
        "train config: seq_len {} must be in [2, max_position_embeddings = {}]", seq_len,
        model.max_position_embeddings);
  check(micro_batch >= 1, "train config: micro_batch must be >= 1");
  check(grad_accum >= 1, "train config: grad_accum must be >= 1");
  check(total_tokens > 0, "train config: total_tokens must be > 0");
  check(peak_lr > 0 && second_lr > 0, "train config: learning rates must be > 0");
  check(warmup_steps >= 0, "train config: warmup_steps must be >= 0");
  check(weight_decay >= 0, "train config: weight_decay must be >= 0");
  check(stage2_fraction >= 0 && stage2_fraction <= 1, "train config: stage2_fraction in [0, 1]");
  check(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "train config: betas in [0, 1)");
  check(adam_eps > 0, "train config: adam_eps must be > 0");
  check(grad_clip >= 0, "train config: grad_clip must be >= 0 (0 = off)");
  check(eval_every >= 0 && checkpoint_every >= 0 && log_every >= 1,
        "train config: eval_every/checkpoint_every >= 0, log_every >= 1");
  check(eval_tokens >= seq_len, "train config: eval_tokens must be >= seq_len");
  check(keep_last >= 1, "train config: keep_last must be >= 1");
}

TrainConfig parse_train_config(const nlohmann::json& json) {
  check(json.is_object(), "train config: expected a JSON object");
  static const std::set<std::string> known = {
      "model", "train_shard", "valid_shard", "tokenizer", "seq_len", "micro_batch", "grad_accum",
      "total_tokens", "peak_lr", "second_lr", "warmup_steps", "weight_decay", "two_stage_lr",
      "stage2_fraction", "beta1", "beta2", "adam_eps", "grad_clip", "eval_every", "eval_tokens",
      "checkpoint_every", "keep_last", "log_every", "seed"};
  for (const auto& [key, value] : json.items()) {
    check(known.contains(key), "train config: unknown field '{}'", key);
  }
  check(json.contains("model"), "train config: field 'model' is required");
  TrainConfig c;
  c.model = parse_model_config(json.at("model"));
  read_field(json, "train_shard", c.train_shard);
  read_field(json, "valid_shard", c.valid_shard);
  read_field(json, "tokenizer", c.tokenizer);
  read_field(json, "seq_len", c.seq_len);
  read_field(json, "micro_batch", c.micro_batch);
  read_field(json, "grad_accum", c.grad_accum);
  read_field(json, "total_tokens", c.total_tokens);
  read_field(json, "peak_lr", c.peak_lr);
  read_field(json, "second_lr", c.second_lr);
  read_field(json, "warmup_steps", c.warmup_steps);
  read_field(json, "weight_decay", c.weight_decay);
  read_field(json, "two_stage_lr", c.two_stage_lr);
  read_field(json, "stage2_fraction", c.stage2_fraction);
  read_field(json, "beta1", c.beta1);
  read_field(json, "beta2", c.beta2);
  read_field(json, "adam_eps", c.adam_eps);
  read_field(json, "grad_clip", c.grad_clip);
  read_field(json, "eval_every", c.eval_every);
  read_field(json, "eval_tokens", c.eval_tokens);
  read_field(json, "checkpoint_every", c.checkpoint_every);
  read_field(json, "keep_last", c.keep_last);
  read_field(json, "log_every", c.log_every);
  read_field(json, "seed", c.seed);
  return c;
}

TrainConfig load_train_config(const std::filesystem::path& path) {
  std::ifstream in(path);
  check(in.good(), "cannot open train config {}", path.string());
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    fail("{}: not valid JSON: {}", path.string(), e.what());
  }
  try {
    return parse_train_config(json);
  } catch (const Error& e) {
    fail("{}: {}", path.string(), e.what());
  }
}

nlohmann::json train_config_to_json(const TrainConfig& c) {
  return {{"model", model_config_to_json(c.model)},
          {"train_shard", c.train_shard},
          {"valid_shard", c.valid_shard},
          {"tokenizer", c.tokenizer},
          {"seq_len", c.seq_len},
          {"micro_batch", c.micro_batch},
          {"grad_accum", c.grad_accum},
          {"total_tokens", c.total_tokens},
          {"peak_lr", c.peak_lr},
          {"second_lr", c.second_lr},
          {"warmup_steps", c.warmup_steps},
          {"weight_decay", c.weight_decay},
          {"two_stage_lr", c.two_stage_lr},
          {"stage2_fraction", c.stage2_fraction},
          {"beta1", c.beta1},
          {"beta2", c.beta2},
          {"adam_eps", c.adam_eps},
          {"grad_clip", c.grad_clip},
          {"eval_every", c.eval_every},
          {"eval_tokens", c.eval_tokens},
          {"checkpoint_every", c.checkpoint_every},
          {"keep_last", c.keep_last},
          {"log_every", c.log_every},
          {"seed", c.seed}};
}

}  // namespace a48
