// Eq. 1: top-K sparsification.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "quant/quant_quality.h"
#include "quant/topk_sparsify.h"

namespace a48 {
namespace {

TEST(TopkSparsify, KeepCount) {
  EXPECT_EQ(topk_keep_count(10, 0.5f), 5);
  EXPECT_EQ(topk_keep_count(2560, 0.5f), 1280);  // the paper's K = 50% on the 2B hidden size
  EXPECT_EQ(topk_keep_count(7, 0.5f), 4);        // ceil(3.5)
  EXPECT_EQ(topk_keep_count(1, 0.5f), 1);
  EXPECT_EQ(topk_keep_count(3, 0.34f), 2);  // ceil(1.02)
  EXPECT_EQ(topk_keep_count(10, 0.1f), 1);  // 0.1f*10 = 1.0000000149 is 1, not 2
  EXPECT_EQ(topk_keep_count(10, 0.3f), 3);
  EXPECT_EQ(topk_keep_count(100, 0.07f), 7);
  EXPECT_EQ(topk_keep_count(0, 0.5f), 0);
  EXPECT_EQ(topk_keep_count(33, 0.0f), 0);
  EXPECT_EQ(topk_keep_count(33, 1.0f), 33);
  EXPECT_THROW(topk_keep_count(10, -0.1f), Error);
  EXPECT_THROW(topk_keep_count(10, 1.5f), Error);
  EXPECT_THROW(topk_keep_count(10, std::numeric_limits<float>::quiet_NaN()), Error);
  EXPECT_THROW(topk_keep_count(-1, 0.5f), Error);
}

TEST(TopkSparsify, HandWorkedVector) {
  // n = 6, keep ceil(3) = 3 largest |x|: |-3|, |2|, |-2|; 0.5, 1 and 0 are dropped.
  std::vector<float> x = {0.5f, -3.0f, 2.0f, -2.0f, 1.0f, 0.0f};
  sparsify_topk(x, 0.5f);
  EXPECT_EQ(x, (std::vector<float>{0, -3, 2, -2, 0, 0}));
}

TEST(TopkSparsify, TiesKeepLowerIndex) {
  // All |x| = 1, keep 2 of 4: indices 0 and 1. Then 3 of 5 with ties at |2|: 7 first, then the
  // lower-index 2 (index 1), the -2 at index 3 kept as third; the 2 at index 4 is dropped.
  std::vector<float> x = {1, -1, 1, 1};
  sparsify_topk(x, 0.5f);
  EXPECT_EQ(x, (std::vector<float>{1, -1, 0, 0}));

  x = {0.5f, 2, 7, -2, 2};
  sparsify_topk(x, 0.6f);
  EXPECT_EQ(x, (std::vector<float>{0, 2, 7, -2, 0}));
}

TEST(TopkSparsify, KeepAllAndKeepNone) {
  std::mt19937 rng(3);
  const std::vector<float> orig = test::gaussian_vector(rng, 33);
  std::vector<float> x = orig;
  sparsify_topk(x, 1.0f);
  EXPECT_EQ(x, orig);
  sparsify_topk(x, 0.0f);
  for (float v : x) EXPECT_EQ(v, 0.0f);
  std::vector<float> empty;
  sparsify_topk(empty, 0.5f);  // no-op, no throw
}

TEST(TopkSparsify, NonFiniteThrows) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> x = {1.0f, bad, 2.0f, 3.0f};
    try {
      sparsify_topk(x, 0.5f);
      FAIL() << "no throw for " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("sparsify_topk"), std::string::npos);
    }
  }
  std::vector<float> x = {1.0f, 2.0f};
  EXPECT_THROW(sparsify_topk(x, 2.0f), Error);
}

TEST(TopkSparsify, RandomVectorsKeepExactlyTheLargest) {
  // Values from a small integer set make ties common, so the tie rule is exercised too.
  std::mt19937 rng(2024);
  std::uniform_int_distribution<int> small(1, 4);
  std::bernoulli_distribution negative(0.5);
  for (std::size_t n : test::kAwkwardSizes) {
    for (float fraction : {0.1f, 0.5f, 0.55f, 0.9f}) {
      for (bool with_ties : {false, true}) {
        std::vector<float> orig = with_ties ? std::vector<float>(n) : test::gaussian_vector(rng, n);
        if (with_ties) {
          for (float& v : orig) v = static_cast<float>(negative(rng) ? -small(rng) : small(rng));
        }
        std::vector<float> x = orig;
        sparsify_topk(x, fraction);
        const int64_t keep = topk_keep_count(static_cast<int64_t>(n), fraction);
        int64_t kept = 0;
        for (std::size_t i = 0; i < n; ++i) {
          if (x[i] != 0.0f) {
            ++kept;
            EXPECT_EQ(x[i], orig[i]);  // kept values unchanged
          }
        }
        ASSERT_EQ(kept, keep) << "n=" << n << " fraction=" << fraction;
        for (std::size_t i = 0; i < n; ++i) {
          if (x[i] == 0.0f) continue;
          for (std::size_t j = 0; j < n; ++j) {
            if (x[j] != 0.0f) continue;  // j dropped: |orig_j| < |orig_i|, or equal with j > i
            const float ai = std::fabs(orig[i]), aj = std::fabs(orig[j]);
            ASSERT_TRUE(ai > aj || (ai == aj && i < j)) << "n=" << n << " i=" << i << " j=" << j;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace a48
