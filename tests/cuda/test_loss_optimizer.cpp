// The loss and optimizer kernels against their CPU definitions: fused cross-entropy vs
// ref::cross_entropy, AdamW vs a48::adamw_update (bit for bit), the gradient's sum of squares vs
// a48::gradient_norm, and scaling.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "cuda/train/cross_entropy.cuh"
#include "cuda/train/optimizer.cuh"
#include "cuda_test_util.h"
#include "ref/cross_entropy.h"
#include "train/adamw.h"

namespace a48 {
namespace {

TEST(CudaCrossEntropy, LossAndGradientMatchTheReference) {
  A48_REQUIRE_CUDA_DEVICE();
  for (int64_t vocab : {1, 97, 1000, 8192}) {
    SCOPED_TRACE(testing::Message() << "V " << vocab);
    const int64_t rows = 13;
    const auto size = static_cast<std::size_t>(rows * vocab);
    std::vector<float> logits = test::uniform(size, static_cast<uint32_t>(vocab), 8.0f);
    std::vector<int32_t> targets(static_cast<std::size_t>(rows));
    for (int64_t r = 0; r < rows; ++r)
      targets[static_cast<std::size_t>(r)] = r % 4 == 3 ? -1 : static_cast<int32_t>((r * 37) % vocab);
    const double scale = 0.37 / 10.0;
    std::vector<float> want_grad(size, 0.0f);
    std::vector<double> want_loss(static_cast<std::size_t>(rows), 0.0);
    double want_sum = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      const int32_t t = targets[static_cast<std::size_t>(r)];
      if (t == -1) continue;
      const auto off = static_cast<std::size_t>(r * vocab);
      want_loss[static_cast<std::size_t>(r)] = ref::cross_entropy(
          std::span<const float>(logits).subspan(off, static_cast<std::size_t>(vocab)), t, scale,
          std::span<float>(want_grad).subspan(off, static_cast<std::size_t>(vocab)));
      want_sum += want_loss[static_cast<std::size_t>(r)];
    }
    cuda::DeviceBuffer<float> dlogits = cuda::to_device(logits), for_loss = cuda::to_device(logits);
    cuda::DeviceBuffer<int32_t> dtargets = cuda::to_device(targets);
    cuda::DeviceBuffer<double> row_loss(static_cast<std::size_t>(rows)), total(1), loss_only(static_cast<std::size_t>(rows));
    cuda::DeviceBuffer<int> flag(1);
    flag.fill_bytes(0);
    cuda::cross_entropy(dlogits.data(), dtargets.data(), rows, vocab, scale, true, row_loss.data(),
                        flag.data(), nullptr);
    cuda::sum_in_order(row_loss.data(), rows, total.data(), nullptr);
    cuda::cross_entropy(for_loss.data(), dtargets.data(), rows, vocab, scale, false,
                        loss_only.data(), flag.data(), nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(flag.to_host()[0], 0);
    // exp and log in double on both sides: the losses agree to double rounding.
    EXPECT_LE(test::max_relative(row_loss.to_host(), want_loss, 1e-300), 1e-12);
    EXPECT_LE(test::max_relative(loss_only.to_host(), want_loss, 1e-300), 1e-12);
    EXPECT_NEAR(total.to_host()[0], want_sum, 1e-12 * std::fabs(want_sum) + 1e-300);
    EXPECT_LE(test::relative_l2(dlogits.to_host(), want_grad), 2.5e-7);
    EXPECT_EQ(for_loss.to_host(), logits);  // loss only: the logits are left alone
  }
}

TEST(CudaCrossEntropy, FlagsNonFiniteLogitsOfScoredRowsOnly) {
  A48_REQUIRE_CUDA_DEVICE();
  std::vector<float> logits = test::uniform(20, 3);
  logits[3] = std::numeric_limits<float>::quiet_NaN();  // row 0: not scored
  const std::vector<int32_t> targets = {-1, 2};
  cuda::DeviceBuffer<float> dlogits = cuda::to_device(logits);
  cuda::DeviceBuffer<int32_t> dtargets = cuda::to_device(targets);
  cuda::DeviceBuffer<double> loss(2);
  cuda::DeviceBuffer<int> flag(1);
  flag.fill_bytes(0);
  cuda::cross_entropy(dlogits.data(), dtargets.data(), 2, 10, 1.0, true, loss.data(), flag.data(), nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(flag.to_host()[0], 0);
  logits[13] = std::numeric_limits<float>::infinity();  // row 1: scored
  dlogits.upload(logits);
  cuda::cross_entropy(dlogits.data(), dtargets.data(), 2, 10, 1.0, true, loss.data(), flag.data(), nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(flag.to_host()[0], 1);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(CudaAdamW, BitIdenticalToAdamwUpdateOverSteps) {
  A48_REQUIRE_CUDA_DEVICE();
  const std::size_t n = 1000;
  std::vector<float> p = test::uniform(n, 1), m(n, 0.0f), v(n, 0.0f);
  std::vector<uint8_t> mask(n);
  for (std::size_t i = 0; i < n; ++i) mask[i] = i % 3 != 0;
  cuda::DeviceBuffer<float> dp = cuda::to_device(p), dm = cuda::to_device(m), dv = cuda::to_device(v);
  cuda::DeviceBuffer<float> dg(n);
  cuda::DeviceBuffer<uint8_t> dmask = cuda::to_device(mask);
  AdamWHyper hyper;
  hyper.lr = 3e-3;
  hyper.weight_decay = 0.1;
  for (int64_t t = 1; t <= 5; ++t) {
    SCOPED_TRACE(testing::Message() << "step " << t);
    std::vector<float> g = test::uniform(n, static_cast<uint32_t>(100 + t), 0.3f);
    g[7] = 0.0f;
    dg.upload(g);
    // Step 3 scales the gradient on the device; the CPU gets the same fp32 values.
    const double grad_scale = t == 3 ? 0.37 : 1.0;
    if (grad_scale != 1.0) {
      for (float& x : g) x = static_cast<float>(x * grad_scale);
    }
    adamw_update(p, g, m, v, mask, hyper, t);
    cuda::adamw_update(dp.data(), dg.data(), dm.data(), dv.data(), dmask.data(),
                       static_cast<int64_t>(n), hyper, t, grad_scale, nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_TRUE(same_bits(dp.to_host(), p));
    EXPECT_TRUE(same_bits(dm.to_host(), m));
    EXPECT_TRUE(same_bits(dv.to_host(), v));
  }
  EXPECT_THROW(cuda::adamw_update(dp.data(), dg.data(), dm.data(), dv.data(), dmask.data(), 1,
                                  hyper, 0, 1.0, nullptr),
               Error);
}

TEST(CudaOptimizer, SumOfSquaresAndScale) {
  A48_REQUIRE_CUDA_DEVICE();
  for (std::size_t n : {std::size_t{1}, std::size_t{1000}, std::size_t{300001}}) {
    const std::vector<float> g = test::uniform(n, static_cast<uint32_t>(n), 2.0f);
    cuda::DeviceBuffer<float> dg = cuda::to_device(g);
    cuda::DeviceBuffer<double> scratch(cuda::kSumSquaresBlocks), result(1);
    cuda::sum_squares(dg.data(), static_cast<int64_t>(n), scratch.data(), result.data(), nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    // Sums of n positive terms in two orders: each within (n - 1) 2^-53 relative of the exact sum,
    // so the norms within n 2^-53 of each other.
    const double want = gradient_norm(g);
    EXPECT_NEAR(std::sqrt(result.to_host()[0]), want, static_cast<double>(n) * 0x1p-53 * want);
    cuda::scale_values(dg.data(), static_cast<int64_t>(n), 0.25f, nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<float> scaled = g;
    for (float& x : scaled) x *= 0.25f;
    EXPECT_EQ(dg.to_host(), scaled);
  }
}

}  // namespace
}  // namespace a48
