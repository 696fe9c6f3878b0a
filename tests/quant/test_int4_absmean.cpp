// Eq. 7: INT4 absmean quantizer.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "quant/int4_absmean.h"
#include "quant/quant_common.h"
#include "quant/quant_quality.h"

namespace a48 {
namespace {

TEST(Int4Absmean, HandWorkedVectorWithAsymmetricClip) {
  // sum|x| = 1+1+3+3+0+10+10+0 = 28, beta = 3.5, s = sqrt(7)/3.5 = 0.75593:
  //   1 -> 0.756 -> 1, -1 -> -1, 3 -> 2.268 -> 2, -3 -> -2, 0 -> 0,
  //   10 -> 7.559 -> 8 -> clip 7, -10 -> -7.559 -> -8 (in range: INT4 has one more negative code).
  const std::vector<float> x = {1, -1, 3, -3, 0, 10, -10, 0};
  std::vector<int8_t> q(x.size(), 99);
  const float step = quantize_int4_absmean(x, q);
  EXPECT_FLOAT_EQ(step, 3.5f / std::sqrt(7.0f));
  EXPECT_EQ(q, (std::vector<int8_t>{1, -1, 2, -2, 0, 7, -8, 0}));
}

TEST(Int4Absmean, BetaMultiplierDoublesTheRange) {
  // Same x with beta = 2*3.5 = 7, s = sqrt(7)/7 = 0.37796:
  //   1 -> 0.378 -> 0, 3 -> 1.134 -> 1, 10 -> 3.780 -> 4, -10 -> -4.
  const std::vector<float> x = {1, -1, 3, -3, 0, 10, -10, 0};
  std::vector<int8_t> q(x.size(), 99);
  const float step = quantize_int4_absmean(x, q, 2.0f);
  EXPECT_FLOAT_EQ(step, 7.0f / std::sqrt(7.0f));
  EXPECT_EQ(q, (std::vector<int8_t>{0, 0, 1, -1, 0, 4, -4, 0}));
}

TEST(Int4Absmean, RoundingTiesGoToEven) {
  // Make s exactly 4: with r7 = float(sqrt 7), choose sum|x| = r7 over n = 4, so beta = r7/4
  // (exact: a power-of-two division) and s = r7 / (r7/4) = 4. Then
  //   0.125 -> 0.5 -> 0, 0.375 -> 1.5 -> 2, -0.625 -> -2.5 -> -2, r = r7 - 1.125 -> 6.083 -> 6.
  // r is exact in float: r7 is a multiple of 2^-22 and r lies in [1, 2).
  const float r7 = std::sqrt(7.0f);
  const float r = r7 - 1.125f;
  const std::vector<float> x = {0.125f, 0.375f, -0.625f, r};
  std::vector<int8_t> q(x.size(), 99);
  EXPECT_EQ(quantize_int4_absmean(x, q), 0.25f);
  EXPECT_EQ(q, (std::vector<int8_t>{0, 2, -2, 6}));
}

TEST(Int4Absmean, AllZerosAndDenormals) {
  std::vector<float> x(7, 0.0f);
  std::vector<int8_t> q(x.size(), 99);
  EXPECT_EQ(quantize_int4_absmean(x, q), 0.0f);
  for (int8_t v : q) EXPECT_EQ(v, 0);

  // Denormal token: beta < eps, so s = sqrt(7)/eps and every code is still 0; step stays finite.
  const float denorm = std::numeric_limits<float>::denorm_min() * 7.0f;
  x = {denorm, -denorm, 0.0f};
  q.assign(x.size(), 99);
  const float step = quantize_int4_absmean(x, q);
  EXPECT_FLOAT_EQ(step, kQuantEpsilon / std::sqrt(7.0f));
  EXPECT_EQ(q, (std::vector<int8_t>{0, 0, 0}));
}

TEST(Int4Absmean, HugeOutlierIsClipped) {
  // beta = (1e30 + 32)/33 ~ 3.03e28: the outlier gives sqrt(7)*33 = 87 -> clip 7, the rest 0.
  std::vector<float> x(33, 1.0f);
  x[0] = 1e30f;
  std::vector<int8_t> q(x.size(), 99);
  const float step = quantize_int4_absmean(x, q);
  EXPECT_TRUE(std::isfinite(step));
  EXPECT_EQ(q[0], 7);
  for (std::size_t i = 1; i < x.size(); ++i) EXPECT_EQ(q[i], 0) << i;
}

TEST(Int4Absmean, BadInputThrows) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> x = {bad, 1.0f};
    std::vector<int8_t> q(x.size());
    try {
      quantize_int4_absmean(x, q);
      FAIL() << "no throw for " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("quantize_int4_absmean"), std::string::npos);
    }
  }
  std::vector<float> x(4, 1.0f);
  std::vector<int8_t> q(4);
  EXPECT_THROW(quantize_int4_absmean(x, q, 0.0f), Error);
  EXPECT_THROW(quantize_int4_absmean(x, q, -2.0f), Error);
  EXPECT_THROW(quantize_int4_absmean(x, q, std::numeric_limits<float>::quiet_NaN()), Error);
  std::vector<int8_t> short_q(3);
  EXPECT_THROW(quantize_int4_absmean(x, short_q), Error);
}

