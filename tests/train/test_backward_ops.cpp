// (d) Every ref backward op against central finite differences of its forward, on small random
// inputs, plus hand-worked values. The scalar loss is L = sum_i c_i * out_i with fixed random c,
// so d L / d out = c.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "core/error.h"
#include "ref/attention.h"
#include "ref/attention_backward.h"
#include "ref/cross_entropy.h"
#include "ref/embedding_backward.h"
#include "ref/glu.h"
#include "ref/glu_backward.h"
#include "ref/linear.h"
#include "ref/linear_backward.h"
#include "ref/random_vectors.h"
#include "ref/rmsnorm.h"
#include "ref/rmsnorm_backward.h"
#include "ref/rope.h"
#include "ref/rope_backward.h"
#include "train/train_test_util.h"

namespace a48 {
namespace {

double dot(std::span<const float> c, std::span<const float> out) {
  double s = 0;
  for (std::size_t i = 0; i < c.size(); ++i) s += static_cast<double>(c[i]) * out[i];
  return s;
}

double max_abs(std::span<const float> v) {
  double m = 0;
  for (float x : v) m = std::max(m, std::fabs(static_cast<double>(x)));
  return m;
}

// Checks analytic[i] against the finite difference of `loss` in inputs[i], for every i. Errors are
// relative to the larger of the two values, but at least to 5% of the gradient's largest entry:
// the fp32 outputs carry ~6e-8 relative rounding noise each, which over 2h = 2e-2 is ~1e-5 of an
// O(1) gradient, so entries far below the largest cannot be resolved to 1e-3 relative. A wrong
// term in a backward shows up as an error of order one.
void expect_gradient(const char* what, std::vector<float>& inputs, std::span<const float> analytic,
                     const std::function<double()>& loss) {
  ASSERT_EQ(inputs.size(), analytic.size()) << what;
  const double floor = 0.05 * std::max(max_abs(analytic), 1e-6);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const float saved = inputs[i];
    const auto f = [&](double v) {
      inputs[i] = static_cast<float>(v);
      return loss();
    };
    const double fd = test::central_difference(f, saved, 1e-2);
    inputs[i] = saved;
    EXPECT_LT(test::relative_error(fd, analytic[i], floor), 1e-3)
        << what << " element " << i << ": finite difference " << fd << ", backward " << analytic[i];
  }
}

std::vector<float> to_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }

TEST(BackwardOps, RmsnormMatchesFiniteDifferences) {
  // n = 1 is left to the hand-worked test: y = w x / |x| is flat there, its dx ~ eps/|x|^3.
  for (std::size_t n : {2u, 7u, 33u}) {
    std::vector<float> x = test::random_floats(n, 1 + static_cast<uint32_t>(n), 2.0f);
    std::vector<float> w = test::random_floats(n, 2 + static_cast<uint32_t>(n), 1.5f);
    const std::vector<float> c = test::random_floats(n, 3 + static_cast<uint32_t>(n));
    std::vector<float> dx = test::nan_vector(n);
    std::vector<double> dw(n, 0.25);  // accumulates onto what is there
    ref::rmsnorm_backward(x, w, 1e-5f, c, dx, dw);
    for (double& v : dw) v -= 0.25;
    const auto loss = [&] {
      std::vector<float> out(n);
      ref::rmsnorm(x, w, 1e-5f, out);
      return dot(c, out);
    };
    expect_gradient("rmsnorm dx", x, dx, loss);
    expect_gradient("rmsnorm dweight", w, to_float(dw), loss);
  }
}

TEST(BackwardOps, RmsnormHandWorked) {
  // x = [3, 4], w = [1, 1], eps = 0: r = 1/sqrt(12.5), r^3 = r / 12.5; y = x r. With dy = [1, 0],
  // sum_j w_j dy_j x_j = 3:
  // dx_0 = r - 3 * r^3 * 3 / 2 = r (1 - 4.5/12.5) = 0.64 r;  dx_1 = -4 * r^3 * 3 / 2 = -0.48 r
  // dw = dy * x * r = [3 r, 0].
  const std::vector<float> x = {3, 4}, w = {1, 1}, dy = {1, 0};
  std::vector<float> dx = test::nan_vector(2);
  std::vector<double> dw(2, 0.0);
  ref::rmsnorm_backward(x, w, 0.0f, dy, dx, dw);
  const double r = 1.0 / std::sqrt(12.5);
  EXPECT_NEAR(dx[0], 0.64 * r, 1e-7);
  EXPECT_NEAR(dx[1], -0.48 * r, 1e-7);
  EXPECT_NEAR(dw[0], 3 * r, 1e-12);
  EXPECT_EQ(dw[1], 0.0);
  std::vector<float> short_dx(1);
  EXPECT_THROW(ref::rmsnorm_backward(x, w, 0.0f, dy, short_dx, dw), Error);
}

