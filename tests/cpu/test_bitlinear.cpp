// cpu::bitlinear on every ISA this machine runs, against ref::bitlinear / ref::project: outputs
// must be bit-identical (exact int32 sums, the same double-then-float rescale).
#include <gtest/gtest.h>

#include "core/error.h"
#include "cpu/bitlinear.h"
#include "cpu/dispatch.h"
#include "cpu_test_util.h"
#include "ref/bitlinear.h"
#include "ref/projection.h"

namespace a48 {
namespace {

using cpu::Isa;
using cpu::PackOrder;
using test::CodeRange;

constexpr PackOrder kOrders[] = {PackOrder::rows, PackOrder::columns};
constexpr double kZeroFractions[] = {0.0, 0.5, 0.9, 1.0};

// ref::project's integer path: rows with mask 0 are 0, the others ref::bitlinear_row.
std::vector<float> reference(const LinearWeights& w, std::span<const int8_t> q, float step,
                             std::span<const float> row_mask = {}) {
  ProjectionQuantization pq;
  pq.quantizer = ActivationQuantizer::int8_absmax;
  ref::ActivationRow a;
  a.values.assign(q.size(), 0.0f);  // project reads only q and step on this path
  a.q.assign(q.begin(), q.end());
  a.step = step;
  a.quantized = true;
  std::vector<float> y = test::nan_floats(static_cast<std::size_t>(w.n_out));
  ref::project(pq, w, a, y, row_mask);
  return y;
}

class CpuBitlinear : public ::testing::TestWithParam<Isa> {
 protected:
  const cpu::KernelTable* table() const { return &cpu::kernels(GetParam()); }

  // Runs cpu::bitlinear on both packings of w and compares with the reference, bit for bit.
  void expect_matches(const LinearWeights& w, const cpu::PackedLinear* packed, int64_t n_tokens,
                      const std::vector<int8_t>& q, const std::vector<float>& steps,
                      const std::vector<float>& mask, cpu::ThreadPool* pool,
                      const std::string& what) {
    std::vector<float> expected;
    for (int64_t t = 0; t < n_tokens; ++t) {
      const std::span<const int8_t> q_t(q.data() + t * w.n_in, static_cast<std::size_t>(w.n_in));
      const std::span<const float> m_t =
          mask.empty() ? std::span<const float>()
                       : std::span<const float>(mask.data() + t * w.n_out,
                                                static_cast<std::size_t>(w.n_out));
      const std::vector<float> y_t = reference(w, q_t, steps[t], m_t);
      expected.insert(expected.end(), y_t.begin(), y_t.end());
    }
    for (int i = 0; i < 2; ++i) {
      std::vector<float> y = test::nan_floats(expected.size());
      if (n_tokens == 1) {
        cpu::bitlinear(packed[i], q, steps[0], y, mask, pool, table());
      } else {
        cpu::bitlinear_tokens(packed[i], n_tokens, q, steps, y, mask, pool, table());
      }
      const int64_t bad = test::first_bit_difference(y, expected);
      ASSERT_EQ(bad, -1) << what << " order " << cpu::to_string(kOrders[i]) << ": y[" << bad
                         << "] = " << y[bad] << ", reference " << expected[bad];
    }
  }