TEST(Int4Absmean, RandomVectorsHalfStepInsideRangeAndClipOutside) {
  std::mt19937 rng(4321);
  for (std::size_t n : test::kAwkwardSizes) {
    for (float multiplier : {1.0f, 2.0f}) {
      const std::vector<float> x = test::gaussian_vector(rng, n, 3.0f);
      std::vector<int8_t> q(n, 99);
      const float step = quantize_int4_absmean(x, q, multiplier);
      double sum_abs = 0.0;
      for (float v : x) sum_abs += std::fabs(v);
      const double beta = multiplier * sum_abs / static_cast<double>(n);
      EXPECT_NEAR(step, beta / std::sqrt(7.0), beta * 1e-6) << n;
      for (std::size_t i = 0; i < n; ++i) {
        ASSERT_GE(q[i], -8);
        ASSERT_LE(q[i], 7);
        const double t = x[i] / static_cast<double>(step);  // x in units of step
        const double slack = 1e-4;
        if (t > -8.5 + slack && t < 7.5 - slack) {
          EXPECT_LE(std::fabs(x[i] - step * q[i]), step * (0.5 + slack)) << n << " " << i;
        } else if (t >= 7.5 + slack) {
          EXPECT_EQ(q[i], 7);
        } else if (t <= -8.5 - slack) {
          EXPECT_EQ(q[i], -8);
        }
      }
    }
  }
}

TEST(Int4Absmean, QualityOnGaussianTokens) {
  // Measured: SNR 18.79 dB, relative L1 0.1031 over 64 tokens of 2560 N(0,1) entries.
  std::mt19937 rng(8);
  test::QualityAccumulator acc;
  for (int token = 0; token < 64; ++token) {
    const std::vector<float> x = test::gaussian_vector(rng, 2560);
    std::vector<int8_t> q(x.size());
    const float step = quantize_int4_absmean(x, q);
    acc.add(x, test::dequantize(q, step));
  }
  const test::QuantQuality r = acc.result();
  RecordProperty("snr_db", std::to_string(r.snr_db));
  RecordProperty("rel_l1", std::to_string(r.rel_l1));
  std::printf("[ quality  ] int4_absmean: snr %.2f dB, rel_l1 %.5f, zeroed %lld of %lld\n",
              r.snr_db, r.rel_l1, static_cast<long long>(r.n_zeroed), static_cast<long long>(r.n));
  EXPECT_GT(r.snr_db, 18.3);
  EXPECT_LT(r.rel_l1, 0.108);
}

}  // namespace
}  // namespace a48
