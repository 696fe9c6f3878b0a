// §3.1 low-bit attention: unsigned absmax quantization of post-RoPE Q/K/V heads.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "quant/kv_quant.h"
#include "quant/quant_common.h"
#include "quant/quant_quality.h"

namespace a48 {
namespace {

TEST(KvQuant, HandWorked3Bit) {
  // gamma = 3.5, L = 7, delta = 2*3.5/7 = 1, so u = round(x + 3.5) and x_hat = u - 3.5:
  //   -3.5 -> 0, 3.5 -> 7, 0 -> round(3.5) = 4 (tie to even) -> 0.5, -1 -> round(2.5) = 2 -> -1.5,
  //   1 -> round(4.5) = 4 -> 0.5, 0.25 -> round(3.75) = 4 -> 0.5, -2.75 -> round(0.75) = 1 -> -2.5.
  const std::vector<float> x = {-3.5f, 3.5f, 0.0f, -1.0f, 1.0f, 0.25f, -2.75f};
  std::vector<uint8_t> u(x.size(), 0xAB);
  EXPECT_EQ(quantize_absmax_unsigned(x, 3, u), 3.5f);
  EXPECT_EQ(u, (std::vector<uint8_t>{0, 7, 4, 2, 4, 4, 1}));
  std::vector<float> x_hat(x.size(), std::numeric_limits<float>::quiet_NaN());
  dequantize_absmax_unsigned(u, 3, 3.5f, x_hat);
  EXPECT_EQ(x_hat, (std::vector<float>{-3.5f, 3.5f, 0.5f, -1.5f, 0.5f, 0.5f, -2.5f}));
}

TEST(KvQuant, HandWorked4Bit) {
  // gamma = 7.5, L = 15, delta = 1: u = round(x + 7.5), x_hat = u - 7.5.
  //   7.5 -> 15, -7.5 -> 0, 0.2 -> round(7.7) = 8 -> 0.5, -0.5 -> 7 -> -0.5,
  //   2 -> round(9.5) = 10 (tie to even) -> 2.5.
  const std::vector<float> x = {7.5f, -7.5f, 0.2f, -0.5f, 2.0f};
  std::vector<uint8_t> u(x.size(), 0xAB);
  EXPECT_EQ(quantize_absmax_unsigned(x, 4, u), 7.5f);
  EXPECT_EQ(u, (std::vector<uint8_t>{15, 0, 8, 7, 10}));
  std::vector<float> x_hat(x.size(), std::numeric_limits<float>::quiet_NaN());
  dequantize_absmax_unsigned(u, 4, 7.5f, x_hat);
  EXPECT_EQ(x_hat, (std::vector<float>{7.5f, -7.5f, 0.5f, -0.5f, 2.5f}));
}

TEST(KvQuant, TinyAndZeroHeads) {
  const float denorm = std::numeric_limits<float>::denorm_min() * 9.0f;
  for (const std::vector<float>& x :
       {std::vector<float>(64, 0.0f), std::vector<float>{denorm, -denorm, 9e-6f}}) {
    std::vector<uint8_t> u(x.size(), 0xAB);
    EXPECT_EQ(quantize_absmax_unsigned(x, 3, u), 0.0f);
    for (uint8_t v : u) EXPECT_EQ(v, 0);
    std::vector<float> x_hat(x.size(), std::numeric_limits<float>::quiet_NaN());
    dequantize_absmax_unsigned(u, 3, 0.0f, x_hat);
    for (float v : x_hat) EXPECT_EQ(v, 0.0f);
  }
}

TEST(KvQuant, HugeOutlier) {
  // gamma = 1e30, 4 bits: delta = 1.33e29; unit entries land on round(7.5) = 8 -> x_hat = 6.7e28.
  std::vector<float> x(33, 1.0f);
  x[3] = 1e30f;
  std::vector<uint8_t> u(x.size(), 0xAB);
  EXPECT_EQ(quantize_absmax_unsigned(x, 4, u), 1e30f);
  EXPECT_EQ(u[3], 15);
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (i != 3) {
      EXPECT_EQ(u[i], 8) << i;
    }
  }
}

TEST(KvQuant, BadInputThrows) {
  std::vector<float> x = {1.0f, -1.0f};
  std::vector<uint8_t> u(2);
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> xb = {bad, 1.0f};
    try {
      quantize_absmax_unsigned(xb, 4, u);
      FAIL() << "no throw for " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("quantize_absmax_unsigned"), std::string::npos);
    }
  }
  EXPECT_THROW(quantize_absmax_unsigned(x, 1, u), Error);
  EXPECT_THROW(quantize_absmax_unsigned(x, 9, u), Error);
  std::vector<uint8_t> short_u(1);
  EXPECT_THROW(quantize_absmax_unsigned(x, 4, short_u), Error);

  std::vector<float> out(2);
  std::vector<uint8_t> too_big = {0, 8};  // 3 bits allow 0..7
  EXPECT_THROW(dequantize_absmax_unsigned(too_big, 3, 1.0f, out), Error);
  std::vector<uint8_t> ok = {0, 7};
  EXPECT_THROW(dequantize_absmax_unsigned(ok, 3, -1.0f, out), Error);
  EXPECT_THROW(dequantize_absmax_unsigned(ok, 3, std::numeric_limits<float>::quiet_NaN(), out),
               Error);
  EXPECT_THROW(dequantize_absmax_unsigned(ok, 0, 1.0f, out), Error);
  std::vector<float> short_out(1);
  EXPECT_THROW(dequantize_absmax_unsigned(ok, 3, 1.0f, short_out), Error);
}

