#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "ref/attention.h"
#include "ref/random_vectors.h"

namespace a48 {
namespace {

TEST(RefAttention, OnePositionReturnsV) {
  // softmax of a single score is 1, whatever q and k are (and however q is quantized).
  const std::vector<float> q = test::random_floats(4 * 8, 1), k = test::random_floats(2 * 8, 2);
  const std::vector<float> v = test::random_floats(2 * 8, 3);
  for (int bits : {16, 8, 4}) {
    std::vector<float> out = test::nan_vector(q.size());
    ref::attention(q, k, v, 1, 4, 2, 8, bits, out);
    for (int h = 0; h < 4; ++h) {  // GQA: heads 0,1 read kv head 0; heads 2,3 read kv head 1
      for (int i = 0; i < 8; ++i) EXPECT_EQ(out[h * 8 + i], v[(h / 2) * 8 + i]) << bits;
    }
  }
}

TEST(RefAttention, TwoPositionsByHand) {
  // hd = 2, scale 1/sqrt(2). q = [1, 0]; k0 = [0, 0], k1 = [sqrt(2) ln 3, 0]
  //   scores = [0, ln 3] -> softmax [1/4, 3/4]
  //   v0 = [4, 8], v1 = [0, -4] -> out = [1, 2 - 3] = [1, -1]
  const std::vector<float> q = {1.0f, 0.0f};
  const std::vector<float> k = {0.0f, 0.0f, static_cast<float>(std::sqrt(2.0) * std::log(3.0)),
                                0.0f};
  const std::vector<float> v = {4.0f, 8.0f, 0.0f, -4.0f};
  std::vector<float> out = test::nan_vector(2);
  ref::attention(q, k, v, 2, 1, 1, 2, 16, out);
  EXPECT_NEAR(out[0], 1.0f, 1e-6f);
  EXPECT_NEAR(out[1], -1.0f, 1e-6f);
}

TEST(RefAttention, GroupedHeadsMatchSingleHeadAttention) {
  // H = 6, H_kv = 2: head h uses kv head h / 3. Compare with 1-head calls on sliced K/V.
  const int64_t h_q = 6, h_kv = 2, hd = 16, n_pos = 7;
  const auto q = test::random_floats(h_q * hd, 5);
  const auto k = test::random_floats(n_pos * h_kv * hd, 6),
             v = test::random_floats(n_pos * h_kv * hd, 7);
  std::vector<float> out = test::nan_vector(q.size());
  ref::attention(q, k, v, n_pos, h_q, h_kv, hd, 16, out);
  for (int64_t h = 0; h < h_q; ++h) {
    const int64_t g = h / 3;
    std::vector<float> kg, vg;  // [n_pos, hd] of kv head g
    for (int64_t p = 0; p < n_pos; ++p) {
      kg.insert(kg.end(), k.begin() + (p * h_kv + g) * hd, k.begin() + (p * h_kv + g + 1) * hd);
      vg.insert(vg.end(), v.begin() + (p * h_kv + g) * hd, v.begin() + (p * h_kv + g + 1) * hd);
    }
    std::vector<float> single = test::nan_vector(hd);
    ref::attention(std::span<const float>(q).subspan(h * hd, hd), kg, vg, n_pos, 1, 1, hd, 16,
                   single);
    for (int64_t i = 0; i < hd; ++i) EXPECT_EQ(out[h * hd + i], single[i]) << "head " << h;
  }
}

TEST(RefAttention, MatchesDoubleSoftmaxAttention) {
  const int64_t hd = 32, n_pos = 33;
  const auto q = test::random_floats(hd, 8, 2.0f);
  const auto k = test::random_floats(n_pos * hd, 9, 2.0f), v = test::random_floats(n_pos * hd, 10);
  std::vector<float> out = test::nan_vector(hd);
  ref::attention(q, k, v, n_pos, 1, 1, hd, 16, out);
  std::vector<double> s(n_pos);
  double m = -1e300, sum = 0;
  for (int64_t p = 0; p < n_pos; ++p) {
    for (int64_t i = 0; i < hd; ++i) s[p] += static_cast<double>(q[i]) * k[p * hd + i];
    s[p] /= std::sqrt(static_cast<double>(hd));
    m = std::max(m, s[p]);
  }
  for (double& x : s) sum += (x = std::exp(x - m));
  for (int64_t i = 0; i < hd; ++i) {
    double expected = 0;
    for (int64_t p = 0; p < n_pos; ++p) expected += s[p] / sum * v[p * hd + i];
    EXPECT_NEAR(out[i], expected, 1e-6);
  }
}

TEST(RefAttention, QueryQuantizationIsPerHeadAbsmax) {
  // 4 bits: 16 levels over [-gamma, gamma], delta = 2 gamma / 15; error <= delta / 2 per element,
  // with gamma the head's own max |x| (head 1 is 100x larger than head 0).
  std::vector<float> x = test::random_floats(2 * 16, 11);
  for (int i = 16; i < 32; ++i) x[i] *= 100.0f;
  std::vector<float> y = x;
  ref::quantize_dequantize_heads(y, 16, 4);
  for (int h = 0; h < 2; ++h) {
    float gamma = 0;
    for (int i = 0; i < 16; ++i) gamma = std::max(gamma, std::fabs(x[h * 16 + i]));
    int changed = 0;
    for (int i = 0; i < 16; ++i) {
      EXPECT_LE(std::fabs(y[h * 16 + i] - x[h * 16 + i]), gamma / 15.0f * 1.0001f);
      changed += y[h * 16 + i] != x[h * 16 + i];
    }
    EXPECT_GT(changed, 0);
  }
  std::vector<float> z = x;
  ref::quantize_dequantize_heads(z, 16, 16);
  EXPECT_EQ(z, x);
}

TEST(RefAttention, RejectsBadShapes) {
  std::vector<float> q(8), k(8), v(8), out(8);
  EXPECT_THROW(ref::attention(q, k, v, 1, 3, 2, 2, 16, out), Error);  // H % H_kv != 0
  EXPECT_THROW(ref::attention(q, k, v, 0, 2, 2, 4, 16, out), Error);  // no positions
  EXPECT_THROW(ref::attention(q, k, v, 2, 2, 2, 4, 16, out), Error);  // K too short
  EXPECT_THROW(ref::attention(q, k, v, 1, 2, 2, 4, 1, out), Error);   // bad query bits
}

}  // namespace
}  // namespace a48
