// Token sampling: greedy, temperature, top-k, top-p, min-p, repetition penalty, seeded.
// Order (as llama.cpp): repetition penalty -> top-k -> temperature softmax -> top-p -> min-p -> draw.
#pragma once

#include <cstdint>
#include <random>
#include <span>

namespace a48 {

struct SamplingParams {
  float temperature = 0.8f;         // 0 = greedy (argmax, lowest id on ties)
  int32_t top_k = 40;               // 0 = off
  float top_p = 0.95f;              // 1 = off
  float min_p = 0.05f;              // 0 = off; keep p >= min_p * p_max
  float repetition_penalty = 1.0f;  // 1 = off; CTRL-style: logit>0 ? logit/r : logit*r
  int32_t repeat_last_n = 64;       // how many recent tokens the penalty sees
  uint64_t seed = 0;

  void validate() const;  // throws a48::Error naming a bad value
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  // `recent` are the tokens so far (prompt + generated); the last repeat_last_n are penalised.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> recent);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
};

}  // namespace a48
