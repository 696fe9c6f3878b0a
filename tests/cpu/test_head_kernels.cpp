// The LM head kernels of every ISA against a double-precision reference on the same (dequantized)
// weights, on awkward widths (tails of every length), and the LmHead storage (f32/f16/int8).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "core/half.h"
#include "cpu/dispatch.h"
#include "cpu/lm_head.h"
#include "cpu_test_util.h"

namespace a48::cpu {
namespace {

std::vector<float> random_floats(std::size_t n, uint32_t seed, float sd) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sd);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// fp32 accumulation of n_in products in any order is within n_in * 2^-24 * sum|x w| of the exact
// sum (plus the FMA's single rounding); we allow 4x that.
void expect_close(std::span<const float> x, std::span<const float> w_row, float got,
                  const std::string& what) {
  double exact = 0, magnitude = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    exact += double{x[i]} * double{w_row[i]};
    magnitude += std::fabs(double{x[i]} * double{w_row[i]});
  }
  const double tolerance = 4.0 * static_cast<double>(x.size()) * 0x1p-24 * magnitude + 1e-30;
  ASSERT_LE(std::fabs(got - exact), tolerance) << what;
}

TEST(HeadKernels, EveryIsaMatchesTheDoubleReference) {
  for (const Isa isa : supported_isas()) {
    const KernelTable& k = kernels(isa);
    for (const int64_t n_in : {1, 7, 15, 16, 17, 31, 33, 250, 517}) {
      const int64_t n_rows = 5;
      const auto n = static_cast<std::size_t>(n_rows * n_in);
      const std::vector<float> x = random_floats(static_cast<std::size_t>(n_in), 7, 1.0f);
      const std::vector<float> wf = random_floats(n, 11 + static_cast<uint32_t>(n_in), 0.5f);
      std::vector<uint16_t> wh(n);
      std::vector<float> wh_f(n);
      std::vector<int8_t> wi(n), xi(static_cast<std::size_t>(n_in));
      std::mt19937 rng(3);
      for (std::size_t i = 0; i < n; ++i) {
        wh[i] = f32_to_f16(wf[i]);
        wh_f[i] = f16_to_f32(wh[i]);
        wi[i] = static_cast<int8_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
      }
      for (int8_t& v : xi) v = static_cast<int8_t>(std::uniform_int_distribution<int>(-127, 127)(rng));
      xi[0] = -127;  // the edges of the contract, against w = -128 below
      wi[0] = -128;
      std::vector<float> y = test::nan_floats(static_cast<std::size_t>(n_rows));
      std::vector<float> yh = y;
      std::vector<int32_t> yi(static_cast<std::size_t>(n_rows), 0x5A5A5A5A);
      k.head_f32(wf.data(), n_in, n_rows, x.data(), y.data());
      k.head_f16(wh.data(), n_in, n_rows, x.data(), yh.data());
      k.head_i8(wi.data(), n_in, n_rows, xi.data(), yi.data());
      const auto in = static_cast<std::size_t>(n_in);
      for (int64_t r = 0; r < n_rows; ++r) {
        const std::string what = std::string(to_string(isa)) + " n_in " + std::to_string(n_in) +
                                 " row " + std::to_string(r);
        const auto off = static_cast<std::size_t>(r) * in;
        expect_close(x, std::span(wf).subspan(off, in), y[static_cast<std::size_t>(r)], "f32 " + what);
        expect_close(x, std::span(wh_f).subspan(off, in), yh[static_cast<std::size_t>(r)],
                     "f16 " + what);
        int32_t exact = 0;
        for (std::size_t i = 0; i < in; ++i) exact += int32_t{wi[off + i]} * int32_t{xi[i]};
        ASSERT_EQ(yi[static_cast<std::size_t>(r)], exact) << "i8 " + what;  // integer: exact
      }
    }
  }
}

