#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "ref/random_vectors.h"
#include "ref/rmsnorm.h"

namespace a48 {
namespace {

TEST(RefRmsnorm, HandWorkedThreeFour) {
  // mean(x^2) = (9 + 16) / 2 = 12.5, r = 1/sqrt(12.5) = 0.28284271
  // x * r = [0.84852814, 1.13137085]; times weight [2, 0.5] = [1.69705627, 0.56568542]
  const std::vector<float> x = {3.0f, 4.0f}, w = {2.0f, 0.5f};
  std::vector<float> out = test::nan_vector(2);
  ref::rmsnorm(x, w, 0.0f, out);
  EXPECT_FLOAT_EQ(out[0], 1.69705627f);
  EXPECT_FLOAT_EQ(out[1], 0.56568542f);
}

TEST(RefRmsnorm, EpsilonIsAddedToTheVariance) {
  // x = [1, -1]: mean(x^2) = 1; with eps = 3, r = 1/sqrt(4) = 0.5 exactly.
  const std::vector<float> x = {1.0f, -1.0f}, w = {1.0f, 1.0f};
  std::vector<float> out = test::nan_vector(2);
  ref::rmsnorm(x, w, 3.0f, out);
  EXPECT_EQ(out[0], 0.5f);
  EXPECT_EQ(out[1], -0.5f);
  // All zeros stay zeros (finite) thanks to eps.
  const std::vector<float> zeros = {0.0f, 0.0f};
  ref::rmsnorm(zeros, w, 1e-5f, out);
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[1], 0.0f);
}

TEST(RefRmsnorm, MatchesDoublePrecisionOnAwkwardSizes) {
  for (std::size_t n : {1u, 7u, 31u, 33u, 257u, 2560u}) {
    const std::vector<float> x = test::random_floats(n, 11 + static_cast<uint32_t>(n), 3.0f);
    const std::vector<float> w = test::random_floats(n, 97 + static_cast<uint32_t>(n), 2.0f);
    std::vector<float> out = test::nan_vector(n);
    ref::rmsnorm(x, w, 1e-6f, out);
    double sum = 0;
    for (float v : x) sum += static_cast<double>(v) * v;
    const double r = 1.0 / std::sqrt(sum / static_cast<double>(n) + 1e-6);
    for (std::size_t i = 0; i < n; ++i) {
      const double expected = static_cast<double>(w[i]) * x[i] * r;
      // Four fp32 roundings (variance, rsqrt, two products): a few ulps of the result.
      EXPECT_NEAR(out[i], expected, 4e-7 * std::fabs(expected) + 1e-30) << "n " << n << " i " << i;
    }
  }
}

TEST(RefRmsnorm, InPlaceEqualsOutOfPlace) {
  std::vector<float> x = test::random_floats(33, 5);
  const std::vector<float> w = test::random_floats(33, 6);
  std::vector<float> out = test::nan_vector(33);
  ref::rmsnorm(x, w, 1e-5f, out);
  ref::rmsnorm(x, w, 1e-5f, x);
  EXPECT_EQ(x, out);
}

TEST(RefRmsnorm, RejectsBadShapes) {
  std::vector<float> x(3, 1.0f), w(2, 1.0f), out(3);
  EXPECT_THROW(ref::rmsnorm(x, w, 1e-5f, out), Error);
  EXPECT_THROW(ref::rmsnorm({}, {}, 1e-5f, {}), Error);
}

}  // namespace
}  // namespace a48
