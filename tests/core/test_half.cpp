// bf16/f16 conversions: hand-worked bit patterns, rounding ties, specials, and exhaustive round
// trips of every 16-bit pattern.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>

#include "core/half.h"

namespace a48 {
namespace {

TEST(Half, Bf16HandWorked) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);   // 1.0 = 0x3F800000
  EXPECT_EQ(f32_to_bf16(-2.0f), 0xC000);  // -2.0 = 0xC0000000
  // 1 + 2^-8 = 0x3F808000 lies exactly between 0x3F80 and 0x3F81: ties to even -> 0x3F80.
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3F808000u)), 0x3F80);
  // 0x3F818000 is between 0x3F81 and 0x3F82: ties to even -> 0x3F82.
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3F818000u)), 0x3F82);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3F808001u)), 0x3F81);  // just above the tie
  EXPECT_EQ(bf16_to_f32(0x4049), 3.140625f);  // 0x40490000
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::infinity())),
            std::numeric_limits<float>::infinity());
}

TEST(Half, F16HandWorked) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(f32_to_f16(-2.5f), 0xC100);       // -1.25 * 2^1: exponent 16, mantissa 0x100
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7BFF);    // largest finite
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);    // rounds to infinity
  EXPECT_EQ(f32_to_f16(5.9604645e-08f), 0x0001);  // 2^-24, smallest subnormal
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);
  // 1 + 2^-11 is a tie between 0x3C00 and 0x3C01: to even -> 0x3C00.
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
}

TEST(Half, EveryPatternRoundTrips) {
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const auto h = static_cast<uint16_t>(bits);
    const float bf = bf16_to_f32(h);
    if (!std::isnan(bf)) {
      EXPECT_EQ(f32_to_bf16(bf), h) << std::hex << bits;
    }
    const float f = f16_to_f32(h);
    if (!std::isnan(f)) {
      EXPECT_EQ(f32_to_f16(f), h) << std::hex << bits;
    }
  }
}

}  // namespace
}  // namespace a48