TEST(BackwardOps, RopeMatchesFiniteDifferencesAndInvertsTheRotation) {
  for (int64_t position : {0, 5, 1000}) {
    const int64_t heads = 3, hd = 8;
    const auto n = static_cast<std::size_t>(heads * hd);
    std::vector<float> x = test::random_floats(n, 7 + static_cast<uint32_t>(position));
    const std::vector<float> c = test::random_floats(n, 8 + static_cast<uint32_t>(position));
    std::vector<float> dx = c;
    ref::rope_backward(dx, heads, hd, position, 10000.0);
    const auto loss = [&] {
      std::vector<float> out = x;
      ref::rope(out, heads, hd, position, 10000.0);
      return dot(c, out);
    };
    expect_gradient("rope", x, dx, loss);
    // The backward of a rotation is its inverse: rope_backward(rope(x)) = x.
    std::vector<float> round_trip = x;
    ref::rope(round_trip, heads, hd, position, 10000.0);
    ref::rope_backward(round_trip, heads, hd, position, 10000.0);
    for (std::size_t i = 0; i < n; ++i) EXPECT_NEAR(round_trip[i], x[i], 1e-6) << i;
  }
  std::vector<float> odd(6);
  EXPECT_THROW(ref::rope_backward(odd, 2, 4, 0, 10000.0), Error);
}

TEST(BackwardOps, LinearMatchesFiniteDifferences) {
  const int64_t n_out = 5, n_in = 33;
  std::vector<float> x = test::random_floats(n_in, 11);
  std::vector<float> w = test::random_floats(n_out * n_in, 12);
  const std::vector<float> c = test::random_floats(n_out, 13);
  std::vector<float> dx = test::nan_vector(n_in);
  std::vector<double> dw(static_cast<std::size_t>(n_out * n_in), 1.0);
  ref::linear_backward(c, x, w, n_out, n_in, dx, dw);
  for (double& v : dw) v -= 1.0;  // it accumulated onto 1.0
  const auto loss = [&] {
    std::vector<float> y(n_out);
    ref::linear(x, w, n_out, n_in, y);
    return dot(c, y);
  };
  expect_gradient("linear dx", x, dx, loss);
  expect_gradient("linear dw", w, to_float(dw), loss);
  std::vector<float> bad(4);
  EXPECT_THROW(ref::linear_backward(c, x, w, n_out, n_in, bad, dw), Error);
}

TEST(BackwardOps, AttentionMatchesFiniteDifferences) {
  // GQA: H = 4 query heads share H_kv = 2 kv heads; T = 5 causal positions.
  const int64_t t_len = 5, h = 4, h_kv = 2, hd = 6;
  const auto q_n = static_cast<std::size_t>(t_len * h * hd);
  const auto kv_n = static_cast<std::size_t>(t_len * h_kv * hd);
  std::vector<float> q = test::random_floats(q_n, 21, 1.5f);
  std::vector<float> k = test::random_floats(kv_n, 22, 1.5f);
  std::vector<float> v = test::random_floats(kv_n, 23);
  const std::vector<float> c = test::random_floats(q_n, 24);
  std::vector<float> dq = test::nan_vector(q_n), dk = test::nan_vector(kv_n),
                     dv = test::nan_vector(kv_n);
  ref::attention_backward(q, k, v, c, t_len, h, h_kv, hd, dq, dk, dv);
  // The forward as the training forward runs it: token t sees K/V rows 0..t.
  const auto loss = [&] {
    std::vector<float> out(q_n);
    const auto q_row = static_cast<std::size_t>(h * hd),
               kv_row = static_cast<std::size_t>(h_kv * hd);
    for (int64_t t = 0; t < t_len; ++t) {
      const auto ut = static_cast<std::size_t>(t);
      ref::attention(std::span<const float>(q).subspan(ut * q_row, q_row),
                     std::span<const float>(k).first((ut + 1) * kv_row),
                     std::span<const float>(v).first((ut + 1) * kv_row), t + 1, h, h_kv, hd, 16,
                     std::span<float>(out).subspan(ut * q_row, q_row));
    }
    return dot(c, out);
  };
  expect_gradient("attention dq", q, dq, loss);
  expect_gradient("attention dk", k, dk, loss);
  expect_gradient("attention dv", v, dv, loss);
  // The first token sees only itself: its softmax is 1, so its query gets no gradient.
  for (std::size_t i = 0; i < static_cast<std::size_t>(h * hd); ++i) EXPECT_EQ(dq[i], 0.0f);
}

