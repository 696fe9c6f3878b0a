// cuda::GemmContext against a double-precision product on the host: every transpose combination,
// padded leading dimensions, batches, alpha/beta, and the exactness on small integers that the
// trainer's forward projections rely on.
#include <gtest/gtest.h>

#include <cmath>

#include "cuda/common/gemm.h"
#include "cuda_test_util.h"

namespace a48 {
namespace {

using cuda::GemmArgs;
using cuda::GemmPrecision;

struct Case {
  int64_t m, n, k;
  bool trans_a, trans_b;
  int64_t pad;  // extra columns in every leading dimension
  int64_t batch;
};

// Element (r, c) of a row-major matrix with leading dimension ld, optionally read transposed.
double at(const std::vector<float>& x, int64_t base, int64_t ld, bool trans, int64_t r, int64_t c) {
  return trans ? x[static_cast<std::size_t>(base + c * ld + r)]
               : x[static_cast<std::size_t>(base + r * ld + c)];
}

// Runs one case with values from `make` and checks |C - C_exact| <= tol * sum_k |a||b| + tiny.
void run_case(const Case& t, GemmPrecision precision, bool integers, uint32_t seed) {
  SCOPED_TRACE(testing::Message() << "m " << t.m << " n " << t.n << " k " << t.k << " trans "
                                  << t.trans_a << t.trans_b << " pad " << t.pad << " batch "
                                  << t.batch << " tf32 " << (precision == GemmPrecision::tf32)
                                  << " integers " << integers);
  const int64_t a_rows = t.trans_a ? t.k : t.m, a_cols = t.trans_a ? t.m : t.k;
  const int64_t b_rows = t.trans_b ? t.n : t.k, b_cols = t.trans_b ? t.k : t.n;
  const int64_t lda = a_cols + t.pad, ldb = b_cols + t.pad, ldc = t.n + t.pad;
  const int64_t stride_a = a_rows * lda + 3, stride_b = b_rows * ldb + 5, stride_c = t.m * ldc + 1;
  const auto size_a = static_cast<std::size_t>(stride_a * t.batch);
  const auto size_b = static_cast<std::size_t>(stride_b * t.batch);
  const auto size_c = static_cast<std::size_t>(stride_c * t.batch);
  const std::vector<float> a = integers ? test::integers(size_a, seed, -8, 7) : test::uniform(size_a, seed);
  const std::vector<float> b =
      integers ? test::integers(size_b, seed + 1, -1, 1) : test::uniform(size_b, seed + 1);
  const std::vector<float> c0 = test::uniform(size_c, seed + 2);
  const float alpha = integers ? 1.0f : 0.75f;
  const float beta = integers ? 0.0f : 0.5f;

  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  {
    cuda::GemmContext gemm(stream);
    cuda::DeviceBuffer<float> da = cuda::to_device(a), db = cuda::to_device(b);
    cuda::DeviceBuffer<float> dc = beta == 0.0f ? test::poisoned(size_c) : cuda::to_device(c0);
    GemmArgs g;
    g.m = t.m, g.n = t.n, g.k = t.k;
    g.a = da.data(), g.lda = lda, g.trans_a = t.trans_a, g.stride_a = stride_a;
    g.b = db.data(), g.ldb = ldb, g.trans_b = t.trans_b, g.stride_b = stride_b;
    g.c = dc.data(), g.ldc = ldc, g.stride_c = stride_c;
    g.alpha = alpha, g.beta = beta, g.precision = precision, g.batch = t.batch;
    gemm.matmul(g);
    gemm.matmul(g);  // again, through the cached plan
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    const std::vector<float> c = dc.to_host();
    // With beta != 0 the product ran twice: C = alpha AB + beta (alpha AB + beta C0).
    // TF32 keeps 10 explicit mantissa bits of each input (rounded or truncated: <= 2^-10
    // relative each), fp32 accumulation adds ~k 2^-24.
    const double tol = precision == GemmPrecision::tf32 ? std::ldexp(1.0, -9) + 2 * t.k * std::ldexp(1.0, -24)
                                                        : 4 * t.k * std::ldexp(1.0, -24);
    int64_t bad = 0;
    for (int64_t p = 0; p < t.batch; ++p) {
      for (int64_t i = 0; i < t.m; ++i) {
        for (int64_t j = 0; j < t.n; ++j) {
          double exact = 0.0, magnitude = 0.0;
          for (int64_t q = 0; q < t.k; ++q) {
            const double x = at(a, p * stride_a, lda, t.trans_a, i, q);
            const double y = at(b, p * stride_b, ldb, t.trans_b, q, j);
            exact += x * y;
            magnitude += std::fabs(x * y);
          }
          const auto ci = static_cast<std::size_t>(p * stride_c + i * ldc + j);
          const double once = alpha * exact + beta * c0[ci];
          const double want = beta == 0.0f ? alpha * exact : alpha * exact + beta * once;
          const double bound = integers ? 0.0 : tol * (1 + beta) * std::fabs(alpha) * magnitude + 1e-6 * std::fabs(want);
          if (!(std::fabs(c[ci] - want) <= bound)) ++bad;
        }
      }
    }
    EXPECT_EQ(bad, 0) << "elements outside the error bound";
    // Padding columns of C are never written (poison or C0 survives).
    if (t.pad > 0 && beta == 0.0f) {
      EXPECT_TRUE(std::isnan(c[static_cast<std::size_t>(t.n)]));
    }
  }
  cudaStreamDestroy(stream);
}

TEST(CudaGemm, MatchesDoubleProductForEveryTransposeAndShape) {
  A48_REQUIRE_CUDA_DEVICE();
  const Case shapes[] = {{1, 1, 1, false, false, 0, 1},   {7, 33, 31, false, true, 0, 1},
                         {33, 7, 257, true, false, 3, 1}, {17, 65, 9, true, true, 1, 1},
                         {64, 130, 300, false, true, 0, 1}, {31, 17, 33, false, false, 2, 3},
                         {19, 16, 40, true, false, 0, 4}};
  uint32_t seed = 1;
  for (const Case& c : shapes) {
    for (GemmPrecision p : {GemmPrecision::fp32, GemmPrecision::tf32}) run_case(c, p, false, seed++);
  }
}

TEST(CudaGemm, Tf32IsExactOnSmallIntegerCodes) {
  A48_REQUIRE_CUDA_DEVICE();
  // INT4 codes [-8, 7] times ternary codes: every product and partial sum is an integer below
  // 2^24, which TF32 inputs and fp32 accumulation represent exactly.
  const Case shapes[] = {{33, 65, 257, false, true, 0, 1}, {5, 1408, 512, false, true, 0, 1},
                         {17, 9, 1409, false, true, 1, 2}};
  uint32_t seed = 100;
  for (const Case& c : shapes) run_case(c, GemmPrecision::tf32, true, seed++);
}

TEST(CudaGemm, RejectsBadShapes) {
  A48_REQUIRE_CUDA_DEVICE();
  cuda::GemmContext gemm(nullptr);
  cuda::DeviceBuffer<float> x(64);
  GemmArgs g;
  g.m = 4, g.n = 4, g.k = 4;
  g.a = x.data(), g.b = x.data(), g.c = x.data();
  g.lda = 3, g.ldb = 4, g.ldc = 4;  // lda < k
  EXPECT_THROW(gemm.matmul(g), Error);
  g.lda = 4;
  g.k = 0;
  EXPECT_THROW(gemm.matmul(g), Error);
}

}  // namespace
}  // namespace a48