TEST(KvQuant, BitsForPosition) {
  EXPECT_EQ(kv_bits_for_position(3, 0), 4);  // bos kept at 4 bits with a 3-bit cache
  EXPECT_EQ(kv_bits_for_position(3, 1), 3);
  EXPECT_EQ(kv_bits_for_position(3, 4096), 3);
  EXPECT_EQ(kv_bits_for_position(4, 0), 4);
  EXPECT_EQ(kv_bits_for_position(2, 0), 2);
  EXPECT_EQ(kv_bits_for_position(8, 0), 8);
  EXPECT_THROW(kv_bits_for_position(1, 0), Error);
  EXPECT_THROW(kv_bits_for_position(9, 5), Error);
  EXPECT_THROW(kv_bits_for_position(3, -1), Error);
}

TEST(KvQuant, RandomHeadsRoundTripWithinHalfDelta) {
  std::mt19937 rng(77);
  for (int bits = 2; bits <= 8; ++bits) {
    const int levels_minus_1 = (1 << bits) - 1;
    for (std::size_t n : test::kAwkwardSizes) {
      std::vector<float> x = test::gaussian_vector(rng, n, 2.0f);
      // Make both extremes present: the largest entry and its negation.
      std::size_t arg = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (std::fabs(x[i]) > std::fabs(x[arg])) arg = i;
      }
      if (n > 1) x[(arg + 1) % n] = -x[arg];
      std::vector<uint8_t> u(n, 0xAB);
      const float gamma = quantize_absmax_unsigned(x, bits, u);
      EXPECT_EQ(gamma, std::fabs(x[arg]));
      std::vector<float> x_hat(n, std::numeric_limits<float>::quiet_NaN());
      dequantize_absmax_unsigned(u, bits, gamma, x_hat);
      const double delta = 2.0 * gamma / levels_minus_1;
      for (std::size_t i = 0; i < n; ++i) {
        ASSERT_LE(u[i], levels_minus_1);
        EXPECT_LE(std::fabs(static_cast<double>(x[i]) - x_hat[i]), delta * 0.5 * (1 + 1e-5))
            << "bits=" << bits << " n=" << n << " i=" << i;
        if (std::fabs(x[i]) == gamma) {  // extremes are exact
          EXPECT_EQ(x_hat[i], x[i]) << "bits=" << bits << " n=" << n << " i=" << i;
          EXPECT_EQ(u[i], x[i] > 0 ? levels_minus_1 : 0);
        }
      }
    }
  }
}

TEST(KvQuant, DequantizeIsSymmetric) {
  // Codes u and L - u give exact negatives, and the middle code of an odd count is absent
  // (2^n levels are symmetric about 0, no level is exactly 0).
  for (int bits = 2; bits <= 8; ++bits) {
    const int levels_minus_1 = (1 << bits) - 1;
    std::vector<uint8_t> u(levels_minus_1 + 1);
    for (int i = 0; i <= levels_minus_1; ++i) u[i] = static_cast<uint8_t>(i);
    std::vector<float> x_hat(u.size(), std::numeric_limits<float>::quiet_NaN());
    dequantize_absmax_unsigned(u, bits, 0.7f, x_hat);
    for (int i = 0; i <= levels_minus_1; ++i) {
      EXPECT_EQ(x_hat[i], -x_hat[levels_minus_1 - i]) << bits << " " << i;
      EXPECT_NE(x_hat[i], 0.0f);
    }
    EXPECT_EQ(x_hat.front(), -0.7f);
    EXPECT_EQ(x_hat.back(), 0.7f);
  }
}

TEST(KvQuant, QualityOnGaussianHeads) {
  // head_dim 128, 256 N(0,1) heads per bit width. Measured SNR / relative L1:
  //   3-bit 12.59 dB / 0.2508, 4-bit 19.17 dB / 0.1179, 8-bit 43.81 dB / 0.00690.
  struct Bound {
    int bits;
    double min_snr_db, max_rel_l1;
  };
  for (const Bound& bound : {Bound{3, 12.1, 0.26}, Bound{4, 18.7, 0.123}, Bound{8, 43.3, 0.0072}}) {
    const int bits = bound.bits;
    std::mt19937 rng(10);
    test::QualityAccumulator acc;
    for (int head = 0; head < 256; ++head) {
      const std::vector<float> x = test::gaussian_vector(rng, 128);
      std::vector<uint8_t> u(x.size());
      const float gamma = quantize_absmax_unsigned(x, bits, u);
      std::vector<float> x_hat(x.size());
      dequantize_absmax_unsigned(u, bits, gamma, x_hat);
      acc.add(x, x_hat);
    }
    const test::QuantQuality r = acc.result();
    RecordProperty("snr_db_" + std::to_string(bits), std::to_string(r.snr_db));
    std::printf("[ quality  ] kv absmax %d-bit: snr %.2f dB, rel_l1 %.5f, exact %lld of %lld\n",
                bits, r.snr_db, r.rel_l1, static_cast<long long>(r.n_exact),
                static_cast<long long>(r.n));
    EXPECT_GT(r.snr_db, bound.min_snr_db) << bits;
    EXPECT_LT(r.rel_l1, bound.max_rel_l1) << bits;
  }
}

}  // namespace
}  // namespace a48
