#include <gtest/gtest.h>

#include "core/error.h"
#include "cpu/ternary_pack.h"
#include "cpu_test_util.h"

namespace a48 {
namespace {

using cpu::PackOrder;

LinearWeights weights_of(int64_t n_out, int64_t n_in, std::vector<int8_t> codes, float scale) {
  LinearWeights w;
  w.n_out = n_out;
  w.n_in = n_in;
  w.ternary = std::move(codes);
  w.scale = scale;
  return w;
}

TEST(CpuTernaryPack, RowsLayoutByHand) {
  // W [2, 3] = [[1, -1, 0], [0, 1, 1]]: one strip per row (256 codes, 64 bytes), fields t + 1.
  // Byte b holds elements b, b+64, b+128, b+192 at bits 0-1, 2-3, 4-5, 6-7; elements 3..255 are
  // padding (t = 0, field 1), so an all-padding byte is 1 + 4 + 16 + 64 = 0x55.
  //   row 0: byte 0 = fields (2, 1, 1, 1) = 2 + 84 = 0x56; byte 1 = (0, 1, 1, 1) = 84 = 0x54;
  //          byte 2 = (1, 1, 1, 1) = 0x55
  //   row 1: byte 0 = 0x55; bytes 1 and 2 = 0x56
  const auto w = weights_of(2, 3, {1, -1, 0, 0, 1, 1}, 0.5f);
  const cpu::PackedLinear p = cpu::pack_linear(w, PackOrder::rows);
  ASSERT_EQ(p.n_lines, 2);
  ASSERT_EQ(p.strips_per_line, 1);
  ASSERT_EQ(p.bytes(), 128);
  EXPECT_EQ(p.scale, 0.5f);
  std::vector<uint8_t> expected(128, 0x55);
  expected[0] = 0x56;
  expected[1] = 0x54;
  expected[64 + 1] = 0x56;
  expected[64 + 2] = 0x56;
  EXPECT_EQ(std::vector<uint8_t>(p.data.data(), p.data.data() + 128), expected);
}

TEST(CpuTernaryPack, FieldPositionsInsideAStripByHand) {
  // One row of 200 inputs, all 0 except t[70] = -1, t[130] = 1, t[199] = -1.
  //   element 70  = field 1 of byte 6:  byte 6 holds elements (6, 70, 134, 198) = fields
  //                 (1, 0, 1, 1) -> 1 + 0 + 16 + 64 = 81 = 0x51
  //   element 130 = field 2 of byte 2:  (2, 66, 130, 194) = (1, 1, 2, 1) -> 1 + 4 + 32 + 64 = 0x65
  //   element 199 = field 3 of byte 7:  (7, 71, 135, 199) = (1, 1, 1, 0) -> 1 + 4 + 16 = 0x15
  std::vector<int8_t> codes(200, 0);
  codes[70] = -1;
  codes[130] = 1;
  codes[199] = -1;
  const cpu::PackedLinear p = cpu::pack_linear(weights_of(1, 200, codes, 1.0f), PackOrder::rows);
  std::vector<uint8_t> expected(64, 0x55);
  expected[6] = 0x51;
  expected[2] = 0x65;
  expected[7] = 0x15;
  EXPECT_EQ(std::vector<uint8_t>(p.data.data(), p.data.data() + 64), expected);
}

TEST(CpuTernaryPack, ColumnsLayoutByHand) {
  // W [300, 2], all 0 except t[257, 1] = 1. Columns order: line = input column, 2 strips of 256
  // rows each (rows 300..511 are padding). Row 257 is element 1 of strip 1 of line 1: byte
  // (1 * 2 + 1) * 64 + 1 = 193, field 0 -> 2 + 84 = 0x56.
  std::vector<int8_t> codes(600, 0);
  codes[257 * 2 + 1] = 1;
  const cpu::PackedLinear p = cpu::pack_linear(weights_of(300, 2, codes, 1.0f), PackOrder::columns);
  ASSERT_EQ(p.n_lines, 2);
  ASSERT_EQ(p.strips_per_line, 2);
  ASSERT_EQ(p.bytes(), 256);
  std::vector<uint8_t> expected(256, 0x55);
  expected[193] = 0x56;
  EXPECT_EQ(std::vector<uint8_t>(p.data.data(), p.data.data() + 256), expected);
  EXPECT_EQ(cpu::packed_code(p, 257, 1), 1);
  EXPECT_EQ(cpu::packed_code(p, 257, 0), 0);
}

TEST(CpuTernaryPack, RoundTripsOnAwkwardShapesInBothOrders) {
  for (int64_t n_out : {1, 7, 31, 33, 255, 256, 257, 1000}) {
    for (int64_t n_in : {1, 7, 63, 65, 256, 257, 513}) {
      const LinearWeights w = test::random_ternary_weights(
          n_out, n_in, static_cast<uint32_t>(n_out * 1000 + n_in), 0.3);
      for (PackOrder order : {PackOrder::rows, PackOrder::columns}) {
        const cpu::PackedLinear p = cpu::pack_linear(w, order);
        const int64_t line = order == PackOrder::rows ? n_in : n_out;
        EXPECT_EQ(p.strips_per_line, (line + 255) / 256);
        const LinearWeights back = cpu::unpack_linear(p);
        EXPECT_EQ(back.n_out, n_out);
        EXPECT_EQ(back.n_in, n_in);
        EXPECT_EQ(back.scale, w.scale);
        EXPECT_EQ(back.ternary, w.ternary) << n_out << "x" << n_in << " " << cpu::to_string(order);
        EXPECT_TRUE(back.latent.empty());
        EXPECT_EQ(cpu::packed_code(p, n_out - 1, n_in - 1), w.ternary.back());
      }
    }
  }
}

TEST(CpuTernaryPack, TwoBitsPerWeightOnModelShapes) {
  // 2B4T k_proj [640, 2560]: rows order is 640 lines of 10 strips, columns order 2560 lines of
  // 3 strips (640 rows padded to 768): both 64-byte aligned, 2 bits per weight plus padding.
  const LinearWeights w = test::random_ternary_weights(640, 2560, 3);
  const cpu::PackedLinear rows = cpu::pack_linear(w, PackOrder::rows);
  const cpu::PackedLinear cols = cpu::pack_linear(w, PackOrder::columns);
  EXPECT_EQ(rows.bytes(), 640 * 2560 / 4);
  EXPECT_EQ(rows.line_bytes(), 640);
  EXPECT_EQ(cols.bytes(), 768 * 2560 / 4);
  EXPECT_EQ(cols.line_bytes(), 192);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(rows.data.data()) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(cols.data.data()) % 64, 0u);
  EXPECT_EQ(cpu::unpack_linear(cols).ternary, w.ternary);
}

TEST(CpuTernaryPack, RejectsBadWeights) {
  EXPECT_THROW(cpu::pack_linear(weights_of(2, 2, {0, 1, 2, 0}, 1.0f), PackOrder::rows), Error);
  EXPECT_THROW(cpu::pack_linear(weights_of(2, 2, {0, 1, -2, 0}, 1.0f), PackOrder::columns), Error);
  EXPECT_THROW(cpu::pack_linear(weights_of(2, 2, {0, 1, 0}, 1.0f), PackOrder::rows), Error);
  EXPECT_THROW(cpu::pack_linear(weights_of(1, cpu::kPackedMaxDim + 1, {}, 1.0f), PackOrder::rows),
               Error);
  EXPECT_THROW(cpu::pack_linear(weights_of(-1, 2, {}, 1.0f), PackOrder::rows), Error);
  try {
    cpu::pack_linear(weights_of(2, 3, {0, 0, 0, 0, 0, 5}, 1.0f), PackOrder::columns);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[1, 2]"), std::string::npos) << e.what();
  }
}

TEST(CpuTernaryPack, DetectsCorruptFields) {
  const LinearWeights w = test::random_ternary_weights(5, 9, 4);
  cpu::PackedLinear p = cpu::pack_linear(w, PackOrder::rows);
  p.data.data()[64 + 3] |= 0x03;  // row 1, element 3: field value 3
  EXPECT_THROW(cpu::packed_code(p, 1, 3), Error);
  EXPECT_THROW(cpu::unpack_linear(p), Error);
  cpu::PackedLinear q = cpu::pack_linear(w, PackOrder::rows);
  q.data.data()[20] &= static_cast<uint8_t>(~0x03);  // row 0, element 20 (padding): t = -1
  EXPECT_THROW(cpu::unpack_linear(q), Error);
  EXPECT_THROW(cpu::packed_code(q, 5, 0), Error);  // outside the matrix
}

}  // namespace
}  // namespace a48