TEST(BackwardOps, GluMatchesFiniteDifferences) {
  const std::size_t n = 31;
  std::vector<float> gate = test::random_floats(n, 31, 2.0f);
  for (float& g : gate) g += g > 0 ? 0.05f : -0.05f;  // away from ReLU^2's kink in f''
  std::vector<float> up = test::random_floats(n, 32, 2.0f);
  const std::vector<float> c = test::random_floats(n, 33);
  for (bool relu2 : {true, false}) {
    std::vector<float> dgate = test::nan_vector(n), dup = test::nan_vector(n);
    if (relu2) {
      ref::relu2_glu_backward(gate, up, c, dgate, dup);
    } else {
      ref::silu_glu_backward(gate, up, c, dgate, dup);
    }
    const auto loss = [&] {
      std::vector<float> out(n);
      if (relu2) {
        ref::relu2_glu(gate, up, out);
      } else {
        ref::silu_glu(gate, up, out);
      }
      return dot(c, out);
    };
    expect_gradient(relu2 ? "relu2 dgate" : "silu dgate", gate, dgate, loss);
    expect_gradient(relu2 ? "relu2 dup" : "silu dup", up, dup, loss);
  }
}

TEST(BackwardOps, GluHandWorkedAtZeroAndTwo) {
  // relu2: at g = 0 both derivatives vanish; at g = 2, up = 3: dup = 4, dgate = 3 * 2 * 2 = 12.
  // silu: at g = 0, silu = 0 and silu' = 1/2: dup = 0, dgate = up / 2 = 1.5.
  const std::vector<float> gate = {0.0f, 2.0f}, up = {3.0f, 3.0f}, dout = {1.0f, 1.0f};
  std::vector<float> dgate = test::nan_vector(2), dup = test::nan_vector(2);
  ref::relu2_glu_backward(gate, up, dout, dgate, dup);
  EXPECT_EQ(dgate[0], 0.0f);
  EXPECT_EQ(dup[0], 0.0f);
  EXPECT_EQ(dgate[1], 12.0f);
  EXPECT_EQ(dup[1], 4.0f);
  ref::silu_glu_backward(gate, up, dout, dgate, dup);
  EXPECT_EQ(dgate[0], 1.5f);
  EXPECT_EQ(dup[0], 0.0f);
}

TEST(BackwardOps, CrossEntropyHandWorkedAndFiniteDifferences) {
  // logits [0, ln 3]: softmax = [1/4, 3/4]; target 0: loss = ln 4, dlogits = s * [-3/4, 3/4].
  const std::vector<float> two = {0.0f, static_cast<float>(std::log(3.0))};
  std::vector<float> d2 = test::nan_vector(2);
  EXPECT_NEAR(ref::cross_entropy(two, 0, 0.5, d2), std::log(4.0), 1e-7);
  EXPECT_NEAR(d2[0], -0.375, 1e-7);
  EXPECT_NEAR(d2[1], 0.375, 1e-7);
  EXPECT_THROW(ref::cross_entropy(two, 2, 1.0, d2), Error);
  EXPECT_THROW(ref::cross_entropy(two, -1, 1.0, d2), Error);
  const std::vector<float> bad = {0.0f, std::numeric_limits<float>::infinity()};
  EXPECT_THROW(ref::cross_entropy(bad, 0, 1.0, {}), Error);

  for (std::size_t vocab : {1u, 7u, 257u}) {
    std::vector<float> logits = test::random_floats(vocab, 41 + static_cast<uint32_t>(vocab), 5.0f);
    const int64_t target = static_cast<int64_t>(vocab) / 2;
    std::vector<float> d = test::nan_vector(vocab);
    const double loss = ref::cross_entropy(logits, target, 1.0, d);
    EXPECT_GE(loss, 0.0);
    double sum = 0;
    for (float g : d) sum += g;
    EXPECT_NEAR(sum, 0.0, 1e-6);  // softmax sums to one, the one-hot too
    expect_gradient("cross_entropy", logits, d,
                    [&] { return ref::cross_entropy(logits, target, 1.0, {}); });
  }
}

TEST(BackwardOps, EmbeddingScatterAddsRepeatedTokens) {
  // Table [3, 2]; token 1 twice with rows [1, 2] and [10, 20], token 2 once with [5, 5].
  std::vector<double> table(6, 0.0);
  ref::embedding_backward(std::vector<float>{1, 2}, 3, 2, 1, table);
  ref::embedding_backward(std::vector<float>{10, 20}, 3, 2, 1, table);
  ref::embedding_backward(std::vector<float>{5, 5}, 3, 2, 2, table);
  EXPECT_EQ(table, (std::vector<double>{0, 0, 11, 22, 5, 5}));
  EXPECT_THROW(ref::embedding_backward(std::vector<float>{1, 2}, 3, 2, 3, table), Error);
  EXPECT_THROW(ref::embedding_backward(std::vector<float>{1, 2, 3}, 3, 2, 0, table), Error);
}

}  // namespace
}  // namespace a48
