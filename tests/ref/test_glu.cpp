#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "ref/glu.h"
#include "ref/random_vectors.h"

namespace a48 {
namespace {

TEST(RefGlu, Relu2ByHand) {
  // relu2 = relu(g)^2: -2 -> 0, 0.5 -> 0.25, 3 -> 9; times up [5, 4, -1] = [0, 1, -9].
  const std::vector<float> gate = {-2.0f, 0.5f, 3.0f}, up = {5.0f, 4.0f, -1.0f};
  std::vector<float> out = test::nan_vector(3);
  ref::relu2_glu(gate, up, out);
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[1], 1.0f);
  EXPECT_EQ(out[2], -9.0f);
  EXPECT_EQ(ref::relu2(0.0f), 0.0f);
  EXPECT_EQ(ref::relu2(-1e-30f), 0.0f);
}

TEST(RefGlu, SiluByHand) {
  // silu(1) = 1/(1 + e^-1) = 0.7310586; silu(-1) = -1/(1 + e) = -0.2689414; silu(0) = 0.
  const std::vector<float> gate = {1.0f, -1.0f, 0.0f}, up = {2.0f, 1.0f, 7.0f};
  std::vector<float> out = test::nan_vector(3);
  ref::silu_glu(gate, up, out);
  EXPECT_FLOAT_EQ(out[0], 1.4621172f);
  EXPECT_FLOAT_EQ(out[1], -0.2689414f);
  EXPECT_EQ(out[2], 0.0f);
  // Saturation: silu(x) -> x for large x, -> 0 for very negative x, never NaN.
  EXPECT_EQ(ref::silu(100.0f), 100.0f);
  EXPECT_EQ(ref::silu(-200.0f), 0.0f);
}

TEST(RefGlu, InPlaceAndRandomAgainstDouble) {
  const std::vector<float> gate = test::random_floats(257, 1, 4.0f),
                           up = test::random_floats(257, 2);
  std::vector<float> out = up;
  ref::relu2_glu(gate, out, out);
  for (std::size_t i = 0; i < gate.size(); ++i) {
    const double g = std::max(0.0, static_cast<double>(gate[i]));
    EXPECT_NEAR(out[i], g * g * up[i], 2.5e-7 * std::fabs(g * g * up[i]));
  }
}

TEST(RefGlu, RejectsBadShapes) {
  std::vector<float> gate(3), up(2), out(3);
  EXPECT_THROW(ref::relu2_glu(gate, up, out), Error);
  EXPECT_THROW(ref::silu_glu(gate, up, out), Error);
}

}  // namespace
}  // namespace a48
