// A training run's settings, read from a JSON file (flags override fields):
// {
//   "model": { HF config.json fields + the "a48" block; its activation_scheme is the final one },
//   "train_shard": "data/docs-train.tok", "valid_shard": "data/docs-valid.tok",
//   "tokenizer": "models/tokenizer/tokenizer.json",
//   "seq_len": 512, "micro_batch": 32, "grad_accum": 1, "total_tokens": 200000000,
//   "peak_lr": 1.5e-3, "second_lr": 1e-3, "warmup_steps": 375, "weight_decay": 0.1,
//   "two_stage_lr": true, "stage2_fraction": 0.05,
//   "beta1": 0.9, "beta2": 0.95, "adam_eps": 1e-8, "grad_clip": 1.0,
//   "eval_every": 250, "eval_tokens": 262144, "checkpoint_every": 1000, "keep_last": 2,
//   "log_every": 10, "seed": 1
// }
// Defaults follow Appendix A (Table 7, 700M row) scaled to small models where noted.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

#include "model/config.h"
#include "train/adamw.h"
#include "train/schedule.h"

namespace a48 {

struct TrainConfig {
  ModelConfig model;
  std::string train_shard, valid_shard, tokenizer;
  int64_t seq_len = 512;
  int64_t micro_batch = 32;  // sequences per GPU per micro-step
  int64_t grad_accum = 1;
  int64_t total_tokens = 0;
  double peak_lr = 1.5e-3, second_lr = 1e-3;
  int64_t warmup_steps = 375;
  double weight_decay = 0.1;
  bool two_stage_lr = true;
  double stage2_fraction = 0.05;
  double beta1 = 0.9, beta2 = 0.95, adam_eps = 1e-8;
  double grad_clip = 1.0;
  int64_t eval_every = 250, eval_tokens = 262144;
  int64_t checkpoint_every = 1000, keep_last = 2;
  int64_t log_every = 10;
  uint64_t seed = 1;

  // Tokens per optimizer step over `world` data-parallel ranks.
  int64_t tokens_per_step(int world) const { return seq_len * micro_batch * grad_accum * world; }
  int64_t total_steps(int world) const;  // total_tokens / tokens_per_step, at least 1
  ScheduleConfig schedule(int world) const;
  AdamWHyper adamw(double lr, double weight_decay_now) const;
  void validate() const;  // throws a48::Error naming the field
};

TrainConfig parse_train_config(const nlohmann::json& json);  // unknown keys are errors
TrainConfig load_train_config(const std::filesystem::path& path);
nlohmann::json train_config_to_json(const TrainConfig& config);

}  // namespace a48
