#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "ref/random_vectors.h"
#include "ref/rope.h"

namespace a48 {
namespace {

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

TEST(RefRope, InverseFrequencies) {
  // hd = 4, theta = 10000: f_0 = 1/10000^0 = 1, f_1 = 1/10000^(2/4) = 0.01.
  const std::vector<float> f = ref::rope_inv_freq(4, 10000.0);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0], 1.0f);
  EXPECT_FLOAT_EQ(f[1], 0.01f);
}

TEST(RefRope, RotateHalfPairingByHand) {
  // hd = 4, position 1: pairs are (0, 2) at f_0 = 1 and (1, 3) at f_1 = 0.01, not (0,1),(2,3).
  //   out0 = x0 cos1 - x2 sin1       = 1*0.5403023 - 3*0.8414710 = -1.9841106
  //   out2 = x2 cos1 + x0 sin1       = 3*0.5403023 + 1*0.8414710 =  2.4623779
  //   out1 = x1 cos.01 - x3 sin.01   = 2*0.9999500 - 4*0.0099998 =  1.9599007
  //   out3 = x3 cos.01 + x1 sin.01   = 4*0.9999500 + 2*0.0099998 =  4.0197997
  std::vector<float> x = {1.0f, 2.0f, 3.0f, 4.0f};
  ref::rope(x, 1, 4, 1, 10000.0);
  EXPECT_FLOAT_EQ(x[0], -1.9841106f);
  EXPECT_FLOAT_EQ(x[1], 1.9599007f);
  EXPECT_FLOAT_EQ(x[2], 2.4623779f);
  EXPECT_FLOAT_EQ(x[3], 4.0197997f);
}

TEST(RefRope, PositionZeroIsIdentity) {
  const std::vector<float> original = test::random_floats(3 * 64, 3);
  std::vector<float> x = original;
  ref::rope(x, 3, 64, 0, 500000.0);
  EXPECT_EQ(x, original);
}

TEST(RefRope, PreservesNormsAndRotatesEveryHeadAlike) {
  const int64_t hd = 32;
  const std::vector<float> head = test::random_floats(hd, 8);
  std::vector<float> x;  // [3, hd]: the same head three times
  for (int h = 0; h < 3; ++h) x.insert(x.end(), head.begin(), head.end());
  for (int64_t position : {1, 7, 100, 4095}) {
    std::vector<float> y = x;
    ref::rope(y, 3, hd, position, 10000.0);
    for (int64_t i = 0; i < hd / 2; ++i) {  // every (i, i + hd/2) pair keeps its length
      const double before = std::hypot(x[i], x[i + hd / 2]);
      const double after = std::hypot(y[i], y[i + hd / 2]);
      EXPECT_NEAR(after, before, 1e-6 * (before + 1e-3)) << "position " << position;
    }
    for (int64_t i = 0; i < hd; ++i) {
      EXPECT_EQ(y[i], y[hd + i]);
      EXPECT_EQ(y[i], y[2 * hd + i]);
    }
  }
}

TEST(RefRope, ScoresDependOnlyOnRelativePosition) {
  // <R(m) q, R(n) k> = <q, R(n - m) k>: (5, 3) and (12, 10) give the same score.
  const std::vector<float> q = test::random_floats(16, 21), k = test::random_floats(16, 22);
  auto score = [&](int64_t m, int64_t n) {
    std::vector<float> qm = q, kn = k;
    ref::rope(qm, 1, 16, m, 10000.0);
    ref::rope(kn, 1, 16, n, 10000.0);
    return dot(qm, kn);
  };
  EXPECT_NEAR(score(5, 3), score(12, 10), 1e-5);
  EXPECT_NEAR(score(0, 0), dot(q, k), 1e-12);
  EXPECT_GT(std::fabs(score(5, 3) - score(5, 4)), 1e-3);  // and do depend on it
}

TEST(RefRope, RejectsBadShapes) {
  std::vector<float> x(6, 1.0f);
  EXPECT_THROW(ref::rope(x, 2, 3, 1, 10000.0), Error);  // odd head_dim
  EXPECT_THROW(ref::rope(x, 2, 4, 1, 10000.0), Error);  // 6 != 2 * 4
  EXPECT_THROW(ref::rope(x, 3, 2, -1, 10000.0), Error);
  EXPECT_THROW(ref::rope(x, 3, 2, 1, 0.0), Error);
}

}  // namespace
}  // namespace a48
