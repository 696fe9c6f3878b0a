#include "ref/cross_entropy.h"

#include <cmath>

#include "core/error.h"

namespace a48::ref {

double cross_entropy(std::span<const float> logits, int64_t target, double scale,
                     std::span<float> dlogits) {
  check(!logits.empty(), "cross_entropy: empty logits row");
  const auto vocab = static_cast<int64_t>(logits.size());
  check(target >= 0 && target < vocab, "cross_entropy: target {} outside [0, {})", target, vocab);
  check(dlogits.empty() || dlogits.size() == logits.size(),
        "cross_entropy: dlogits has {} values, logits {}", dlogits.size(), logits.size());
  double max = logits[0];
  for (std::size_t j = 0; j < logits.size(); ++j) {
    check(std::isfinite(logits[j]), "cross_entropy: logit {} at index {} is not finite", logits[j],
          j);
    if (logits[j] > max) max = logits[j];
  }
  double sum = 0.0;
  for (float z : logits) sum += std::exp(static_cast<double>(z) - max);
  const double log_sum = max + std::log(sum);  // log(sum_j exp(z_j))
  if (!dlogits.empty()) {
    for (std::size_t j = 0; j < logits.size(); ++j) {
      const double p = std::exp(static_cast<double>(logits[j]) - log_sum);
      const double onehot = static_cast<int64_t>(j) == target ? 1.0 : 0.0;
      dlogits[j] = static_cast<float>(scale * (p - onehot));
    }
  }
  return log_sum - logits[static_cast<std::size_t>(target)];
}

}  // namespace a48::ref
