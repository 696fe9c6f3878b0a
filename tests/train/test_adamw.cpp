// (f) AdamW against a hand-computed two-step example, the decay mask, gradient norm and clipping.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "ref/random_vectors.h"
#include "train/adamw.h"

namespace a48 {
namespace {

TEST(AdamW, TwoStepsByHand) {
  // lr 0.1, betas (0.9, 0.95), eps 1e-8, wd 0.1; p = [1, -2], decay on p[0] only.
  // Step 1, g = [0.5, -1]: m = 0.1 g = [0.05, -0.1], v = 0.05 g^2 = [0.0125, 0.05];
  //   m_hat = m / 0.1 = [0.5, -1], v_hat = v / 0.05 = [0.25, 1] -> m_hat / sqrt(v_hat) = [1, -1].
  //   p[0] = 1 * (1 - 0.1 * 0.1) - 0.1 * 1 = 0.89;  p[1] = -2 + 0.1 = -1.9.
  // Step 2, g = [0.1, 0.2]: m = [0.045 + 0.01, -0.09 + 0.02] = [0.055, -0.07],
  //   v = [0.011875 + 0.0005, 0.0475 + 0.002] = [0.012375, 0.0495]; corrections 0.19 and 0.0975:
  //   p[0] = 0.89 * 0.99 - 0.1 * (0.055/0.19) / sqrt(0.012375/0.0975) = 0.8811 - 0.0812529
  //        = 0.7998471;
  //   p[1] = -1.9 + 0.1 * (0.07/0.19) / sqrt(0.0495/0.0975) = -1.9 + 0.0517064 = -1.8482936.
  std::vector<float> p = {1.0f, -2.0f}, m = {0, 0}, v = {0, 0};
  const std::vector<uint8_t> mask = {1, 0};
  AdamWHyper hyper;
  hyper.lr = 0.1;
  hyper.weight_decay = 0.1;
  adamw_update(p, std::vector<float>{0.5f, -1.0f}, m, v, mask, hyper, 1);
  EXPECT_NEAR(p[0], 0.89f, 1e-7);
  EXPECT_NEAR(p[1], -1.9f, 1e-7);
  EXPECT_FLOAT_EQ(m[0], 0.05f);
  EXPECT_FLOAT_EQ(v[1], 0.05f);
  adamw_update(p, std::vector<float>{0.1f, 0.2f}, m, v, mask, hyper, 2);
  EXPECT_NEAR(p[0], 0.7998471, 2e-7);
  EXPECT_NEAR(p[1], -1.8482936, 2e-7);
  EXPECT_FLOAT_EQ(m[0], 0.055f);
  EXPECT_FLOAT_EQ(m[1], -0.07f);
  EXPECT_FLOAT_EQ(v[0], 0.012375f);
  EXPECT_FLOAT_EQ(v[1], 0.0495f);
}

TEST(AdamW, DecayMaskAppliesDecayOnlyWhereSet) {
  // A zero gradient leaves the Adam step at 0 (m = v = 0): only the decay moves p, by 1 - lr*wd.
  std::vector<float> p = test::random_floats(33, 1), m(33, 0.0f), v(33, 0.0f);
  const std::vector<float> before = p, zero(33, 0.0f);
  std::vector<uint8_t> mask(33);
  for (std::size_t i = 0; i < mask.size(); ++i) mask[i] = i % 3 == 0;
  AdamWHyper hyper;
  hyper.lr = 0.5;
  hyper.weight_decay = 0.2;
  adamw_update(p, zero, m, v, mask, hyper, 1);
  for (std::size_t i = 0; i < p.size(); ++i) {
    EXPECT_FLOAT_EQ(p[i], mask[i] ? before[i] * 0.9f : before[i]) << i;
  }
}

TEST(AdamW, RejectsBadArguments) {
  std::vector<float> p(4), g(4), m(4), v(4), short_v(3);
  const std::vector<uint8_t> mask(4, 1);
  EXPECT_THROW(adamw_update(p, g, m, short_v, mask, {}, 1), Error);
  EXPECT_THROW(adamw_update(p, g, m, v, mask, {}, 0), Error);
  AdamWHyper bad;
  bad.beta2 = 1.0;
  EXPECT_THROW(adamw_update(p, g, m, v, mask, bad, 1), Error);
}

TEST(AdamW, GradientNormAndClipFactor) {
  // [3, 4, 0, 12]: sqrt(9 + 16 + 144) = 13.
  EXPECT_DOUBLE_EQ(gradient_norm(std::vector<float>{3, 4, 0, 12}), 13.0);
  EXPECT_DOUBLE_EQ(gradient_norm(std::vector<float>{}), 0.0);
  EXPECT_DOUBLE_EQ(clip_factor(13.0, 1.0), 1.0 / 13.0);
  EXPECT_DOUBLE_EQ(clip_factor(0.5, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(clip_factor(1.0, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(clip_factor(0.0, 1.0), 1.0);
  EXPECT_THROW(clip_factor(std::numeric_limits<double>::quiet_NaN(), 1.0), Error);
  EXPECT_THROW(clip_factor(std::numeric_limits<double>::infinity(), 1.0), Error);
  EXPECT_THROW(clip_factor(1.0, 0.0), Error);
}

}  // namespace
}  // namespace a48
