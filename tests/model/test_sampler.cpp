// Token sampler: greedy, seeded draws, top-k / top-p / min-p filters, repetition penalty.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "core/error.h"
#include "model/sampler.h"

namespace a48 {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Temperature T with every filter off.
SamplingParams plain(float temperature, uint64_t seed = 0) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.repetition_penalty = 1.0f;
  p.seed = seed;
  return p;
}

std::vector<float> log_probs(const std::vector<double>& p) {
  std::vector<float> l;
  for (double v : p) l.push_back(static_cast<float>(std::log(v)));
  return l;
}

// Draw n tokens from a fresh sampler and return the frequency of each id.
std::vector<double> frequencies(const SamplingParams& params, const std::vector<float>& logits,
                                int n) {
  Sampler sampler(params);
  std::vector<double> count(logits.size(), 0.0);
  for (int i = 0; i < n; ++i) count.at(sampler.sample(logits, {}))++;
  for (double& c : count) c /= n;
  return count;
}

TEST(Sampler, GreedyPicksArgmaxLowestIdOnTies) {
  Sampler s(plain(0.0f));
  EXPECT_EQ(s.sample(std::vector<float>{1, 3, 2, 3}, {}), 1);
  EXPECT_EQ(s.sample(std::vector<float>{-kInf, -5, -kInf}, {}), 1);
  EXPECT_EQ(s.sample(std::vector<float>{7}, {}), 0);
}

TEST(Sampler, SameSeedSameSequenceDifferentSeedsDiffer) {
  const std::vector<float> logits = {0.1f, 0.2f, 0.0f, -0.1f, 0.3f, 0.05f, 0.0f, 0.15f};  // flat
  auto sequence = [&](uint64_t seed) {
    Sampler s(plain(1.0f, seed));
    std::vector<int32_t> out;
    for (int i = 0; i < 200; ++i) out.push_back(s.sample(logits, {}));
    return out;
  };
  EXPECT_EQ(sequence(42), sequence(42));
  EXPECT_NE(sequence(1), sequence(2));
  // Default filters too (top-k 40, top-p 0.95, min-p 0.05).
  SamplingParams d;
  d.seed = 9;
  Sampler a(d), b(d);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(a.sample(logits, {}), b.sample(logits, {}));
}

TEST(Sampler, DrawsUseThePortableUniform) {
  // Two equal logits give p = 0.5 each, so token = (u >= 0.5) with u = (rng() >> 11) * 2^-53
  // from an mt19937_64 with the same seed: the sequence is fixed by the standard, on any platform.
  Sampler s(plain(1.0f, 12345));
  std::mt19937_64 rng(12345);
  for (int i = 0; i < 500; ++i) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    ASSERT_EQ(s.sample(std::vector<float>{0.0f, 0.0f}, {}), u < 0.5 ? 0 : 1) << i;
  }
}

TEST(Sampler, TopKOneEqualsGreedy) {
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  SamplingParams p = plain(1.3f, 77);
  p.top_k = 1;
  Sampler s(p);
  Sampler greedy(plain(0.0f));
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> logits(257);
    for (float& l : logits) l = dist(rng);
    ASSERT_EQ(s.sample(logits, {}), greedy.sample(logits, {})) << trial;
  }
  EXPECT_EQ(s.sample(std::vector<float>{3, 1, 3}, {}), 0);  // ties: lowest id
}

TEST(Sampler, EmpiricalFrequenciesMatchSoftmax) {
  // 20000 draws: the standard deviation of a frequency is sqrt(p(1-p)/20000) <= 0.0036, so a
  // tolerance of 0.015 is over 4 sigma (and the seed is fixed, so the test is deterministic).
  const std::vector<float> logits = log_probs({0.6, 0.3, 0.1});
  const double tol = 0.015;
  std::vector<double> f = frequencies(plain(1.0f, 3), logits, 20000);
  EXPECT_NEAR(f[0], 0.6, tol);
  EXPECT_NEAR(f[1], 0.3, tol);
  EXPECT_NEAR(f[2], 0.1, tol);

  // T = 2: p_i ~ sqrt(p_i) = 0.7746, 0.5477, 0.3162, sum 1.6385 -> 0.4727, 0.3343, 0.1930.
  f = frequencies(plain(2.0f, 4), logits, 20000);
  EXPECT_NEAR(f[0], 0.4727, tol);
  EXPECT_NEAR(f[1], 0.3343, tol);
  EXPECT_NEAR(f[2], 0.1930, tol);

  // top-k 2 renormalizes over the two best: 0.6/0.9 = 0.667, 0.3/0.9 = 0.333, token 2 never.
  SamplingParams k2 = plain(1.0f, 5);
  k2.top_k = 2;
  f = frequencies(k2, logits, 20000);
  EXPECT_NEAR(f[0], 2.0 / 3.0, tol);
  EXPECT_NEAR(f[1], 1.0 / 3.0, tol);
  EXPECT_EQ(f[2], 0.0);
}

TEST(Sampler, TopPExcludesTheTail) {
  // p = 0.5, 0.3, 0.15, 0.05. top_p 0.75: cumulative 0.5 < 0.75, then 0.8 >= 0.75 -> {0, 1},
  // renormalized to 0.625 / 0.375. Tokens 2 and 3 must never be drawn.
  const std::vector<float> logits = log_probs({0.5, 0.3, 0.15, 0.05});
  SamplingParams p = plain(1.0f, 6);
  p.top_p = 0.75f;
  std::vector<double> f = frequencies(p, logits, 5000);
  EXPECT_EQ(f[2], 0.0);
  EXPECT_EQ(f[3], 0.0);
  EXPECT_NEAR(f[0], 0.625, 0.03);
  EXPECT_NEAR(f[1], 0.375, 0.03);

  // A tiny top_p still keeps the single best token.
  p.top_p = 0.01f;
  f = frequencies(p, logits, 500);
  EXPECT_EQ(f[0], 1.0);
}

