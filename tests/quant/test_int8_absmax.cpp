// Eq. 3: INT8 absmax quantizer.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/error.h"
#include "quant/int8_absmax.h"
#include "quant/quant_common.h"
#include "quant/quant_quality.h"

namespace a48 {
namespace {

TEST(Int8Absmax, HandWorkedDyadicVector) {
  // gamma = 127/64 = 1.984375, s = 127/gamma = 64 exactly, so x*s is exact:
  //   1.984375 -> 127, -1.984375 -> -127, 0.5 -> 32, -0.25 -> -16, 1.0 -> 64,
  //   0.0078125 (0.5/64) -> 0.5 -> 0, 0.0234375 (1.5/64) -> 1.5 -> 2,
  //   0.0390625 (2.5/64) -> 2.5 -> 2, -0.0234375 -> -1.5 -> -2  (round half to even).
  const std::vector<float> x = {1.984375f,  -1.984375f, 0.5f,       -0.25f,     1.0f,
                                0.0078125f, 0.0234375f, 0.0390625f, -0.0234375f};
  std::vector<int8_t> q(x.size(), 99);
  const float step = quantize_int8_absmax(x, q);
  EXPECT_EQ(step, 1.0f / 64.0f);
  EXPECT_EQ(q, (std::vector<int8_t>{127, -127, 32, -16, 64, 0, 2, 2, -2}));
}

TEST(Int8Absmax, AllZerosGiveZeroStepAndCodes) {
  const std::vector<float> x(33, 0.0f);
  std::vector<int8_t> q(x.size(), 99);
  EXPECT_EQ(quantize_int8_absmax(x, q), 0.0f);
  for (int8_t v : q) EXPECT_EQ(v, 0);
}

TEST(Int8Absmax, EmptyInputIsAllowed) {
  std::vector<int8_t> q;
  EXPECT_EQ(quantize_int8_absmax({}, q), 0.0f);
}

TEST(Int8Absmax, HugeOutlierKeepsScaleFinite) {
  // gamma = 1e30: s = 1.27e-28, so the unit entries round to 0 and the outlier to 127.
  std::vector<float> x(31, 1.0f);
  x[17] = -1e30f;
  std::vector<int8_t> q(x.size(), 99);
  const float step = quantize_int8_absmax(x, q);
  EXPECT_TRUE(std::isfinite(step));
  EXPECT_NEAR(step, 1e30f / 127.0f, 1e30f / 127.0f * 1e-6f);
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_EQ(q[i], i == 17 ? -127 : 0) << i;
}

TEST(Int8Absmax, DenormalsAndTinyVectors) {
  // All entries below eps: s is capped at 127/eps = 1.27e7. Denormals (~1e-40) map to 0, and
  // 5e-6 maps to round(63.5) = 64 (not 127: the floor keeps tiny vectors tiny).
  const float denorm = std::numeric_limits<float>::denorm_min() * 1000.0f;
  std::vector<float> x = {denorm, -denorm, 0.0f, 5e-6f};
  std::vector<int8_t> q(x.size(), 99);
  const float step = quantize_int8_absmax(x, q);
  EXPECT_FLOAT_EQ(step, kQuantEpsilon / 127.0f);
  EXPECT_EQ(q, (std::vector<int8_t>{0, 0, 0, 64}));

  // Denormals next to a normal value: quantized to 0, no NaN.
  x = {denorm, 1.0f, -denorm};
  q.assign(x.size(), 99);
  EXPECT_FLOAT_EQ(quantize_int8_absmax(x, q), 1.0f / 127.0f);
  EXPECT_EQ(q, (std::vector<int8_t>{0, 127, 0}));
}

TEST(Int8Absmax, NonFiniteInputThrowsNamingQuantizer) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> x = {1.0f, bad, 2.0f};
    std::vector<int8_t> q(x.size());
    try {
      quantize_int8_absmax(x, q);
      FAIL() << "no throw for " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("quantize_int8_absmax"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("index 1"), std::string::npos) << e.what();
    }
  }
}

TEST(Int8Absmax, SizeMismatchThrows) {
  std::vector<float> x(7, 1.0f);
  std::vector<int8_t> q(6);
  EXPECT_THROW(quantize_int8_absmax(x, q), Error);
}

TEST(Int8Absmax, RandomVectorsStayInRangeWithHalfStepError) {
  std::mt19937 rng(1234);
  for (std::size_t n : test::kAwkwardSizes) {
    for (float scale : {1e-3f, 1.0f, 300.0f}) {
      const std::vector<float> x = test::uniform_vector(rng, n, -scale, scale);
      std::vector<int8_t> q(n, 99);
      const float step = quantize_int8_absmax(x, q);
      float gamma = 0.0f;
      for (float v : x) gamma = std::max(gamma, std::fabs(v));
      EXPECT_NEAR(step, gamma / 127.0f, gamma / 127.0f * 1e-6f);
      bool hit_extreme = false;
      for (std::size_t i = 0; i < n; ++i) {
        ASSERT_GE(q[i], -127) << "n=" << n << " i=" << i;
        ASSERT_LE(q[i], 127);
        // |x - step q| <= step/2, plus float rounding of x*s and of step*q.
        EXPECT_LE(std::fabs(x[i] - step * q[i]), step * 0.5f * (1.0f + 1e-4f) + gamma * 1e-6f)
            << "n=" << n << " i=" << i;
        if (std::fabs(x[i]) == gamma) {
          EXPECT_EQ(std::abs(q[i]), 127);
          hit_extreme = true;
        }
      }
      EXPECT_TRUE(hit_extreme);
    }
  }
}

TEST(Int8Absmax, QualityOnGaussianTokens) {
  // Measured (libstdc++, these seeds): SNR 41.45 dB, relative L1 0.00916 over 64 tokens of 2560
  // N(0,1) entries; theory: step ~ 3.75/127 gives noise step^2/12 -> 41.4 dB.
  std::mt19937 rng(7);
  test::QualityAccumulator acc;
  for (int token = 0; token < 64; ++token) {
    const std::vector<float> x = test::gaussian_vector(rng, 2560);
    std::vector<int8_t> q(x.size());
    const float step = quantize_int8_absmax(x, q);
    acc.add(x, test::dequantize(q, step));
  }
  const test::QuantQuality r = acc.result();
  RecordProperty("snr_db", std::to_string(r.snr_db));
  RecordProperty("rel_l1", std::to_string(r.rel_l1));
  EXPECT_GT(r.snr_db, 40.0);
  EXPECT_LT(r.rel_l1, 0.0100);
  std::printf(
      "[ quality  ] int8_absmax: snr %.2f dB, rel_l1 %.5f, exact %lld, zeroed %lld of %lld\n",
      r.snr_db, r.rel_l1, static_cast<long long>(r.n_exact), static_cast<long long>(r.n_zeroed),
      static_cast<long long>(r.n));
}

}  // namespace
}  // namespace a48
