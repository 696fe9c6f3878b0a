// The raw integer kernels of every ISA table against the scalar table and against the definition
// S = sum_i (t_i + 1) q_i (kernel_table.h), through the kernel interfaces directly: shuffled and
// partial row lists, arbitrary column lists (repeats included), every token count of a tile, and
// checks that nothing outside the requested rows / strips is written.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "cpu/dispatch.h"
#include "cpu/ternary_pack.h"
#include "cpu_test_util.h"
#include "ref/bitlinear.h"

namespace a48 {
namespace {

using cpu::Isa;
using cpu::PackOrder;
using test::CodeRange;

constexpr int32_t kUntouched = 0x7eadbeef;

class CpuKernels : public ::testing::TestWithParam<Isa> {};

TEST_P(CpuKernels, RowsKernelOnShuffledRowLists) {
  const cpu::KernelTable& k = cpu::kernels(GetParam());
  const std::pair<int64_t, int64_t> shapes[] = {
      {7, 1}, {33, 255}, {65, 257}, {130, 513}, {9, 1000}};
  for (auto [n_out, n_in] : shapes) {
    const auto seed = static_cast<uint32_t>(n_out * 11 + n_in);
    const LinearWeights w = test::random_ternary_weights(n_out, n_in, seed);
    const cpu::PackedLinear p = cpu::pack_linear(w, PackOrder::rows);
    std::mt19937 rng(seed);
    std::vector<int32_t> rows(static_cast<std::size_t>(n_out));
    std::iota(rows.begin(), rows.end(), 0);
    std::shuffle(rows.begin(), rows.end(), rng);
    rows.resize(rows.size() - rows.size() / 3);  // leave a third of the rows out
    for (int64_t n_tokens : {1, 2, 3, 4, 5, 7, 8, 9, 17}) {
      const int64_t stride = p.strips_per_line * 256;
      cpu::AlignedBuffer q_padded(static_cast<std::size_t>(n_tokens * stride));
      std::vector<std::vector<int8_t>> q(static_cast<std::size_t>(n_tokens));
      for (int64_t t = 0; t < n_tokens; ++t) {
        q[t] = test::random_activation_codes(n_in, seed + t, 0.3,
                                             t % 2 ? CodeRange::int4 : CodeRange::int8);
        std::copy(q[t].begin(), q[t].end(), q_padded.data() + t * stride);
      }
      cpu::RowsKernelArgs a;
      a.weights = p.data.data();
      a.strips_per_line = p.strips_per_line;
      a.q = reinterpret_cast<const int8_t*>(q_padded.data());
      a.q_stride = stride;
      a.n_tokens = n_tokens;
      a.rows = rows.data();
      a.n_rows = static_cast<int64_t>(rows.size());
      a.sums_stride = n_out + 3;
      std::vector<int32_t> sums(static_cast<std::size_t>(n_tokens * a.sums_stride), kUntouched);
      std::vector<int32_t> scalar_sums = sums;
      a.sums = sums.data();
      k.rows(a);
      a.sums = scalar_sums.data();
      cpu::kScalarKernels.rows(a);
      ASSERT_EQ(sums, scalar_sums) << n_out << "x" << n_in << " tokens " << n_tokens;
      for (int64_t t = 0; t < n_tokens; ++t) {
        const int32_t q_sum = std::accumulate(q[t].begin(), q[t].end(), 0);
        for (int64_t o = 0; o < n_out; ++o) {
          const int32_t s = sums[t * a.sums_stride + o];
          if (std::find(rows.begin(), rows.end(), o) == rows.end()) {
            EXPECT_EQ(s, kUntouched) << "row " << o << " is not in the list";
            continue;
          }
          const std::span<const int8_t> t_row(w.ternary.data() + o * n_in,
                                              static_cast<std::size_t>(n_in));
          ASSERT_EQ(s - q_sum, ref::bitlinear_dot(t_row, q[t])) << "row " << o << " token " << t;
        }
      }
    }
  }
}

TEST_P(CpuKernels, ColsKernelOnArbitraryColumnLists) {
  const cpu::KernelTable& k = cpu::kernels(GetParam());
  const std::pair<int64_t, int64_t> shapes[] = {
      {1, 9}, {255, 40}, {257, 1}, {700, 129}, {1000, 65}};
  for (auto [n_out, n_in] : shapes) {
    const auto seed = static_cast<uint32_t>(n_out * 13 + n_in);
    const LinearWeights w = test::random_ternary_weights(n_out, n_in, seed);
    const cpu::PackedLinear p = cpu::pack_linear(w, PackOrder::columns);
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int32_t> column(0, static_cast<int32_t>(n_in - 1));
    std::uniform_int_distribution<uint32_t> word;
    std::vector<int32_t> strips(static_cast<std::size_t>(p.strips_per_line));
    std::iota(strips.begin(), strips.end(), 0);
    std::shuffle(strips.begin(), strips.end(), rng);
    if (strips.size() > 1) strips.pop_back();  // one strip is left out
    for (int64_t n_groups : {0, 1, 3, 17}) {
      for (int64_t n_tokens = 1; n_tokens <= cpu::kColsMaxTokens; ++n_tokens) {
        std::vector<int32_t> cols(static_cast<std::size_t>(4 * n_groups));
        for (int32_t& c : cols) c = column(rng);  // repeats allowed: each entry counts
        std::vector<uint32_t> q4(static_cast<std::size_t>(n_groups * n_tokens));
        for (uint32_t& v : q4) v = word(rng);  // every byte value, -128 included
        if (!q4.empty()) q4[0] = 0x80808080u;
        cpu::ColsKernelArgs a;
        a.weights = p.data.data();
        a.strips_per_line = p.strips_per_line;
        a.cols = cols.data();
        a.q4 = q4.data();
        a.n_groups = n_groups;
        a.n_tokens = n_tokens;
        a.strips = strips.data();
        a.n_strips = static_cast<int64_t>(strips.size());
        a.sums_stride = p.strips_per_line * 256 + 5;
        std::vector<int32_t> sums(static_cast<std::size_t>(n_tokens * a.sums_stride), kUntouched);
        std::vector<int32_t> scalar_sums = sums;
        a.sums = sums.data();
        k.cols(a);
        a.sums = scalar_sums.data();
        cpu::kScalarKernels.cols(a);
        ASSERT_EQ(sums, scalar_sums)
            << n_out << "x" << n_in << " groups " << n_groups << " tokens " << n_tokens;
        // The definition, row by row: S[o] = sum over list entries of (t[o, col] + 1) * q.
        for (int64_t t = 0; t < n_tokens; ++t) {
          for (int64_t o = 0; o < p.strips_per_line * 256; ++o) {
            const int32_t s = sums[t * a.sums_stride + o];
            if (std::find(strips.begin(), strips.end(), o / 256) == strips.end()) {
              ASSERT_EQ(s, kUntouched) << "strip " << o / 256 << " is not in the list";
              continue;
            }
            int32_t expected = 0;
            for (int64_t e = 0; e < 4 * n_groups; ++e) {
              const auto qv = static_cast<int8_t>(q4[(e / 4) * n_tokens + t] >> (8 * (e % 4)));
              const int c = o < n_out ? w.ternary[o * n_in + cols[e]] + 1 : 1;  // padding: t = 0
              expected += c * qv;
            }
            ASSERT_EQ(s, expected) << "row " << o << " token " << t;
          }
        }
      }
    }
  }
}

TEST_P(CpuKernels, ColsKernelSumsLongColumnListsExactly) {
  // 33000 groups of the same all-+1 column with q = -128: every row's sum is
  // 33000 * 4 * (1 + 1) * -128 = -33792000. An accumulator holding field 3 scaled by 4^3 without
  // draining would need 64 times that, -2.16e9, past int32.
  const cpu::KernelTable& k = cpu::kernels(GetParam());
  LinearWeights w;
  w.n_out = 256;
  w.n_in = 1;
  w.ternary.assign(256, 1);
  w.scale = 1.0f;
  const cpu::PackedLinear p = cpu::pack_linear(w, PackOrder::columns);
  const int64_t n_groups = 33000;
  const std::vector<int32_t> cols(static_cast<std::size_t>(4 * n_groups), 0);
  const std::vector<uint32_t> q4(static_cast<std::size_t>(n_groups), 0x80808080u);
  const int32_t strip = 0;
  std::vector<int32_t> sums(256, kUntouched);
  cpu::ColsKernelArgs a;
  a.weights = p.data.data();
  a.strips_per_line = 1;
  a.cols = cols.data();
  a.q4 = q4.data();
  a.n_groups = n_groups;
  a.n_tokens = 1;
  a.strips = &strip;
  a.n_strips = 1;
  a.sums = sums.data();
  a.sums_stride = 256;
  k.cols(a);
  EXPECT_EQ(sums, std::vector<int32_t>(256, -33792000));
}

TEST_P(CpuKernels, NonzeroKernelListsTheNonZeroInputsInOrder) {
  const cpu::KernelTable& k = cpu::kernels(GetParam());
  for (int64_t n : {0, 1, 31, 32, 63, 64, 65, 127, 1000, 6912}) {
    for (double zeros : {0.0, 0.5, 0.85, 1.0}) {
      const auto q = test::random_activation_codes(n, static_cast<uint32_t>(n * 10 + zeros * 100),
                                                   zeros, CodeRange::int8);
      std::vector<int32_t> expected;
      for (int64_t i = 0; i < n; ++i) {
        if (q[i] != 0) expected.push_back(static_cast<int32_t>(i));
      }
      std::vector<int32_t> out(static_cast<std::size_t>(n + 64), -1);
      const int64_t count = k.nonzero(q.data(), n, out.data());
      ASSERT_EQ(count, static_cast<int64_t>(expected.size())) << n << " " << zeros;
      out.resize(static_cast<std::size_t>(count));
      EXPECT_EQ(out, expected) << n << " " << zeros;
    }
  }
}

TEST_P(CpuKernels, StreamKernelSumsEveryWord) {
  const cpu::KernelTable& k = cpu::kernels(GetParam());
  cpu::AlignedBuffer buffer(64 * 9);
  std::mt19937_64 rng(9);
  for (std::size_t i = 0; i < buffer.size(); ++i) buffer.data()[i] = static_cast<uint8_t>(rng());
  for (int64_t lines : {0, 1, 2, 3, 8, 9}) {
    uint64_t expected = 0;  // wrapping sum of little-endian 64-bit words
    for (int64_t i = 0; i < lines * 64; i += 8) {
      uint64_t word = 0;
      for (int b = 7; b >= 0; --b) word = (word << 8) | buffer.data()[i + b];
      expected += word;
    }
    EXPECT_EQ(k.stream(buffer.data(), lines * 64), expected) << lines << " lines";
  }
}

INSTANTIATE_TEST_SUITE_P(EveryIsa, CpuKernels, ::testing::ValuesIn(cpu::supported_isas()),
                         [](const auto& info) { return std::string(cpu::to_string(info.param)); });

}  // namespace
}  // namespace a48