TEST(Sampler, MinPExcludesUnlikelyTokens) {
  // p_max = 0.5; min_p 0.2 keeps p >= 0.1: {0, 1, 2}. Token 3 (0.05) is never drawn, token 2 is.
  const std::vector<float> logits = log_probs({0.5, 0.3, 0.15, 0.05});
  SamplingParams p = plain(1.0f, 7);
  p.min_p = 0.2f;
  std::vector<double> f = frequencies(p, logits, 5000);
  EXPECT_EQ(f[3], 0.0);
  EXPECT_GT(f[2], 0.1);  // 0.15/0.95 = 0.158 expected
  // min_p 1 keeps only the most likely token.
  p.min_p = 1.0f;
  f = frequencies(p, logits, 500);
  EXPECT_EQ(f[0], 1.0);
}

TEST(Sampler, MaskedTokensAreNeverDrawn) {
  const std::vector<float> logits = {0.0f, -kInf, 0.0f, -kInf};
  std::vector<double> f = frequencies(plain(1.0f, 8), logits, 2000);
  EXPECT_EQ(f[1], 0.0);
  EXPECT_EQ(f[3], 0.0);
  EXPECT_GT(f[0], 0.4);
  EXPECT_GT(f[2], 0.4);
}

TEST(Sampler, RepetitionPenaltyChangesArgmax) {
  SamplingParams p = plain(0.0f);
  p.repetition_penalty = 1.2f;
  p.repeat_last_n = 64;
  Sampler s(p);
  // Positive logit divided: 2.0/1.2 = 1.667 < 1.9, so token 1 wins once 0 was seen.
  const std::vector<float> pos = {2.0f, 1.9f, -1.0f};
  EXPECT_EQ(s.sample(pos, std::vector<int32_t>{}), 0);
  EXPECT_EQ(s.sample(pos, std::vector<int32_t>{0}), 1);
  // Negative logit multiplied: -1.0*1.2 = -1.2 < -1.1.
  const std::vector<float> neg = {-1.0f, -1.1f};
  EXPECT_EQ(s.sample(neg, std::vector<int32_t>{0}), 1);
  // Applied once per distinct token: three 0s still give 1.667 > 1.5 (three times would be 1.157).
  const std::vector<float> once = {2.0f, 1.5f};
  EXPECT_EQ(s.sample(once, std::vector<int32_t>{0, 0, 0}), 0);
  // Only the last repeat_last_n tokens count: with 2, the 0 at the front is out of the window.
  p.repeat_last_n = 2;
  Sampler windowed(p);
  EXPECT_EQ(windowed.sample(pos, std::vector<int32_t>{0, 2, 2}), 0);
  EXPECT_EQ(windowed.sample(pos, std::vector<int32_t>{2, 0, 2}), 1);
  // A penalty of 1 (off) leaves the argmax alone.
  Sampler off(plain(0.0f));
  EXPECT_EQ(off.sample(pos, std::vector<int32_t>{0}), 0);
}

TEST(Sampler, BadParamsThrow) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NO_THROW(SamplingParams{}.validate());
  EXPECT_NO_THROW(plain(0.0f).validate());
  auto bad = [](auto mutate) {
    SamplingParams p;
    mutate(p);
    EXPECT_THROW(p.validate(), Error);
    EXPECT_THROW(Sampler{p}, Error);
  };
  bad([](SamplingParams& p) { p.temperature = -0.1f; });
  bad([&](SamplingParams& p) { p.temperature = nan; });
  bad([](SamplingParams& p) { p.temperature = kInf; });
  bad([](SamplingParams& p) { p.top_k = -1; });
  bad([](SamplingParams& p) { p.top_p = 0.0f; });
  bad([](SamplingParams& p) { p.top_p = 1.5f; });
  bad([&](SamplingParams& p) { p.top_p = nan; });
  bad([](SamplingParams& p) { p.min_p = -0.1f; });
  bad([](SamplingParams& p) { p.min_p = 1.1f; });
  bad([&](SamplingParams& p) { p.min_p = nan; });
  bad([](SamplingParams& p) { p.repetition_penalty = 0.0f; });
  bad([](SamplingParams& p) { p.repetition_penalty = -1.0f; });
  bad([&](SamplingParams& p) { p.repetition_penalty = nan; });
  bad([](SamplingParams& p) { p.repetition_penalty = kInf; });
  bad([](SamplingParams& p) { p.repeat_last_n = -1; });
}

TEST(Sampler, BadLogitsThrow) {
  Sampler s(plain(1.0f));
  EXPECT_THROW(s.sample(std::vector<float>{}, {}), Error);
  EXPECT_THROW(s.sample(std::vector<float>{0.0f, std::numeric_limits<float>::quiet_NaN()}, {}),
               Error);
  EXPECT_THROW(s.sample(std::vector<float>{0.0f, kInf}, {}), Error);
  EXPECT_THROW(s.sample(std::vector<float>{-kInf, -kInf}, {}), Error);
  Sampler g(plain(0.0f));
  EXPECT_THROW(g.sample(std::vector<float>{-kInf}, {}), Error);
  // Recent tokens outside the vocabulary are an error when the penalty reads them.
  SamplingParams p = plain(1.0f);
  p.repetition_penalty = 1.1f;
  Sampler penalised(p);
  EXPECT_THROW(penalised.sample(std::vector<float>{0, 1, 2}, std::vector<int32_t>{3}), Error);
  EXPECT_THROW(penalised.sample(std::vector<float>{0, 1, 2}, std::vector<int32_t>{-1}), Error);
}

}  // namespace
}  // namespace a48
