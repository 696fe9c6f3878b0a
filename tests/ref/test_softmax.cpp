#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "ref/random_vectors.h"
#include "ref/softmax.h"

namespace a48 {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(RefSoftmax, HandWorked) {
  // e^1, e^2, e^3 = 2.7183, 7.3891, 20.0855; sum 30.1929 -> [0.0900306, 0.2447285, 0.6652410]
  const std::vector<float> x = {1.0f, 2.0f, 3.0f};
  std::vector<float> p = test::nan_vector(3);
  ref::softmax(x, p);
  EXPECT_FLOAT_EQ(p[0], 0.09003057f);
  EXPECT_FLOAT_EQ(p[1], 0.24472847f);
  EXPECT_FLOAT_EQ(p[2], 0.66524096f);
  // log_softmax([0, 0]) = [-ln 2, -ln 2]
  const std::vector<float> zeros = {0.0f, 0.0f};
  ref::log_softmax(zeros, std::span<float>(p).first(2));
  EXPECT_FLOAT_EQ(p[0], -0.69314718f);
  EXPECT_FLOAT_EQ(p[1], -0.69314718f);
}

TEST(RefSoftmax, SumsToOneAndAgreesWithLogSoftmax) {
  for (std::size_t n : {1u, 7u, 33u, 257u, 32000u}) {
    const std::vector<float> x = test::random_floats(n, static_cast<uint32_t>(n), 20.0f);
    std::vector<float> p = test::nan_vector(n), lp = test::nan_vector(n);
    ref::softmax(x, p);
    ref::log_softmax(x, lp);
    const double sum = std::accumulate(p.begin(), p.end(), 0.0);
    EXPECT_NEAR(sum, 1.0, 1e-6) << n;
    for (std::size_t i = 0; i < n; ++i) {
      // lp is rounded to fp32: an absolute error of |lp| * 2^-24 becomes that relative error in p.
      const double tolerance = p[i] * (1e-6 + std::fabs(lp[i]) * 0x1.0p-23) + 1e-30;
      EXPECT_NEAR(std::exp(static_cast<double>(lp[i])), p[i], tolerance) << i;
    }
  }
}

TEST(RefSoftmax, MaskedAndHugeValues) {
  // -inf is a masked entry: probability 0, log-probability -inf.
  const std::vector<float> masked = {-kInf, 0.0f, -kInf, 0.0f};
  std::vector<float> p = test::nan_vector(4);
  ref::softmax(masked, p);
  EXPECT_EQ(p, (std::vector<float>{0.0f, 0.5f, 0.0f, 0.5f}));
  ref::log_softmax(masked, p);
  EXPECT_EQ(p[0], -kInf);
  EXPECT_FLOAT_EQ(p[1], -0.69314718f);
  // Max subtraction keeps exp finite: [1e30, 1e30] -> [0.5, 0.5]; [3e38, -3e38] -> [1, 0].
  const std::vector<float> big = {1e30f, 1e30f}, extreme = {3e38f, -3e38f};
  std::vector<float> q = test::nan_vector(2);
  ref::softmax(big, q);
  EXPECT_EQ(q, (std::vector<float>{0.5f, 0.5f}));
  ref::softmax(extreme, q);
  EXPECT_EQ(q, (std::vector<float>{1.0f, 0.0f}));
}

TEST(RefSoftmax, InPlace) {
  std::vector<float> x = test::random_floats(31, 3);
  std::vector<float> p = test::nan_vector(31);
  ref::softmax(x, p);
  ref::softmax(x, x);
  EXPECT_EQ(x, p);
}

TEST(RefSoftmax, RejectsUnusableRows) {
  std::vector<float> out(2);
  const std::vector<float> all_masked = {-kInf, -kInf};
  const std::vector<float> nan = {0.0f, std::numeric_limits<float>::quiet_NaN()};
  const std::vector<float> pos_inf = {0.0f, kInf};
  EXPECT_THROW(ref::softmax(all_masked, out), Error);
  EXPECT_THROW(ref::softmax(nan, out), Error);
  EXPECT_THROW(ref::log_softmax(pos_inf, out), Error);
  EXPECT_THROW(ref::softmax({}, {}), Error);
  EXPECT_THROW(ref::softmax(std::vector<float>(3, 1.0f), out), Error);
}

}  // namespace
}  // namespace a48
