// HF packed ternary layout: the example of transformers' unpack_weights docstring, a hand-worked
// byte, random round trips and the error cases.
#include <gtest/gtest.h>

#include <random>

#include "format/hf_ternary_pack.h"
#include "format_test_util.h"

namespace a48 {
namespace {

using test::throws_error_with;

TEST(HfTernaryPack, HandWorkedByte) {
  // n_out = 4, n_in = 1: one byte, field k holds row k. Rows (0, -1, 1, 1) + 1 = (1, 0, 2, 2):
  //   1 | 0 << 2 | 2 << 4 | 2 << 6 = 1 + 0 + 32 + 128 = 161 = 0b10100001.
  const std::vector<int8_t> codes = {0, -1, 1, 1};
  EXPECT_EQ(pack_ternary_hf(codes, 4, 1), (std::vector<uint8_t>{0b10100001}));
  EXPECT_EQ(unpack_ternary_hf(std::vector<uint8_t>{0b10100001}, 4, 1), codes);
}

TEST(HfTernaryPack, TransformersDocstringExample) {
  // transformers/integrations/bitnet.py, unpack_weights: packed [2, 2] -> unpacked [8, 2]. With
  // n_out/4 = 2 packed rows, field k of packed row j is output row 2k + j.
  const std::vector<uint8_t> packed = {0b10100001, 0b00011000,   // packed row 0 -> rows 0, 2, 4, 6
                                       0b10010000, 0b00001010};  // packed row 1 -> rows 1, 3, 5, 7
  const std::vector<int8_t> unpacked = {0, -1, -1, 1, -1, 1, -1, 1, 1, 0, 0, -1, 1, -1, 1, -1};
  EXPECT_EQ(unpack_ternary_hf(packed, 8, 2), unpacked);
  EXPECT_EQ(pack_ternary_hf(unpacked, 8, 2), packed);
}

TEST(HfTernaryPack, RandomRoundTrips) {
  std::mt19937 rng(77);
  std::uniform_int_distribution<int> code(-1, 1);
  for (const int64_t n_out : {4, 8, 12, 12 * 37}) {
    for (const int64_t n_in : {1, 7, 33, 257}) {
      std::vector<int8_t> codes(static_cast<std::size_t>(n_out * n_in));
      for (int8_t& c : codes) c = static_cast<int8_t>(code(rng));
      const std::vector<uint8_t> packed = pack_ternary_hf(codes, n_out, n_in);
      ASSERT_EQ(packed.size(), static_cast<std::size_t>(n_out / 4 * n_in));
      // Spot-check the layout rule itself: element (row, i) lives in byte (row % R, i), field row /
      // R.
      const int64_t rows = n_out / 4;
      for (int64_t row = 0; row < n_out; row += 3) {
        const int64_t i = row % n_in;
        const int field =
            (packed[static_cast<std::size_t>((row % rows) * n_in + i)] >> (2 * (row / rows))) & 3;
        EXPECT_EQ(field - 1, codes[static_cast<std::size_t>(row * n_in + i)]) << row << "," << i;
      }
      EXPECT_EQ(unpack_ternary_hf(packed, n_out, n_in), codes) << n_out << "x" << n_in;
    }
  }
}

TEST(HfTernaryPack, RejectsBadInput) {
  const std::vector<int8_t> six(6, 0);
  EXPECT_TRUE(
      throws_error_with([&] { pack_ternary_hf(six, 6, 1); }, {"n_out = 6", "multiple of 4"}));
  EXPECT_TRUE(throws_error_with([&] { unpack_ternary_hf(std::vector<uint8_t>(2), 6, 1); },
                                {"multiple of 4"}));
  EXPECT_TRUE(throws_error_with([&] { pack_ternary_hf(six, 4, 2); }, {"6 elements", "[4, 2]"}));
  EXPECT_TRUE(
      throws_error_with([&] { unpack_ternary_hf(std::vector<uint8_t>(3), 4, 2); }, {"3 elements"}));
  // A code of 2 would need the field value 3.
  std::vector<int8_t> codes = {0, 1, -1, 0, 1, 1, 0, 2};
  EXPECT_TRUE(throws_error_with([&] { pack_ternary_hf(codes, 4, 2); }, {"code 2", "[3, 1]"}));
  // Byte (1, 0) of a [2, 3] packing has the value 3 in field 2 (bits 4-5): 0b00110101.
  std::vector<uint8_t> packed = {0x55, 0x55, 0x55, 0b00110101, 0x55, 0x55};
  EXPECT_TRUE(
      throws_error_with([&] { unpack_ternary_hf(packed, 8, 3); }, {"[1, 0]", "field 2", "row 5"}));
  packed[3] = 0x55;  // all fields 1: all-zero codes
  EXPECT_EQ(unpack_ternary_hf(packed, 8, 3), std::vector<int8_t>(24, 0));
}

}  // namespace
}  // namespace a48