TEST(LmHead, StoresRowsAndComputesLogitsAtEveryPrecision) {
  const int64_t vocab = 131, d = 37;  // 131 rows: several 64-row tasks and a short last one
  const std::vector<float> matrix = random_floats(static_cast<std::size_t>(vocab * d), 5, 0.2f);
  const std::vector<float> x = random_floats(static_cast<std::size_t>(d), 6, 1.0f);
  ThreadPool pool(2);
  for (const HeadPrecision p : {HeadPrecision::f32, HeadPrecision::f16, HeadPrecision::int8}) {
    const LmHead head(matrix, vocab, d, p);
    std::vector<float> y = test::nan_floats(static_cast<std::size_t>(vocab));
    head.logits(x, y, &pool, active_kernels());
    std::vector<float> row(static_cast<std::size_t>(d));
    for (int64_t r = 0; r < vocab; ++r) {
      head.row(r, row);
      for (int64_t i = 0; i < d; ++i) {
        const float original = matrix[static_cast<std::size_t>(r * d + i)];
        const float stored = row[static_cast<std::size_t>(i)];
        // f32 exact, f16 within half an ulp (2^-11 relative); int8: the next test.
        if (p != HeadPrecision::int8) {
          const float bound = p == HeadPrecision::f32 ? 0.0f : std::fabs(original) * 0x1p-11f;
          ASSERT_LE(std::fabs(stored - original), bound) << to_string(p) << " " << r << "," << i;
        }
      }
      if (p != HeadPrecision::int8) {
        expect_close(x, row, y[static_cast<std::size_t>(r)], std::string(to_string(p)) + " logit");
      } else {
        // W8A8: the activations are quantized too (eq. 3): within half a step of max|x|/127 per
        // element, i.e. |error| <= sum_i |w_i| * max|x| / 254 (plus fp rounding).
        double exact = 0, bound = 0, x_max = 0;
        for (float v : x) x_max = std::max(x_max, static_cast<double>(std::fabs(v)));
        for (int64_t i = 0; i < d; ++i) {
          exact += double{row[static_cast<std::size_t>(i)]} * double{x[static_cast<std::size_t>(i)]};
          bound += std::fabs(double{row[static_cast<std::size_t>(i)]}) * x_max / 254.0;
        }
        ASSERT_LE(std::fabs(y[static_cast<std::size_t>(r)] - exact), bound * 1.01 + 1e-6) << r;
      }
    }
    EXPECT_EQ(head.bytes(), vocab * d * (p == HeadPrecision::f32 ? 4 : p == HeadPrecision::f16 ? 2 : 1) +
                                (p == HeadPrecision::int8 ? vocab * 4 : 0));
  }
}

TEST(LmHead, Int8RowsAreTheAbsmaxQuantizationOfEachRow) {
  const int64_t vocab = 9, d = 300;
  const std::vector<float> matrix = random_floats(static_cast<std::size_t>(vocab * d), 8, 0.3f);
  const LmHead head(matrix, vocab, d, HeadPrecision::int8);
  std::vector<float> row(static_cast<std::size_t>(d));
  for (int64_t r = 0; r < vocab; ++r) {
    head.row(r, row);
    float absmax = 0;
    for (int64_t i = 0; i < d; ++i) absmax = std::max(absmax, std::fabs(matrix[static_cast<std::size_t>(r * d + i)]));
    const float step = absmax / 127.0f;
    for (int64_t i = 0; i < d; ++i) {
      ASSERT_LE(std::fabs(row[static_cast<std::size_t>(i)] - matrix[static_cast<std::size_t>(r * d + i)]),
                0.5f * step * 1.001f)
          << r << "," << i;
    }
  }
}

TEST(LmHead, RejectsBadShapesAndNonFiniteWeights) {
  std::vector<float> m(12, 0.5f);
  EXPECT_THROW(LmHead(m, 5, 3, HeadPrecision::f16), Error);
  m[4] = std::nanf("");
  EXPECT_THROW(LmHead(m, 4, 3, HeadPrecision::int8), Error);
}

}  // namespace
}  // namespace a48::cpu
