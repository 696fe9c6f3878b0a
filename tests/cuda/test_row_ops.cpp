// The trainer's row and elementwise kernels against the ref ops: RMSNorm forward/backward,
// the q/k/v epilogue + RoPE forward/backward, the GLU epilogue forward/backward, the residual
// epilogue and the embedding. Forward values that the reference defines op for op in fp32 must
// be identical; backward values (double arithmetic on both sides) agree to ~1 fp32 ulp.
#include <gtest/gtest.h>

#include <cmath>

#include "cuda/train/embedding.cuh"
#include "cuda/train/glu.cuh"
#include "cuda/train/residual.cuh"
#include "cuda/train/rmsnorm.cuh"
#include "cuda/train/rope.cuh"
#include "cuda_test_util.h"
#include "ref/embedding_backward.h"
#include "ref/glu.h"
#include "ref/glu_backward.h"
#include "ref/rmsnorm.h"
#include "ref/rmsnorm_backward.h"
#include "ref/rope.h"
#include "ref/rope_backward.h"

namespace a48 {
namespace {

constexpr double kUlp = 2.5e-7;  // a little over one fp32 ulp, relative

std::span<const float> row(const std::vector<float>& v, int64_t r, int64_t n) {
  return std::span<const float>(v).subspan(static_cast<std::size_t>(r * n), static_cast<std::size_t>(n));
}

TEST(CudaRmsnorm, ForwardEqualsRefAndBackwardAgreesToAnUlp) {
  A48_REQUIRE_CUDA_DEVICE();
  const float eps = 1e-5f;
  uint32_t seed = 1;
  for (int64_t n : {1, 7, 64, 257, 1408}) {
    SCOPED_TRACE(testing::Message() << "n " << n);
    const int64_t rows = 70;  // more than one weight-gradient chunk of 64 rows
    const auto size = static_cast<std::size_t>(rows * n);
    std::vector<float> x = test::uniform(size, seed++, 3.0f);
    for (int64_t i = 0; i < n; ++i) x[static_cast<std::size_t>(i)] = 0.0f;  // an all-zero row
    const std::vector<float> w = test::uniform(static_cast<std::size_t>(n), seed++, 1.5f);
    const std::vector<float> dy = test::uniform(size, seed++);
    const std::vector<float> dx0 = test::uniform(size, seed++);
    const std::vector<float> dw0 = test::uniform(static_cast<std::size_t>(n), seed++);

    std::vector<float> want_out(size), want_branch(size);
    std::vector<double> want_dw(dw0.begin(), dw0.end());
    for (int64_t r = 0; r < rows; ++r) {
      const auto off = static_cast<std::size_t>(r * n);
      ref::rmsnorm(row(x, r, n), w, eps, std::span<float>(want_out).subspan(off, static_cast<std::size_t>(n)));
      ref::rmsnorm_backward(row(x, r, n), w, eps, row(dy, r, n),
                            std::span<float>(want_branch).subspan(off, static_cast<std::size_t>(n)), want_dw);
    }
    cuda::DeviceBuffer<float> dx_in = cuda::to_device(x), dw_ = cuda::to_device(w), ddy = cuda::to_device(dy);
    cuda::DeviceBuffer<float> out = test::poisoned(size), dx = test::poisoned(size);
    cuda::DeviceBuffer<float> dx_acc = cuda::to_device(dx0), dweight = cuda::to_device(dw0);
    cuda::DeviceBuffer<double> r(static_cast<std::size_t>(rows)),
        scratch(static_cast<std::size_t>(cuda::rmsnorm_weight_scratch(rows, n)));
    cuda::rmsnorm_forward(dx_in.data(), dw_.data(), rows, n, eps, out.data(), nullptr);
    cuda::rmsnorm_backward(dx_in.data(), dw_.data(), ddy.data(), rows, n, eps, dx.data(), false,
                           r.data(), nullptr);
    cuda::rmsnorm_backward(dx_in.data(), dw_.data(), ddy.data(), rows, n, eps, dx_acc.data(), true,
                           r.data(), nullptr);
    cuda::rmsnorm_backward_weight(dx_in.data(), ddy.data(), r.data(), rows, n, dweight.data(),
                                  scratch.data(), nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(test::max_relative(out.to_host(), want_out, 1e-30), 0.0);
    // Both sides compute the gradients in double and round once (the weight gradient's sum
    // order differs): an ulp of the largest values at most, hence norm-relative bounds.
    EXPECT_LE(test::relative_l2(dx.to_host(), want_branch), kUlp);
    std::vector<float> want_acc(size);
    for (std::size_t i = 0; i < size; ++i) want_acc[i] = dx0[i] + want_branch[i];
    EXPECT_LE(test::relative_l2(dx_acc.to_host(), want_acc), kUlp);
    EXPECT_LE(test::relative_l2(dweight.to_host(), want_dw), kUlp);
  }
}

TEST(CudaRope, QkvEpilogueAndRotationEqualRefAndBackwardAgrees) {
  A48_REQUIRE_CUDA_DEVICE();
  for (const cuda::AttentionShape s : {cuda::AttentionShape{2, 17, 4, 2, 16},
                                       cuda::AttentionShape{1, 1, 3, 3, 2},
                                       cuda::AttentionShape{3, 33, 6, 2, 8}}) {
    SCOPED_TRACE(testing::Message() << "B " << s.batch << " T " << s.seq_len << " H " << s.n_heads);
    const int64_t n = s.tokens(), hd = s.head_dim, qs = s.n_heads * hd, kvs = s.n_kv_heads * hd;
    const int64_t width = qs + 2 * kvs;
    const double theta = 10000.0;
    // Raw products are integers (codes x ternary codes); steps and alphas arbitrary floats.
    const std::vector<float> raw = test::integers(static_cast<std::size_t>(n * width), 3, -2000, 2000);
    std::vector<float> step = test::uniform(static_cast<std::size_t>(n), 4, 0.01f);
    const std::vector<float> alpha = {0.0173f, 0.0291f, 0.00837f};
    const cuda::RopeTables tables = cuda::rope_tables(hd, theta, s.seq_len);
    cuda::DeviceBuffer<float> draw = cuda::to_device(raw), dstep = cuda::to_device(step),
                              dalpha = cuda::to_device(alpha), cos = cuda::to_device(tables.cos),
                              sin = cuda::to_device(tables.sin);
    cuda::DeviceBuffer<float> q = test::poisoned(static_cast<std::size_t>(n * qs)),
                              k = test::poisoned(static_cast<std::size_t>(n * kvs)),
                              v = test::poisoned(static_cast<std::size_t>(n * kvs));
    cuda::qkv_rope_forward(draw.data(), dstep.data(), dalpha.data(), cos.data(), sin.data(), s,
                           q.data(), k.data(), v.data(), nullptr);
    // Backward: head-major gradients in, the fused token-major gradient out.
    const std::vector<float> gq = test::uniform(static_cast<std::size_t>(n * qs), 5),
                             gk = test::uniform(static_cast<std::size_t>(n * kvs), 6),
                             gv = test::uniform(static_cast<std::size_t>(n * kvs), 7);
    cuda::DeviceBuffer<float> dgq = cuda::to_device(gq), dgk = cuda::to_device(gk), dgv = cuda::to_device(gv);
    cuda::DeviceBuffer<float> d_qkv = test::poisoned(static_cast<std::size_t>(n * width));
    cuda::qkv_rope_backward(dgq.data(), dgk.data(), dgv.data(), cos.data(), sin.data(), s,
                            d_qkv.data(), nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<float> hq = q.to_host(), hk = k.to_host(), hv = v.to_host(), hd_qkv = d_qkv.to_host();

    int64_t forward_mismatch = 0;
    std::vector<float> got_grad, want_grad;
    for (int64_t b = 0; b < s.batch; ++b) {
      for (int64_t t = 0; t < s.seq_len; ++t) {
        const int64_t token = b * s.seq_len + t;
        // As ref::bitlinear_row then ref::rope.
        std::vector<float> y(static_cast<std::size_t>(width));
        for (int64_t c = 0; c < width; ++c) {
          const int part = c < qs ? 0 : (c < qs + kvs ? 1 : 2);
          y[static_cast<std::size_t>(c)] = static_cast<float>(
              static_cast<double>(alpha[static_cast<std::size_t>(part)]) *
              static_cast<double>(step[static_cast<std::size_t>(token)]) * raw[static_cast<std::size_t>(token * width + c)]);
        }
        std::span<float> yq = std::span<float>(y).first(static_cast<std::size_t>(qs));
        std::span<float> yk = std::span<float>(y).subspan(static_cast<std::size_t>(qs), static_cast<std::size_t>(kvs));
        ref::rope(yq, s.n_heads, hd, t, theta);
        ref::rope(yk, s.n_kv_heads, hd, t, theta);
        // The gradient rows of this token, token-major, through ref::rope_backward.
        std::vector<float> g(static_cast<std::size_t>(width));
        for (int64_t part = 0; part < 3; ++part) {
          const int64_t heads = part == 0 ? s.n_heads : s.n_kv_heads;
          const int64_t base = part == 0 ? 0 : (part == 1 ? qs : qs + kvs);
          const std::vector<float>& src = part == 0 ? gq : (part == 1 ? gk : gv);
          const std::vector<float>& got = part == 0 ? hq : (part == 1 ? hk : hv);
          for (int64_t h = 0; h < heads; ++h) {
            for (int64_t i = 0; i < hd; ++i) {
              const auto head_major = static_cast<std::size_t>(((b * heads + h) * s.seq_len + t) * hd + i);
              const auto c = static_cast<std::size_t>(base + h * hd + i);
              forward_mismatch += !(got[head_major] == y[c]);
              g[c] = src[head_major];
            }
          }
        }
        ref::rope_backward(std::span<float>(g).first(static_cast<std::size_t>(qs)), s.n_heads, hd, t, theta);
        ref::rope_backward(std::span<float>(g).subspan(static_cast<std::size_t>(qs), static_cast<std::size_t>(kvs)),
                           s.n_kv_heads, hd, t, theta);
        for (int64_t c = 0; c < width; ++c) {
          want_grad.push_back(g[static_cast<std::size_t>(c)]);
          got_grad.push_back(hd_qkv[static_cast<std::size_t>(token * width + c)]);
        }
      }
    }
    EXPECT_EQ(forward_mismatch, 0);
    EXPECT_LE(test::relative_l2(got_grad, want_grad), kUlp);
  }
}

TEST(CudaGlu, EpilogueForwardEqualsRefAndBackwardAgrees) {
  A48_REQUIRE_CUDA_DEVICE();
  const int64_t n = 37, f = 160;
  const auto size = static_cast<std::size_t>(n * f);
  for (HiddenActivation act : {HiddenActivation::relu2, HiddenActivation::silu}) {
    SCOPED_TRACE(testing::Message() << "relu2 " << (act == HiddenActivation::relu2));
    const std::vector<float> raw = test::integers(2 * size, 11, -900, 900);
    const std::vector<float> step = test::uniform(static_cast<std::size_t>(n), 12, 0.01f);
    const std::vector<float> alpha = {0.021f, 0.0137f};
    const std::vector<float> dglu = test::uniform(size, 13);
    std::vector<float> gate(size), up(size), want_glu(size), want_dgate(size), want_dup(size);
    std::vector<int> want_active(static_cast<std::size_t>(n), 0);
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t i = 0; i < f; ++i) {
        const auto e = static_cast<std::size_t>(t * f + i);
        const double s = step[static_cast<std::size_t>(t)];
        gate[e] = static_cast<float>(static_cast<double>(alpha[0]) * s * raw[static_cast<std::size_t>(t * 2 * f + i)]);
        up[e] = static_cast<float>(static_cast<double>(alpha[1]) * s * raw[static_cast<std::size_t>(t * 2 * f + f + i)]);
        const float a = act == HiddenActivation::relu2 ? ref::relu2(gate[e]) : ref::silu(gate[e]);
        want_active[static_cast<std::size_t>(t)] += a != 0.0f;
      }
    }
    if (act == HiddenActivation::relu2) {
      ref::relu2_glu(gate, up, want_glu);
      ref::relu2_glu_backward(gate, up, dglu, want_dgate, want_dup);
    } else {
      ref::silu_glu(gate, up, want_glu);
      ref::silu_glu_backward(gate, up, dglu, want_dgate, want_dup);
    }
    cuda::DeviceBuffer<float> gate_up = cuda::to_device(raw), dstep = cuda::to_device(step),
                              dalpha = cuda::to_device(alpha), ddglu = cuda::to_device(dglu);
    cuda::DeviceBuffer<float> glu = test::poisoned(size), d_gate_up = test::poisoned(2 * size);
    cuda::DeviceBuffer<int> active(static_cast<std::size_t>(n));
    cuda::glu_forward(gate_up.data(), dstep.data(), dalpha.data(), n, f, act, glu.data(), nullptr);
    cuda::glu_backward(gate_up.data(), ddglu.data(), n, f, act, d_gate_up.data(), nullptr);
    cuda::count_active_gates(gate_up.data(), n, f, act, active.data(), nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<float> gu = gate_up.to_host(), dgu = d_gate_up.to_host();
    std::vector<float> got_gate(size), got_up(size), got_dgate(size), got_dup(size);
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t i = 0; i < f; ++i) {
        const auto e = static_cast<std::size_t>(t * f + i);
        got_gate[e] = gu[static_cast<std::size_t>(t * 2 * f + i)];
        got_up[e] = gu[static_cast<std::size_t>(t * 2 * f + f + i)];
        got_dgate[e] = dgu[static_cast<std::size_t>(t * 2 * f + i)];
        got_dup[e] = dgu[static_cast<std::size_t>(t * 2 * f + f + i)];
      }
    }
    EXPECT_EQ(test::max_relative(got_gate, gate, 1e-30), 0.0);
    EXPECT_EQ(test::max_relative(got_up, up, 1e-30), 0.0);
    // ReLU^2 is exact fp32 arithmetic; SiLU's expf may differ from glibc's by an ulp.
    const double glu_tol = act == HiddenActivation::relu2 ? 0.0 : 4 * kUlp;
    EXPECT_LE(test::max_relative(glu.to_host(), want_glu, 1e-30), glu_tol);
    EXPECT_LE(test::relative_l2(got_dgate, want_dgate), 4 * kUlp);
    EXPECT_LE(test::relative_l2(got_dup, want_dup), 4 * kUlp);
    EXPECT_EQ(active.to_host(), want_active);
  }
}

TEST(CudaResidual, ProjectionEpilogueEqualsRef) {
  A48_REQUIRE_CUDA_DEVICE();
  const int64_t n = 19, d = 70;
  const auto size = static_cast<std::size_t>(n * d);
  const std::vector<float> x = test::uniform(size, 21), raw = test::integers(size, 22, -5000, 5000);
  const std::vector<float> step = test::uniform(static_cast<std::size_t>(n), 23, 0.02f), alpha = {0.0123f};
  std::vector<float> want(size);
  for (std::size_t i = 0; i < size; ++i) {
    const float o = static_cast<float>(static_cast<double>(alpha[0]) *
                                       static_cast<double>(step[i / static_cast<std::size_t>(d)]) * raw[i]);
    want[i] = x[i] + o;
  }
  cuda::DeviceBuffer<float> dx = cuda::to_device(x), draw = cuda::to_device(raw),
                            dstep = cuda::to_device(step), dalpha = cuda::to_device(alpha);
  cuda::DeviceBuffer<float> out = test::poisoned(size);
  cuda::residual_add_projection(dx.data(), draw.data(), dstep.data(), dalpha.data(), n, d,
                                out.data(), nullptr);
  cuda::residual_add_projection(dx.data(), draw.data(), dstep.data(), dalpha.data(), n, d, dx.data(),
                                nullptr);  // in place
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(test::max_relative(out.to_host(), want, 1e-30), 0.0);
  EXPECT_EQ(test::max_relative(dx.to_host(), want, 1e-30), 0.0);
}

TEST(CudaEmbedding, GatherAndDeterministicScatterAdd) {
  A48_REQUIRE_CUDA_DEVICE();
  const int64_t vocab = 97, d = 300, n = 200;
  std::vector<int32_t> tokens(static_cast<std::size_t>(n));
  std::mt19937 rng(31);
  std::uniform_int_distribution<int32_t> id(0, 9);  // few distinct ids: long buckets
  for (int32_t& t : tokens) t = id(rng) * 9;
  tokens[5] = static_cast<int32_t>(vocab - 1);
  const std::vector<float> table = test::uniform(static_cast<std::size_t>(vocab * d), 32);
  const std::vector<float> dout = test::uniform(static_cast<std::size_t>(n * d), 33);
  std::vector<double> want_dtable(table.begin(), table.end());
  for (int64_t i = 0; i < n; ++i) {
    ref::embedding_backward(row(dout, i, d), vocab, d, tokens[static_cast<std::size_t>(i)], want_dtable);
  }
  const cuda::TokenBuckets buckets = cuda::bucket_tokens(tokens, vocab);
  cuda::DeviceBuffer<int32_t> dtokens = cuda::to_device(tokens), unique = cuda::to_device(buckets.unique),
                              starts = cuda::to_device(buckets.starts),
                              positions = cuda::to_device(buckets.positions);
  cuda::DeviceBuffer<float> dtable = cuda::to_device(table), ddout = cuda::to_device(dout);
  cuda::DeviceBuffer<float> out = test::poisoned(static_cast<std::size_t>(n * d));
  cuda::embedding_forward(dtable.data(), dtokens.data(), n, d, out.data(), nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<float> gathered = out.to_host();
  int64_t mismatch = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      mismatch += !(gathered[static_cast<std::size_t>(i * d + j)] ==
                    table[static_cast<std::size_t>(tokens[static_cast<std::size_t>(i)] * d + j)]);
    }
  }
  EXPECT_EQ(mismatch, 0);
  cuda::embedding_backward(ddout.data(), unique.data(), starts.data(), positions.data(),
                           static_cast<int64_t>(buckets.unique.size()), d, dtable.data(), nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  // The device adds float(sum) to the float table: within an ulp of the double accumulation.
  EXPECT_LE(test::relative_l2(dtable.to_host(), want_dtable), 2 * kUlp);
  EXPECT_THROW(cuda::bucket_tokens(std::vector<int32_t>{1, 97}, vocab), Error);
}

}  // namespace
}  // namespace a48
