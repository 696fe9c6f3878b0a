// Causal GQA attention on the device (batched fp32 GEMMs + softmax kernels) against
// ref::attention (per query token) and ref::attention_backward (per sequence), which accumulate
// in double. fp32 products over k <= 64 terms stay within ~1e-6 of them; the bound is 1e-5.
#include <gtest/gtest.h>

#include <cmath>

#include "cuda/train/attention.cuh"
#include "cuda_test_util.h"
#include "ref/attention.h"
#include "ref/attention_backward.h"

namespace a48 {
namespace {

// [B, T, heads, hd] (token-major) -> [B, heads, T, hd].
std::vector<float> to_heads(const std::vector<float>& x, int64_t batch, int64_t len, int64_t heads,
                            int64_t hd) {
  std::vector<float> out(x.size());
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < len; ++t)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < hd; ++i)
          out[static_cast<std::size_t>(((b * heads + h) * len + t) * hd + i)] =
              x[static_cast<std::size_t>(((b * len + t) * heads + h) * hd + i)];
  return out;
}
std::vector<float> from_heads(const std::vector<float>& x, int64_t batch, int64_t len,
                              int64_t heads, int64_t hd) {
  std::vector<float> out(x.size());
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < len; ++t)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < hd; ++i)
          out[static_cast<std::size_t>(((b * len + t) * heads + h) * hd + i)] =
              x[static_cast<std::size_t>(((b * heads + h) * len + t) * hd + i)];
  return out;
}

std::span<const float> rows(const std::vector<float>& v, int64_t first, int64_t count, int64_t width) {
  return std::span<const float>(v).subspan(static_cast<std::size_t>(first * width),
                                           static_cast<std::size_t>(count * width));
}

