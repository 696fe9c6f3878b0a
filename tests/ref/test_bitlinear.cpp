#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "quant/ternary_absmean.h"
#include "ref/bitlinear.h"
#include "ref/random_vectors.h"

namespace a48 {
namespace {

LinearWeights random_ternary(int64_t n_out, int64_t n_in, uint32_t seed) {
  LinearWeights w;
  w.n_out = n_out;
  w.n_in = n_in;
  w.latent = test::random_floats(static_cast<std::size_t>(n_out * n_in), seed, 0.05f);
  w.ternary.resize(w.latent.size());
  w.scale = quantize_ternary_absmean(w.latent, w.ternary);
  return w;
}

TEST(RefBitlinear, HandWorked) {
  // t = [[1, -1, 0], [0, 1, 1]], q = [3, -2, 5], alpha = 0.5, step = 0.25
  //   row 0: 3 + 2 + 0 = 5  -> 0.5 * 0.25 * 5 = 0.625
  //   row 1: 0 - 2 + 5 = 3  -> 0.5 * 0.25 * 3 = 0.375
  LinearWeights w;
  w.n_out = 2;
  w.n_in = 3;
  w.ternary = {1, -1, 0, 0, 1, 1};
  w.scale = 0.5f;
  const std::vector<int8_t> q = {3, -2, 5};
  std::vector<float> y = test::nan_vector(2);
  ref::bitlinear(w, q, 0.25f, y);
  EXPECT_EQ(y[0], 0.625f);
  EXPECT_EQ(y[1], 0.375f);
}

TEST(RefBitlinear, IntegerSumIsExactAtTheExtremes) {
  // 6912 terms of 1 * -128 = -884736 (the widest FFN row of a 3B model at the most negative code):
  // far outside int16, exact in int32.
  const std::vector<int8_t> t(6912, 1), q(6912, -128);
  EXPECT_EQ(ref::bitlinear_dot(t, q), -884736);
  const std::vector<int8_t> t_neg(7, -1), q_pos(7, 127);
  EXPECT_EQ(ref::bitlinear_dot(t_neg, q_pos), -889);
}

TEST(RefBitlinear, MatchesDequantisedDoubleReferenceOnAwkwardShapes) {
  for (auto [n_out, n_in] : {std::pair{1, 1}, {7, 33}, {31, 257}, {33, 7}, {5, 2560}}) {
    const LinearWeights w = random_ternary(n_out, n_in, 40 + static_cast<uint32_t>(n_in));
    for (auto [lo, hi] : {std::pair{-8, 7}, {-128, 127}}) {
      const auto q = test::random_codes(static_cast<std::size_t>(n_in), 7 + n_out, lo, hi);
      const float step = 0.0371f;
      std::vector<float> y = test::nan_vector(static_cast<std::size_t>(n_out));
      ref::bitlinear(w, q, step, y);
      for (int o = 0; o < n_out; ++o) {
        double expected = 0;  // sum_i (alpha t) (step q), dequantized, in double
        for (int i = 0; i < n_in; ++i) {
          expected += (static_cast<double>(w.scale) * w.ternary[o * n_in + i]) *
                      (static_cast<double>(step) * q[i]);
        }
        EXPECT_NEAR(y[o], expected, 1e-5 * std::fabs(expected) + 1e-12)
            << n_out << "x" << n_in << " row " << o;
        EXPECT_EQ(y[o], ref::bitlinear_row(w, o, q, step));
      }
    }
  }
}

TEST(RefBitlinear, RejectsBadShapes) {
  const LinearWeights w = random_ternary(3, 5, 1);
  const std::vector<int8_t> q(4, 1);
  std::vector<float> y(3);
  EXPECT_THROW(ref::bitlinear(w, q, 1.0f, y), Error);
  const std::vector<int8_t> q5(5, 1);
  std::vector<float> y2(2);
  EXPECT_THROW(ref::bitlinear(w, q5, 1.0f, y2), Error);
  EXPECT_THROW(ref::bitlinear_row(w, 3, q5, 1.0f), Error);
  LinearWeights missing = w;
  missing.ternary.pop_back();
  EXPECT_THROW(ref::bitlinear(missing, q5, 1.0f, y), Error);
}

}  // namespace
}  // namespace a48
