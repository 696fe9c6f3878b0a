// Token sampling. Order (as llama.cpp): repetition penalty -> top-k -> temperature softmax ->
// top-p -> min-p -> draw. Every step is deterministic given the seed: candidates are kept in a
// total order (higher logit first, then lower id), and the uniform draw uses only the 64-bit
// output of mt19937_64, which the standard fixes on every platform (std::uniform_real_distribution
// is not portable across standard libraries, so it is not used).
#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"

namespace a48 {

void SamplingParams::validate() const {
  // Each comparison is written so that NaN fails it.
  check(std::isfinite(temperature) && temperature >= 0.0f,
        "sampling: temperature must be finite and >= 0, got {}", temperature);
  check(top_k >= 0, "sampling: top_k must be >= 0 (0 = off), got {}", top_k);
  check(top_p > 0.0f && top_p <= 1.0f, "sampling: top_p must be in (0, 1], got {}", top_p);
  check(min_p >= 0.0f && min_p <= 1.0f, "sampling: min_p must be in [0, 1], got {}", min_p);
  check(std::isfinite(repetition_penalty) && repetition_penalty > 0.0f,
        "sampling: repetition_penalty must be finite and > 0, got {}", repetition_penalty);
  check(repeat_last_n >= 0, "sampling: repeat_last_n must be >= 0, got {}", repeat_last_n);
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {
  params_.validate();
}

namespace {

struct Candidate {
  int32_t id;
  float logit;
  double p;
};

// Higher logit first, then lower id: a total order, so results never depend on the sort used.
bool ranks_before(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// CTRL-style penalty on each distinct token among the last `last_n` of `recent`, applied once.
void apply_repetition_penalty(std::vector<float>& logits, std::span<const int32_t> recent,
                              int32_t last_n, float penalty) {
  const std::size_t window = std::min(recent.size(), static_cast<std::size_t>(last_n));
  std::vector<bool> seen(logits.size(), false);
  for (std::size_t i = recent.size() - window; i < recent.size(); ++i) {
    const int32_t id = recent[i];
    check(id >= 0 && static_cast<std::size_t>(id) < logits.size(),
          "sampler: recent token {} at index {} is outside the vocabulary of {}", id, i,
          logits.size());
    if (seen[id]) continue;
    seen[id] = true;
    float& l = logits[id];
    l = l > 0.0f ? l / penalty : l * penalty;
  }
}

}  // namespace

int32_t Sampler::sample(std::span<const float> logits_in, std::span<const int32_t> recent) {
  check(!logits_in.empty(), "sampler: empty logits");
  check(logits_in.size() <= static_cast<std::size_t>(std::numeric_limits<int32_t>::max()),
        "sampler: {} logits exceed the int32 token id range", logits_in.size());
  // -inf is a legitimate mask (probability 0); NaN and +inf mean a broken forward pass.
  for (std::size_t i = 0; i < logits_in.size(); ++i) {
    const float l = logits_in[i];
    check(!std::isnan(l) && l != std::numeric_limits<float>::infinity(),
          "sampler: logit {} of token {} is not a number or +inf", l, i);
  }

  std::vector<float> logits(logits_in.begin(), logits_in.end());  // [vocab]
  if (params_.repetition_penalty != 1.0f && params_.repeat_last_n > 0) {
    apply_repetition_penalty(logits, recent, params_.repeat_last_n, params_.repetition_penalty);
  }

  // Greedy: the first maximum, i.e. the lowest id among ties.
  const auto best = std::max_element(logits.begin(), logits.end());
  check(std::isfinite(*best), "sampler: every logit is -inf, no token can be drawn");
  if (params_.temperature == 0.0f) return static_cast<int32_t>(best - logits.begin());

  std::vector<Candidate> cand;  // [n_candidates], -inf logits never enter
  cand.reserve(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (std::isfinite(logits[i])) cand.push_back({static_cast<int32_t>(i), logits[i], 0.0});
  }

  // top-k: only the k best need ordering; the others are dropped.
  if (params_.top_k > 0 && static_cast<std::size_t>(params_.top_k) < cand.size()) {
    std::partial_sort(cand.begin(), cand.begin() + params_.top_k, cand.end(), ranks_before);
    cand.resize(params_.top_k);
  } else {
    std::sort(cand.begin(), cand.end(), ranks_before);
  }

  // Softmax at temperature T in double, shifted by the maximum (cand[0]) so exp never overflows.
  const double t = params_.temperature;
  double sum = 0.0;
  for (Candidate& c : cand) {
    c.p = std::exp((static_cast<double>(c.logit) - cand[0].logit) / t);
    sum += c.p;
  }
  for (Candidate& c : cand) c.p /= sum;

  // top-p: the smallest prefix whose cumulative probability reaches p; never empty.
  if (params_.top_p < 1.0f) {
    double cumulative = 0.0;
    std::size_t keep = 0;
    while (keep < cand.size() && cumulative < params_.top_p) cumulative += cand[keep++].p;
    cand.resize(std::max<std::size_t>(keep, 1));
  }

  // min-p: keep p >= min_p * p_max. Probabilities fall along the list, so this is a prefix, and
  // the first candidate (p_max) always stays.
  if (params_.min_p > 0.0f) {
    const double threshold = static_cast<double>(params_.min_p) * cand[0].p;
    std::size_t keep = 1;
    while (keep < cand.size() && cand[keep].p >= threshold) ++keep;
    cand.resize(keep);
  }

  // Draw u in [0, total) with 53 random bits, then walk the cumulative distribution.
  double total = 0.0;
  for (const Candidate& c : cand) total += c.p;
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * total;
  double cumulative = 0.0;
  for (const Candidate& c : cand) {
    cumulative += c.p;
    if (u < cumulative) return c.id;
  }
  return cand.back().id;  // u within rounding of total
}

}  // namespace a48
