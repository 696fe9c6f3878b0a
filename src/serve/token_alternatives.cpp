#include "serve/token_alternatives.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "model/token_logprobs.h"

namespace a48::serve {

TokenLogprobEntry token_logprob_entry(std::span<const float> logits, int32_t target, int top_n) {
  TokenLogprobEntry entry;
  entry.id = target;
  entry.logprob = logprob_of(logits, target).logprob;  // the definition `a48 score` uses
  if (top_n <= 0) return entry;
  // The same max, sum order and expression as logprob_of, for bit-equal values.
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (const float logit : logits) sum += std::exp(static_cast<double>(logit) - max_logit);
  const double log_sum = std::log(sum);

  const auto n = std::min<std::size_t>(static_cast<std::size_t>(top_n), logits.size());
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(),
                    [&](int32_t a, int32_t b) {
                      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
                    });
  entry.top.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const int32_t id = ids[i];
    entry.top.push_back({id, static_cast<double>(logits[id]) - max_logit - log_sum});
  }
  return entry;
}

}  // namespace a48::serve