  void check_shape(int64_t n_out, int64_t n_in, uint32_t seed, int n_cases) {
    const LinearWeights w = test::random_ternary_weights(n_out, n_in, seed);
    const cpu::PackedLinear packed[2] = {cpu::pack_linear(w, PackOrder::rows),
                                         cpu::pack_linear(w, PackOrder::columns)};
    for (int c = 0; c < n_cases; ++c) {
      const double zeros = kZeroFractions[c % 4];
      // Cases c and c + 4 share a share of zeros and differ in range: every level meets both.
      const CodeRange range = (c / 4 + c) % 2 == 0 ? CodeRange::int8 : CodeRange::int4;
      const auto q = test::random_activation_codes(n_in, seed * 31 + c, zeros, range);
      const std::vector<float> step = {0.01f + 0.37f * static_cast<float>(c)};
      expect_matches(w, packed, 1, q, step, {}, nullptr,
                     fmt::format("{}x{} zeros {} {}", n_out, n_in, zeros, to_string(range)));
    }
  }
};

TEST_P(CpuBitlinear, MatchesReferenceOnAwkwardShapes) {
  // Every pair of sizes around the 64-code field groups and the 256-code strips, with 0, 50, 90
  // and 100% zero inputs in both the INT8 and the INT4 range.
  const int64_t sizes[] = {1, 7, 31, 33, 63, 65, 127, 129, 257};
  for (int64_t n_out : sizes) {
    for (int64_t n_in : sizes) check_shape(n_out, n_in, static_cast<uint32_t>(n_out * 7 + n_in), 8);
  }
}

TEST_P(CpuBitlinear, MatchesReferenceOnLargeShapes) {
  const std::pair<int64_t, int64_t> shapes[] = {
      {1000, 2560}, {2560, 1000}, {2560, 257}, {129, 2560}, {2560, 7}};
  for (auto [n_out, n_in] : shapes)
    check_shape(n_out, n_in, static_cast<uint32_t>(n_out + n_in), 4);
}

TEST_P(CpuBitlinear, ExtremeCodesAreExact) {
  // 2560 inputs of -128 against rows of all -1, all +1 and alternating signs:
  //   sums 327680, -327680 and 0, far outside int16 and exact in int32.
  LinearWeights w;
  w.n_out = 3;
  w.n_in = 2560;
  w.scale = 0.75f;
  for (int o = 0; o < 3; ++o) {
    for (int i = 0; i < 2560; ++i)
      w.ternary.push_back(static_cast<int8_t>(o == 0 ? -1 : o == 1 ? 1 : (i % 2 ? 1 : -1)));
  }
  const std::vector<int8_t> q(2560, -128);
  const float step = 0.125f;
  for (PackOrder order : kOrders) {
    std::vector<float> y = test::nan_floats(3);
    cpu::bitlinear(cpu::pack_linear(w, order), q, step, y, {}, nullptr, table());
    EXPECT_EQ(y[0], 0.75f * 0.125f * 327680.0f);
    EXPECT_EQ(y[1], -0.75f * 0.125f * 327680.0f);
    EXPECT_EQ(y[2], 0.0f);
  }
}

TEST_P(CpuBitlinear, LongInputsAreExact) {
  // 70000 inputs: more than the 2^14 groups of 4 columns after which the AVX-512 columns kernel
  // drains its 4^f-scaled accumulators, and sums near +-9e6.
  LinearWeights w = test::random_ternary_weights(3, 70000, 12, 0.1);
  for (int i = 0; i < 70000; ++i) w.ternary[i] = 1;  // row 0: all +1
  const cpu::PackedLinear packed[2] = {cpu::pack_linear(w, PackOrder::rows),
                                       cpu::pack_linear(w, PackOrder::columns)};
  expect_matches(w, packed, 1, std::vector<int8_t>(70000, -128), {0.5f}, {}, nullptr, "-128");
  expect_matches(w, packed, 1, test::random_activation_codes(70000, 13, 0.0, CodeRange::int8),
                 {0.5f}, {}, nullptr, "random int8");
}

TEST_P(CpuBitlinear, RowMaskedRowsAreZeroAndTheOthersExact) {
  const std::pair<int64_t, int64_t> shapes[] = {{257, 129}, {1000, 300}, {600, 2560}};
  for (auto [n_out, n_in] : shapes) {
    const auto seed = static_cast<uint32_t>(n_out * 3 + n_in);
    const LinearWeights w = test::random_ternary_weights(n_out, n_in, seed);
    const cpu::PackedLinear packed[2] = {cpu::pack_linear(w, PackOrder::rows),
                                         cpu::pack_linear(w, PackOrder::columns)};
    std::mt19937 rng(seed);
    std::bernoulli_distribution keep(0.2);  // the gate's ~80% zeros
    std::vector<float> sparse(static_cast<std::size_t>(n_out)), strip_off(sparse.size(), 1.0f);
    for (float& m : sparse) m = keep(rng) ? 0.5f : 0.0f;
    for (int64_t o = 256; o < std::min<int64_t>(n_out, 512); ++o) strip_off[o] = 0.0f;  // a strip
    const std::vector<float> masks[] = {sparse, strip_off, std::vector<float>(sparse.size(), 0.0f),
                                        std::vector<float>(sparse.size(), 1.0f)};
    for (std::size_t m = 0; m < 4; ++m) {
      const auto q = test::random_activation_codes(n_in, seed + m, 0.5, CodeRange::int8);
      expect_matches(w, packed, 1, q, {0.3f}, masks[m], nullptr,
                     fmt::format("{}x{} mask {}", n_out, n_in, m));
    }
  }
}

TEST_P(CpuBitlinear, TokensMatchOneTokenAtATime) {
  // Token counts around the kernels' token tiles (4 and 8), each token with its own sparsity,
  // with and without per-token row masks.
  const std::pair<int64_t, int64_t> shapes[] = {{33, 257}, {300, 129}, {520, 1000}};
  for (auto [n_out, n_in] : shapes) {
    const auto seed = static_cast<uint32_t>(n_out + 5 * n_in);
    const LinearWeights w = test::random_ternary_weights(n_out, n_in, seed);
    const cpu::PackedLinear packed[2] = {cpu::pack_linear(w, PackOrder::rows),
                                         cpu::pack_linear(w, PackOrder::columns)};
    for (int64_t n_tokens : {2, 3, 4, 5, 8, 9, 13}) {
      std::vector<int8_t> q;
      std::vector<float> steps, mask;
      std::mt19937 rng(seed + static_cast<uint32_t>(n_tokens));
      std::bernoulli_distribution keep(0.3);
      for (int64_t t = 0; t < n_tokens; ++t) {
        const auto q_t = test::random_activation_codes(n_in, seed + 100 * t, kZeroFractions[t % 4],
                                                       t % 3 ? CodeRange::int8 : CodeRange::int4);
        q.insert(q.end(), q_t.begin(), q_t.end());
        steps.push_back(0.02f * static_cast<float>(t + 1));
        for (int64_t o = 0; o < n_out; ++o) mask.push_back(keep(rng) ? 1.0f : 0.0f);
      }
      expect_matches(w, packed, n_tokens, q, steps, {}, nullptr,
                     fmt::format("{}x{} tokens {}", n_out, n_in, n_tokens));
      expect_matches(w, packed, n_tokens, q, steps, mask, nullptr,
                     fmt::format("{}x{} tokens {} masked", n_out, n_in, n_tokens));
    }
  }
}

TEST_P(CpuBitlinear, ThreadCountDoesNotChangeResults) {
  const LinearWeights w = test::random_ternary_weights(2560, 1000, 77);
  const cpu::PackedLinear packed[2] = {cpu::pack_linear(w, PackOrder::rows),
                                       cpu::pack_linear(w, PackOrder::columns)};
  const auto q1 = test::random_activation_codes(1000, 78, 0.85, CodeRange::int8);
  const auto q5 = test::random_activation_codes(5 * 1000, 79, 0.5, CodeRange::int4);
  std::vector<float> mask(5 * 2560);
  for (std::size_t i = 0; i < mask.size(); ++i) mask[i] = (i * 7919) % 5 == 0 ? 1.0f : 0.0f;
  for (int threads : {2, 3}) {
    cpu::ThreadPool pool(threads);
    expect_matches(w, packed, 1, q1, {0.1f}, {}, &pool, fmt::format("{} threads", threads));
    expect_matches(w, packed, 5, q5, {0.1f, 0.2f, 0.3f, 0.4f, 0.5f}, mask, &pool,
                   fmt::format("{} threads, 5 tokens", threads));
  }
}

INSTANTIATE_TEST_SUITE_P(EveryIsa, CpuBitlinear, ::testing::ValuesIn(cpu::supported_isas()),
                         [](const auto& info) { return std::string(cpu::to_string(info.param)); });

TEST(CpuBitlinearApi, ZeroStepAndEmptyShapes) {
  const LinearWeights w = test::random_ternary_weights(9, 20, 5);
  const auto q = test::random_activation_codes(20, 6, 0.0, CodeRange::int4);
  for (PackOrder order : kOrders) {
    std::vector<float> y = test::nan_floats(9);
    cpu::bitlinear(cpu::pack_linear(w, order), q, 0.0f, y);
    EXPECT_EQ(test::first_bit_difference(y, reference(w, q, 0.0f)), -1);
    // n_in = 0: every sum is empty; n_out = 0: nothing to write; 0 tokens: nothing at all.
    const LinearWeights no_inputs = test::random_ternary_weights(4, 0, 1);
    std::vector<float> y4 = test::nan_floats(4);
    cpu::bitlinear(cpu::pack_linear(no_inputs, order), {}, 1.0f, y4);
    EXPECT_EQ(y4, std::vector<float>(4, 0.0f));
    std::vector<float> none;
    cpu::bitlinear(cpu::pack_linear(test::random_ternary_weights(0, 5, 1), order),
                   std::vector<int8_t>(5, 1), 1.0f, none);
    cpu::bitlinear_tokens(cpu::pack_linear(w, order), 0, {}, {}, none);
  }
}

TEST(CpuBitlinearApi, RejectsBadShapes) {
  const LinearWeights w = test::random_ternary_weights(3, 5, 1);
  for (PackOrder order : kOrders) {
    const cpu::PackedLinear p = cpu::pack_linear(w, order);
    std::vector<float> y(3);
    const std::vector<int8_t> q(5, 1), q4(4, 1);
    EXPECT_THROW(cpu::bitlinear(p, q4, 1.0f, y), Error);
    std::vector<float> y2(2);
    EXPECT_THROW(cpu::bitlinear(p, q, 1.0f, y2), Error);
    EXPECT_THROW(cpu::bitlinear(p, q, 1.0f, y, std::vector<float>(2, 1.0f)), Error);
    std::vector<float> y6(6);
    const std::vector<float> one_step = {1.0f};
    EXPECT_THROW(cpu::bitlinear_tokens(p, 2, std::vector<int8_t>(10, 1), one_step, y6), Error);
    EXPECT_THROW(cpu::bitlinear_tokens(p, -1, {}, {}, {}), Error);
  }
  cpu::PackedLinear p = cpu::pack_linear(w, PackOrder::rows);
  p.version = 2;
  std::vector<float> y(3);
  EXPECT_THROW(cpu::bitlinear(p, std::vector<int8_t>(5, 1), 1.0f, y), Error);
}

TEST(CpuBitlinearApi, WeightBytesCountWhatIsRead) {
  // [600, 700]: rows order reads 3-strip rows (192 bytes); columns order reads 3-strip columns.
  const LinearWeights w = test::random_ternary_weights(600, 700, 8);
  std::vector<int8_t> q(700, 0);
  for (int i = 0; i < 700; i += 10) q[i] = 3;  // 70 non-zero inputs
  std::vector<float> mask(600, 0.0f);
  for (int o = 0; o < 600; o += 100) mask[o] = 1.0f;  // rows 0..500: strips 0 and 1 only
  const cpu::PackedLinear rows = cpu::pack_linear(w, PackOrder::rows);
  const cpu::PackedLinear cols = cpu::pack_linear(w, PackOrder::columns);
  EXPECT_EQ(cpu::bitlinear_weight_bytes(rows, q), 600 * 192);
  EXPECT_EQ(cpu::bitlinear_weight_bytes(rows, q, mask), 6 * 192);
  EXPECT_EQ(cpu::bitlinear_weight_bytes(cols, q), 70 * 192);
  EXPECT_EQ(cpu::bitlinear_weight_bytes(cols, q, mask), 70 * 128);
}

}  // namespace
}  // namespace a48
