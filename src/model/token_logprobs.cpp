#include "model/token_logprobs.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace a48 {

TokenLogprob logprob_of(std::span<const float> logits, int32_t target) {
  check(target >= 0 && static_cast<std::size_t>(target) < logits.size(),
        "token id {} is outside the vocabulary of {}", target, logits.size());
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (const float logit : logits) sum += std::exp(static_cast<double>(logit) - max_logit);
  const double logprob = static_cast<double>(logits[target]) - max_logit - std::log(sum);
  // Greedy means no token beats the target; ties go to the lower id, as the greedy sampler does.
  const auto first_max = std::find(logits.begin(), logits.end(), max_logit) - logits.begin();
  return {logprob, first_max == target};
}

std::vector<TokenLogprob> score_tokens(Engine& engine, std::span<const int32_t> tokens,
                                       int64_t chunk_tokens,
                                       const std::function<void(int64_t)>& on_progress,
                                       SparsityStats* sparsity) {
  check(chunk_tokens > 0, "chunk size must be positive");
  const int64_t n = static_cast<int64_t>(tokens.size());
  std::vector<TokenLogprob> scores;
  if (n < 2) return scores;
  scores.reserve(n - 1);
  const int64_t vocab = engine.config().vocab_size;
  const std::unique_ptr<SequenceState> sequence = engine.new_sequence(n);
  for (int64_t begin = 0; begin < n; begin += chunk_tokens) {
    const int64_t end = std::min(n, begin + chunk_tokens);
    const std::span<const int32_t> chunk = tokens.subspan(begin, end - begin);
    const EngineStep step{sequence.get(), chunk, /*all_logits=*/true};
    const std::vector<float> logits = engine.forward(std::span(&step, 1), sparsity);
    // Row j predicts token begin + j + 1.
    for (int64_t j = 0; j < end - begin && begin + j + 1 < n; ++j) {
      const std::span<const float> row(logits.data() + j * vocab, vocab);
      scores.push_back(logprob_of(row, tokens[begin + j + 1]));
    }
    if (on_progress) on_progress(end);
  }
  return scores;
}

}  // namespace a48