TEST(CudaAttention, ForwardAndBackwardMatchTheReference) {
  A48_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 1;
  for (const cuda::AttentionShape s :
       {cuda::AttentionShape{3, 17, 4, 2, 16}, cuda::AttentionShape{1, 1, 2, 1, 8},
        cuda::AttentionShape{2, 33, 3, 3, 8}, cuda::AttentionShape{1, 40, 8, 2, 64}}) {
    SCOPED_TRACE(testing::Message() << "B " << s.batch << " T " << s.seq_len << " H " << s.n_heads
                                    << " H_kv " << s.n_kv_heads << " hd " << s.head_dim);
    const int64_t n = s.tokens(), hd = s.head_dim, qs = s.n_heads * hd, kvs = s.n_kv_heads * hd;
    const std::vector<float> q = test::uniform(static_cast<std::size_t>(n * qs), seed++, 2.0f);
    const std::vector<float> k = test::uniform(static_cast<std::size_t>(n * kvs), seed++, 2.0f);
    const std::vector<float> v = test::uniform(static_cast<std::size_t>(n * kvs), seed++);
    const std::vector<float> dout = test::uniform(static_cast<std::size_t>(n * qs), seed++);

    std::vector<float> want_out(static_cast<std::size_t>(n * qs)), want_dq(q.size()),
        want_dk(k.size()), want_dv(v.size());
    for (int64_t b = 0; b < s.batch; ++b) {
      for (int64_t t = 0; t < s.seq_len; ++t) {
        const int64_t token = b * s.seq_len + t;
        ref::attention(rows(q, token, 1, qs), rows(k, b * s.seq_len, t + 1, kvs),
                       rows(v, b * s.seq_len, t + 1, kvs), t + 1, s.n_heads, s.n_kv_heads, hd, 16,
                       std::span<float>(want_out).subspan(static_cast<std::size_t>(token * qs),
                                                          static_cast<std::size_t>(qs)));
      }
      const auto qo = static_cast<std::size_t>(b * s.seq_len * qs), ko = static_cast<std::size_t>(b * s.seq_len * kvs);
      const auto ql = static_cast<std::size_t>(s.seq_len * qs), kl = static_cast<std::size_t>(s.seq_len * kvs);
      ref::attention_backward(rows(q, b * s.seq_len, s.seq_len, qs), rows(k, b * s.seq_len, s.seq_len, kvs),
                              rows(v, b * s.seq_len, s.seq_len, kvs), rows(dout, b * s.seq_len, s.seq_len, qs),
                              s.seq_len, s.n_heads, s.n_kv_heads, hd,
                              std::span<float>(want_dq).subspan(qo, ql),
                              std::span<float>(want_dk).subspan(ko, kl),
                              std::span<float>(want_dv).subspan(ko, kl));
    }

    cudaStream_t stream = nullptr;
    ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
    {
      cuda::GemmContext gemm(stream);
      cuda::DeviceBuffer<float> dq_in = cuda::to_device(to_heads(q, s.batch, s.seq_len, s.n_heads, hd));
      cuda::DeviceBuffer<float> dk_in = cuda::to_device(to_heads(k, s.batch, s.seq_len, s.n_kv_heads, hd));
      cuda::DeviceBuffer<float> dv_in = cuda::to_device(to_heads(v, s.batch, s.seq_len, s.n_kv_heads, hd));
      cuda::DeviceBuffer<float> dout_tokens = cuda::to_device(dout);
      const auto probs_size = static_cast<std::size_t>(s.batch * s.n_heads * s.seq_len * s.seq_len);
      cuda::DeviceBuffer<float> probs = test::poisoned(probs_size), dprobs = test::poisoned(probs_size);
      cuda::DeviceBuffer<float> out_heads = test::poisoned(q.size()), out = test::poisoned(q.size());
      cuda::DeviceBuffer<float> dout_heads = test::poisoned(q.size());
      cuda::DeviceBuffer<float> dq = test::poisoned(q.size()), dk = test::poisoned(k.size()),
                                dv = test::poisoned(v.size());
      cuda::attention_forward(gemm, dq_in.data(), dk_in.data(), dv_in.data(), s, probs.data(),
                              out_heads.data(), stream);
      cuda::heads_to_tokens(out_heads.data(), s, out.data(), stream);
      cuda::tokens_to_heads(dout_tokens.data(), s, dout_heads.data(), stream);
      cuda::attention_backward(gemm, dq_in.data(), dk_in.data(), dv_in.data(), probs.data(),
                               dout_heads.data(), s, dprobs.data(), dq.data(), dk.data(), dv.data(),
                               stream);
      ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
      EXPECT_LE(test::relative_l2(out.to_host(), want_out), 1e-5);
      EXPECT_LE(test::relative_l2(from_heads(dq.to_host(), s.batch, s.seq_len, s.n_heads, hd), want_dq), 1e-5);
      EXPECT_LE(test::relative_l2(from_heads(dk.to_host(), s.batch, s.seq_len, s.n_kv_heads, hd), want_dk), 1e-5);
      EXPECT_LE(test::relative_l2(from_heads(dv.to_host(), s.batch, s.seq_len, s.n_kv_heads, hd), want_dv), 1e-5);
      // Causal rows: zeros above the diagonal, a distribution on and below it.
      const std::vector<float> p = probs.to_host();
      int64_t bad_rows = 0;
      for (std::size_t r = 0; r < probs_size / static_cast<std::size_t>(s.seq_len); ++r) {
        const auto t = static_cast<int64_t>(r % static_cast<std::size_t>(s.seq_len));
        double sum = 0.0;
        bool masked_zero = true;
        for (int64_t j = 0; j < s.seq_len; ++j) {
          const float x = p[r * static_cast<std::size_t>(s.seq_len) + static_cast<std::size_t>(j)];
          if (j <= t) sum += x;
          else masked_zero = masked_zero && x == 0.0f;
        }
        bad_rows += !masked_zero || !(std::fabs(sum - 1.0) < 1e-5);
      }
      EXPECT_EQ(bad_rows, 0);
    }
    cudaStreamDestroy(stream);
  }
}

}  // namespace
}  // namespace a48
