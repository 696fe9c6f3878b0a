#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "ref/linear.h"
#include "ref/random_vectors.h"

namespace a48 {
namespace {

TEST(RefLinear, HandWorked) {
  // W = [[1, 2, 3], [-1, 0.5, 0]], x = [2, -1, 0.5]
  //   y0 = 2 - 2 + 1.5 = 1.5;  y1 = -2 - 0.5 + 0 = -2.5
  const std::vector<float> w = {1, 2, 3, -1, 0.5f, 0}, x = {2, -1, 0.5f};
  std::vector<float> y = test::nan_vector(2);
  ref::linear(x, w, 2, 3, y);
  EXPECT_EQ(y[0], 1.5f);
  EXPECT_EQ(y[1], -2.5f);
}

TEST(RefLinear, IsTheCorrectlyRoundedDotProduct) {
  // Cancellation that fp32 accumulation gets wrong: 1e8 + 1 - 1e8 = 1 (fp32 running sum gives 0).
  const std::vector<float> w = {1e8f, 1.0f, -1e8f}, x = {1.0f, 1.0f, 1.0f};
  EXPECT_EQ(ref::linear_row(x, w), 1.0f);
}

TEST(RefLinear, AwkwardShapesAgainstDoubleLoop) {
  for (auto [n_out, n_in] : {std::pair{1, 1}, {7, 33}, {31, 257}, {33, 7}}) {
    const auto w = test::random_floats(static_cast<std::size_t>(n_out * n_in), 3 + n_in);
    const auto x = test::random_floats(static_cast<std::size_t>(n_in), 5 + n_out);
    std::vector<float> y = test::nan_vector(static_cast<std::size_t>(n_out));
    ref::linear(x, w, n_out, n_in, y);
    for (int o = 0; o < n_out; ++o) {
      double expected = 0;
      for (int i = 0; i < n_in; ++i) expected += static_cast<double>(x[i]) * w[o * n_in + i];
      EXPECT_EQ(y[o], static_cast<float>(expected));
    }
  }
}

TEST(RefLinear, TernaryRowEqualsMaterialisedWeights) {
  // alpha * t is exact in fp32, so both paths compute the same real number up to double rounding.
  const auto x = test::random_floats(257, 9);
  const auto t = test::random_codes(257, 10, -1, 1);
  const float alpha = 0.0173f;
  std::vector<float> w(257);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = alpha * t[i];
  const float materialised = ref::linear_row(x, w);
  EXPECT_NEAR(ref::linear_ternary_row(x, t, alpha), materialised, 1e-6f * std::fabs(materialised));
}

TEST(RefLinear, RejectsBadShapes) {
  std::vector<float> w(6), x(3), y(2);
  EXPECT_THROW(ref::linear(x, w, 3, 3, y), Error);
  EXPECT_THROW(ref::linear(x, w, 2, 3, std::span<float>(y).first(1)), Error);
  EXPECT_THROW(ref::linear_row(std::span<const float>(x).first(2), w), Error);
}

}  // namespace
}  // namespace a48
