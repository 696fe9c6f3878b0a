// Log-probabilities of each token given those before it: what `score`, `perplexity` and the
// server's logprobs/echo all report.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "model/engine.h"

namespace a48 {

struct TokenLogprob {
  double logprob = 0;     // log p(token | previous tokens), natural log
  bool is_greedy = false;  // the token is the argmax of its distribution
};

// Scores tokens[1..n) given their prefixes (tokens[0] has no prediction), running the engine in
// chunks of `chunk_tokens` over one sequence of capacity tokens.size(). `on_progress(done)`
// reports tokens processed; `sparsity` accumulates Table 2's counters. Returns n-1 entries;
// entry i is for tokens[i+1].
std::vector<TokenLogprob> score_tokens(Engine& engine, std::span<const int32_t> tokens,
                                       int64_t chunk_tokens = 64,
                                       const std::function<void(int64_t)>& on_progress = {},
                                       SparsityStats* sparsity = nullptr);

// log softmax(logits)[target] in double precision, and whether target is the argmax.
TokenLogprob logprob_of(std::span<const float> logits, int32_t target);

}  // namespace a48
