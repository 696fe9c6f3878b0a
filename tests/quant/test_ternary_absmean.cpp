// Eq. 2: ternary absmean weight quantizer.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "quant/quant_common.h"
#include "quant/quant_quality.h"
#include "quant/ternary_absmean.h"

namespace a48 {
namespace {

TEST(TernaryAbsmean, HandWorkedVector) {
  // sum|w| = 0.5+1.5+0.25+0+2+0.75+0.125+0.875 = 6, mean = 0.75, s = 1/0.75 = 1.333:
  //   0.5 -> 0.667 -> 1, -1.5 -> -2 -> -1 (clip), 0.25 -> 0.333 -> 0, 0 -> 0, 2 -> 2.667 -> 1,
  //   -0.75 -> -1 -> -1, 0.125 -> 0.167 -> 0, -0.875 -> -1.167 -> -1.
  const std::vector<float> w = {0.5f, -1.5f, 0.25f, 0.0f, 2.0f, -0.75f, 0.125f, -0.875f};
  std::vector<int8_t> codes(w.size(), 99);
  const float alpha = quantize_ternary_absmean(w, codes);
  EXPECT_FLOAT_EQ(alpha, 0.75f);
  EXPECT_EQ(codes, (std::vector<int8_t>{1, -1, 0, 0, 1, -1, 0, -1}));
}

TEST(TernaryAbsmean, RoundingTiesGoToEven) {
  // sum|w| = 0.25+0.25+0.75+1.25+0.5+0 = 3, n = 6, mean = 0.5, s = 2 exactly:
  //   0.25 -> 0.5 -> 0, -0.25 -> -0.5 -> 0, 0.75 -> 1.5 -> 2 -> 1 (clip), 1.25 -> 2.5 -> 2 -> 1,
  //   -0.5 -> -1, 0 -> 0.
  const std::vector<float> w = {0.25f, -0.25f, 0.75f, 1.25f, -0.5f, 0.0f};
  std::vector<int8_t> codes(w.size(), 99);
  EXPECT_EQ(quantize_ternary_absmean(w, codes), 0.5f);
  EXPECT_EQ(codes, (std::vector<int8_t>{0, 0, 1, 1, -1, 0}));
}

TEST(TernaryAbsmean, AllZerosGiveZeroAlpha) {
  const std::vector<float> w(65, 0.0f);
  std::vector<int8_t> codes(w.size(), 99);
  EXPECT_EQ(quantize_ternary_absmean(w, codes), 0.0f);
  for (int8_t c : codes) EXPECT_EQ(c, 0);
}

TEST(TernaryAbsmean, HugeOutlier) {
  // mean = (1e30 + 31)/32 ~ 3.125e28, s ~ 3.2e-29: the outlier gives 32 -> clip 1, the rest 0.
  std::vector<float> w(32, -1.0f);
  w[5] = 1e30f;
  std::vector<int8_t> codes(w.size(), 99);
  const float alpha = quantize_ternary_absmean(w, codes);
  EXPECT_NEAR(alpha, 1e30f / 32.0f, 1e30f / 32.0f * 1e-6f);
  for (std::size_t i = 0; i < w.size(); ++i) EXPECT_EQ(codes[i], i == 5 ? 1 : 0) << i;
}

TEST(TernaryAbsmean, DenormalWeights) {
  // mean is a denormal, far below eps: s = 1/eps = 1e5, so w*s ~ 1e-35 rounds to 0 and alpha is
  // eps (finite, not NaN). With one normal weight in the tensor, the denormals also give 0.
  const float denorm = std::numeric_limits<float>::denorm_min() * 64.0f;
  std::vector<float> w = {denorm, -denorm, denorm};
  std::vector<int8_t> codes(w.size(), 99);
  EXPECT_FLOAT_EQ(quantize_ternary_absmean(w, codes), kQuantEpsilon);
  EXPECT_EQ(codes, (std::vector<int8_t>{0, 0, 0}));

  w = {denorm, 3.0f, -denorm};  // mean 1, s 1
  EXPECT_FLOAT_EQ(quantize_ternary_absmean(w, codes), 1.0f);
  EXPECT_EQ(codes, (std::vector<int8_t>{0, 1, 0}));
}

TEST(TernaryAbsmean, NonFiniteWeightsThrowNamingQuantizer) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> w = {1.0f, 2.0f, bad};
    std::vector<int8_t> codes(w.size());
    try {
      quantize_ternary_absmean(w, codes);
      FAIL() << "no throw for " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("quantize_ternary_absmean"), std::string::npos);
    }
  }
  std::vector<float> w(3, 1.0f);
  std::vector<int8_t> codes(4);
  EXPECT_THROW(quantize_ternary_absmean(w, codes), Error);
}

TEST(TernaryAbsmean, RandomTensorsFollowThresholdRule) {
  // code = 0 exactly when |w| <= alpha/2 (up to float rounding), else sign(w).
  std::mt19937 rng(99);
  for (std::size_t n : test::kAwkwardSizes) {
    const std::vector<float> w = test::gaussian_vector(rng, n, 0.02f);
    std::vector<int8_t> codes(n, 99);
    const float alpha = quantize_ternary_absmean(w, codes);
    double sum_abs = 0.0;
    for (float v : w) sum_abs += std::fabs(v);
    const double mean = sum_abs / static_cast<double>(n);
    EXPECT_NEAR(alpha, mean, mean * 1e-6) << n;
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_GE(codes[i], -1);
      ASSERT_LE(codes[i], 1);
      const double a = std::fabs(w[i]);
      if (a < 0.5 * alpha * (1.0 - 1e-6)) {
        EXPECT_EQ(codes[i], 0) << n << " " << i;
      }
      if (a > 0.5 * alpha * (1.0 + 1e-6)) {
        EXPECT_EQ(codes[i], w[i] > 0 ? 1 : -1) << n << " " << i;
      }
    }
  }
}

TEST(TernaryAbsmean, QualityOnGaussianWeights) {
  // Measured: SNR 5.77 dB, relative L1 0.448, 31% of weights zeroed (65792 N(0, 0.02^2) weights).
  std::mt19937 rng(11);
  const std::vector<float> w = test::gaussian_vector(rng, 256 * 257, 0.02f);
  std::vector<int8_t> codes(w.size());
  const float alpha = quantize_ternary_absmean(w, codes);
  test::QualityAccumulator acc;
  acc.add(w, test::dequantize(codes, alpha));
  const test::QuantQuality r = acc.result();
  RecordProperty("snr_db", std::to_string(r.snr_db));
  RecordProperty("rel_l1", std::to_string(r.rel_l1));
  std::printf("[ quality  ] ternary_absmean: snr %.2f dB, rel_l1 %.5f, zeroed %lld of %lld\n",
              r.snr_db, r.rel_l1, static_cast<long long>(r.n_zeroed), static_cast<long long>(r.n));
  EXPECT_GT(r.snr_db, 5.5);
  EXPECT_LT(r.rel_l1, 0.46);
}

}  // namespace
}  // namespace a48
