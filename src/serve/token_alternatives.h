// Per-token log-probabilities for the API's `logprobs`: the chosen token's and the top-N
// alternatives', with exactly model/token_logprobs.h's arithmetic, so that a prompt token's
// logprob equals `a48 score`'s and the best alternative of a greedy token equals the token's own
// value bit for bit (lm-evaluation-harness compares them with != to decide is_greedy).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace a48::serve {

struct TokenAlternative {
  int32_t id = 0;
  double logprob = 0;
};

struct TokenLogprobEntry {
  int32_t id = 0;
  double logprob = 0;
  std::vector<TokenAlternative> top;  // most likely first (ties: lower id first)
};

// `logits` is one row [V]; top_n in [0, V].
TokenLogprobEntry token_logprob_entry(std::span<const float> logits, int32_t target, int top_n);

}  // namespace a48::serve
