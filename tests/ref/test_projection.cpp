#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "quant/fp4_minmax.h"
#include "quant/int4_absmean.h"
#include "quant/int8_absmax.h"
#include "quant/ternary_absmean.h"
#include "ref/bitlinear.h"
#include "ref/linear.h"
#include "ref/projection.h"
#include "ref/random_vectors.h"

namespace a48 {
namespace {

using Q = ActivationQuantizer;

LinearWeights random_weights(int64_t n_out, int64_t n_in, uint32_t seed) {
  LinearWeights w;
  w.n_out = n_out;
  w.n_in = n_in;
  w.latent = test::random_floats(static_cast<std::size_t>(n_out * n_in), seed, 0.05f);
  w.ternary.resize(w.latent.size());
  w.scale = quantize_ternary_absmean(w.latent, w.ternary);
  return w;
}

int64_t count_nonzero(const std::vector<float>& v) {
  int64_t n = 0;
  for (float x : v) n += x != 0.0f;
  return n;
}

TEST(RefProjection, NoneKeepsTheInput) {
  const std::vector<float> x = {0.5f, 0.0f, -2.0f};
  const ref::ActivationRow row = ref::quantize_activation_row({Q::none, 1.0f, false}, x);
  EXPECT_FALSE(row.quantized);
  EXPECT_EQ(row.values, x);
  EXPECT_EQ(row.count_nonzero(), 2);
}

TEST(RefProjection, EachQuantizerIsTheQuantModule) {
  const std::vector<float> x = test::random_floats(33, 4, 2.0f);
  std::vector<int8_t> q(x.size());
  struct Case {
    ActivationQuantizer quantizer;
    float expected_step;
  };
  const Case cases[] = {
      {Q::int8_absmax, quantize_int8_absmax(x, q)},
      {Q::int4_absmean, quantize_int4_absmean(x, q)},
      {Q::int4_absmean_double_beta, quantize_int4_absmean(x, q, 2.0f)},
      {Q::fp4_e2m1, quantize_fp4_minmax(x, Fp4Format::e2m1, q)},
  };
  for (const Case& c : cases) {
    const ref::ActivationRow row = ref::quantize_activation_row({c.quantizer, 1.0f, true}, x);
    EXPECT_TRUE(row.quantized);
    EXPECT_EQ(row.step, c.expected_step) << static_cast<int>(c.quantizer);
    ASSERT_EQ(row.q.size(), x.size());
    for (std::size_t i = 0; i < x.size(); ++i) EXPECT_EQ(row.values[i], row.step * row.q[i]);
  }
  // The double-beta step is the plain one times 2 (beta doubles, step = beta/sqrt(7)).
  EXPECT_NEAR(cases[2].expected_step, 2 * cases[1].expected_step, 1e-6f * cases[1].expected_step);
}

TEST(RefProjection, TopKThenInt8KeepsHalf) {
  // Distinct magnitudes, so exactly 16 of 32 survive; the kept ones are the 16 largest |x|.
  std::vector<float> x(32);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = (i % 2 ? -1.0f : 1.0f) * (1.0f + static_cast<float>((i * 7) % 32));
  }
  const ref::ActivationRow row = ref::quantize_activation_row({Q::int8_absmax, 0.5f, true}, x);
  EXPECT_EQ(row.count_nonzero(), 16);
  for (std::size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(row.q[i] != 0, std::fabs(x[i]) > 16.0f) << i;  // |x| in 1..32: top half is 17..32
  }
}

TEST(RefProjection, QuantizedProjectionIsBitlinear) {
  const LinearWeights w = random_weights(31, 257, 3);
  const std::vector<float> x = test::random_floats(257, 5);
  const ProjectionQuantization pq{Q::int4_absmean, 1.0f, true};
  const ref::ActivationRow row = ref::quantize_activation_row(pq, x);
  std::vector<float> y = test::nan_vector(31), expected = test::nan_vector(31);
  ref::project(pq, w, row, y);
  ref::bitlinear(w, row.q, row.step, expected);
  EXPECT_EQ(y, expected);
}

TEST(RefProjection, FullPrecisionUsesLatentElseScaledTernary) {
  LinearWeights w = random_weights(7, 33, 8);
  const std::vector<float> x = test::random_floats(33, 9);
  const ProjectionQuantization pq{Q::none, 1.0f, false};
  const ref::ActivationRow row = ref::quantize_activation_row(pq, x);
  std::vector<float> y = test::nan_vector(7), expected = test::nan_vector(7);
  ref::project(pq, w, row, y);
  ref::linear(x, w.latent, 7, 33, expected);
  EXPECT_EQ(y, expected);

  w.latent.clear();  // a packed-only checkpoint: alpha * t
  ref::project(pq, w, row, y);
  for (int64_t o = 0; o < 7; ++o) {
    std::vector<float> row_w(33);
    for (int64_t i = 0; i < 33; ++i) row_w[i] = w.scale * w.ternary[o * 33 + i];
    const float materialised = ref::linear_row(x, row_w);
    EXPECT_NEAR(y[o], materialised, 1e-6f * std::fabs(materialised) + 1e-12f);
  }
}

TEST(RefProjection, RowMaskSkipsRowsAndKeepsTheOthers) {
  const LinearWeights w = random_weights(7, 31, 12);
  const std::vector<float> x = test::random_floats(31, 13);
  const ProjectionQuantization pq{Q::int8_absmax, 1.0f, true};
  const ref::ActivationRow row = ref::quantize_activation_row(pq, x);
  const std::vector<float> mask = {0.0f, 1.5f, 0.0f, 0.0f, 2.0f, 1e-30f, 0.0f};
  std::vector<float> all = test::nan_vector(7), masked = test::nan_vector(7);
  ref::project(pq, w, row, all);
  ref::project(pq, w, row, masked, mask);
  for (std::size_t o = 0; o < 7; ++o) EXPECT_EQ(masked[o], mask[o] != 0.0f ? all[o] : 0.0f) << o;
  EXPECT_EQ(count_nonzero(masked), 3);
  EXPECT_THROW(ref::project(pq, w, row, masked, std::span<const float>(mask).first(6)), Error);
}

TEST(RefProjection, RejectsMismatchedInput) {
  const LinearWeights w = random_weights(3, 5, 1);
  const ProjectionQuantization pq{Q::int8_absmax, 1.0f, true};
  const ref::ActivationRow row = ref::quantize_activation_row(pq, test::random_floats(4, 2));
  std::vector<float> y(3);
  EXPECT_THROW(ref::project(pq, w, row, y), Error);
}

}  // namespace
}  // namespace a48
