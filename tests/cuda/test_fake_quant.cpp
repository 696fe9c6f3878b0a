// The training quantizers on the device against the CPU definitions, code for code:
// fake_quantize_rows vs ref::quantize_activation_row (eq. 1 top-K and eqs. 3, 7, 8-9), and
// TernaryMatrices vs quantize_ternary_absmean (eq. 2). Integer codes and steps must be identical.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "cuda/train/fake_quant.cuh"
#include "cuda/train/ternary.cuh"
#include "cuda_test_util.h"
#include "quant/ternary_absmean.h"
#include "quant/topk_sparsify.h"
#include "ref/projection.h"

namespace a48 {
namespace {

// Rows that exercise the edge cases: all zeros, below the quantizers' eps, ordinary, heavy ties
// (values from a 5-element set, so top-K's threshold falls inside a run of equal |x|), signed
// zeros, and large magnitudes.
std::vector<float> edge_rows(int64_t n, uint32_t seed, int64_t* rows) {
  std::vector<std::vector<float>> r;
  r.push_back(std::vector<float>(static_cast<std::size_t>(n), 0.0f));
  r.push_back(test::uniform(static_cast<std::size_t>(n), seed, 3e-6f));
  r.push_back(test::uniform(static_cast<std::size_t>(n), seed + 1, 2.0f));
  std::vector<float> ties = test::integers(static_cast<std::size_t>(n), seed + 2, -2, 2);
  for (float& v : ties) v *= 0.25f;
  r.push_back(ties);
  std::vector<float> zeros_signed = test::uniform(static_cast<std::size_t>(n), seed + 3);
  for (std::size_t i = 0; i < zeros_signed.size(); i += 3) zeros_signed[i] = i % 2 ? -0.0f : 0.0f;
  r.push_back(zeros_signed);
  r.push_back(test::uniform(static_cast<std::size_t>(n), seed + 4, 3000.0f));
  std::vector<float> flat;
  for (const auto& row : r) flat.insert(flat.end(), row.begin(), row.end());
  *rows = static_cast<int64_t>(r.size());
  return flat;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

void check_quantizer(ActivationQuantizer quantizer, float keep_fraction, int64_t n, uint32_t seed) {
  SCOPED_TRACE(testing::Message() << "quantizer " << static_cast<int>(quantizer) << " keep "
                                  << keep_fraction << " n " << n);
  int64_t rows = 0;
  const std::vector<float> x = edge_rows(n, seed, &rows);
  const std::size_t total = x.size();
  cuda::DeviceBuffer<float> dx = cuda::to_device(x);
  cuda::DeviceBuffer<float> codes = test::poisoned(total), x_hat = test::poisoned(total);
  cuda::DeviceBuffer<float> step = test::poisoned(static_cast<std::size_t>(rows));
  cuda::DeviceBuffer<int> nonzero(static_cast<std::size_t>(rows)), flag(1);
  flag.fill_bytes(0);
  const int64_t keep = topk_keep_count(n, keep_fraction);
  cuda::fake_quantize_rows(dx.data(), rows, n, quantizer, keep, codes.data(), x_hat.data(),
                           step.data(), nonzero.data(), flag.data(), nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<float> c = codes.to_host(), h = x_hat.to_host(), s = step.to_host();
  const std::vector<int> nz = nonzero.to_host();
  EXPECT_EQ(flag.to_host()[0], 0);

  ProjectionQuantization pq;
  pq.quantizer = quantizer;
  pq.topk_keep_fraction = keep_fraction;
  for (int64_t r = 0; r < rows; ++r) {
    const auto begin = static_cast<std::size_t>(r * n);
    const ref::ActivationRow want =
        ref::quantize_activation_row(pq, std::span<const float>(x).subspan(begin, static_cast<std::size_t>(n)));
    int64_t code_mismatch = 0, value_mismatch = 0;
    for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
      const float want_code = want.quantized ? static_cast<float>(want.q[i]) : want.values[i];
      // == treats -0 and +0 alike and fails on NaN (an unwritten element).
      code_mismatch += !(c[begin + i] == want_code);
      value_mismatch += !(h[begin + i] == want.values[i]);
    }
    EXPECT_EQ(code_mismatch, 0) << "row " << r;
    EXPECT_EQ(value_mismatch, 0) << "row " << r;
    EXPECT_TRUE(same_bits(s[static_cast<std::size_t>(r)], want.quantized ? want.step : 1.0f))
        << "row " << r << " step " << s[static_cast<std::size_t>(r)] << " vs " << want.step;
    EXPECT_EQ(nz[static_cast<std::size_t>(r)], want.count_nonzero()) << "row " << r;
  }
}

TEST(CudaFakeQuant, CodesMatchTheCpuQuantizersExactly) {
  A48_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 10;
  for (ActivationQuantizer q :
       {ActivationQuantizer::int8_absmax, ActivationQuantizer::int4_absmean,
        ActivationQuantizer::int4_absmean_double_beta, ActivationQuantizer::fp4_e2m1,
        ActivationQuantizer::none}) {
    for (int64_t n : {1, 7, 31, 33, 257, 1408}) check_quantizer(q, 1.0f, n, seed++);
  }
}

TEST(CudaFakeQuant, TopKKeepsTheSameEntriesAsSparsifyTopk) {
  A48_REQUIRE_CUDA_DEVICE();
  // Top-K alone (quantizer none) must equal sparsify_topk, ties broken towards the lower index;
  // then with INT8 (a4.8's o_proj input) and FP4 (a4.8-fp4's).
  uint32_t seed = 200;
  for (float keep : {0.5f, 0.1f, 0.0f, 0.999f}) {
    for (int64_t n : {1, 2, 7, 33, 256, 257, 1025}) {
      check_quantizer(ActivationQuantizer::none, keep, n, seed++);
      check_quantizer(ActivationQuantizer::int8_absmax, keep, n, seed++);
      check_quantizer(ActivationQuantizer::fp4_e2m1, keep, n, seed++);
    }
  }
}

TEST(CudaFakeQuant, LongRowsUseDynamicSharedMemory) {
  A48_REQUIRE_CUDA_DEVICE();
  check_quantizer(ActivationQuantizer::int4_absmean, 1.0f, 20000, 300);
  check_quantizer(ActivationQuantizer::int8_absmax, 0.5f, 13000, 301);
}

TEST(CudaFakeQuant, FlagsNonFiniteInputAndRejectsBadArguments) {
  A48_REQUIRE_CUDA_DEVICE();
  std::vector<float> x = test::uniform(64, 7);
  x[40] = std::numeric_limits<float>::infinity();
  cuda::DeviceBuffer<float> dx = cuda::to_device(x), codes(64), x_hat(64), step(2);
  cuda::DeviceBuffer<int> flag(1);
  flag.fill_bytes(0);
  cuda::fake_quantize_rows(dx.data(), 2, 32, ActivationQuantizer::int8_absmax, 32, codes.data(),
                           x_hat.data(), step.data(), nullptr, flag.data(), nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(flag.to_host()[0], 1);
  EXPECT_THROW(cuda::fake_quantize_rows(dx.data(), 2, 32, ActivationQuantizer::int8_absmax, 33,
                                        codes.data(), x_hat.data(), step.data(), nullptr, nullptr,
                                        nullptr),
               Error);
  EXPECT_THROW(cuda::fake_quantize_rows(dx.data(), 1, cuda::kFakeQuantMaxRow + 1,
                                        ActivationQuantizer::none, 1, codes.data(), x_hat.data(),
                                        step.data(), nullptr, nullptr, nullptr),
               Error);
}

TEST(CudaTernary, MatchesQuantizeTernaryAbsmeanPerMatrix) {
  A48_REQUIRE_CUDA_DEVICE();
  // Four matrices in one flat buffer with gaps: sizes 1, 1000, 40000 (three reduction chunks)
  // and an all-zero one, whose scale is 0.
  const std::vector<int64_t> offsets = {3, 10, 1100, 41200};
  const std::vector<int64_t> numels = {1, 1000, 40000, 77};
  std::vector<float> params = test::uniform(41300, 42, 0.05f);
  for (int64_t i = 0; i < numels[3]; ++i) params[static_cast<std::size_t>(offsets[3] + i)] = 0.0f;
  cuda::TernaryMatrices matrices(offsets, numels);
  cuda::DeviceBuffer<float> dp = cuda::to_device(params);
  cuda::DeviceBuffer<float> codes = test::poisoned(params.size()), w_hat = test::poisoned(params.size());
  cuda::DeviceBuffer<float> alpha = test::poisoned(4);
  cuda::DeviceBuffer<int> flag(1);
  flag.fill_bytes(0);
  matrices.quantize(dp.data(), codes.data(), w_hat.data(), alpha.data(), flag.data(), nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<float> c = codes.to_host(), w = w_hat.to_host(), a = alpha.to_host();
  EXPECT_EQ(flag.to_host()[0], 0);
  for (std::size_t m = 0; m < offsets.size(); ++m) {
    const auto begin = static_cast<std::size_t>(offsets[m]);
    const auto count = static_cast<std::size_t>(numels[m]);
    std::vector<int8_t> want(count);
    const float want_alpha =
        quantize_ternary_absmean(std::span<const float>(params).subspan(begin, count), want);
    EXPECT_TRUE(same_bits(a[m], want_alpha)) << "matrix " << m << ": " << a[m] << " vs " << want_alpha;
    int64_t mismatch = 0;
    for (std::size_t i = 0; i < count; ++i) {
      // == treats -0 and +0 alike and fails on NaN (an unwritten element).
      mismatch += !(c[begin + i] == static_cast<float>(want[i]));
      mismatch += !(w[begin + i] == want_alpha * static_cast<float>(want[i]));
    }
    EXPECT_EQ(mismatch, 0) << "matrix " << m;
  }
  // The gaps between matrices are not written.
  EXPECT_TRUE(std::isnan(c[0]) && std::isnan(c[5]) && std::isnan(w[1099]));
}

TEST(CudaTernary, FlagsNonFiniteWeights) {
  A48_REQUIRE_CUDA_DEVICE();
  std::vector<float> params = test::uniform(100, 5);
  params[17] = std::numeric_limits<float>::quiet_NaN();
  const std::vector<int64_t> offsets = {0}, numels = {100};
  cuda::TernaryMatrices matrices(offsets, numels);
  cuda::DeviceBuffer<float> dp = cuda::to_device(params), codes(100), w_hat(100), alpha(1);
  cuda::DeviceBuffer<int> flag(1);
  flag.fill_bytes(0);
  matrices.quantize(dp.data(), codes.data(), w_hat.data(), alpha.data(), flag.data(), nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(flag.to_host()[0], 1);
}

}  // namespace
}  // namespace a48
