// The CUDA inference row ops against the reference: the fused residual/GLU/RMSNorm/top-K/quantizer
// pass (cuda/infer/row_quant.h) and RoPE + KV-cache writes + attention (cuda/infer/attention.h).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "cuda/infer/attention.h"
#include "cuda/infer/attention_prefill.h"
#include "cuda/infer/row_quant.h"
#include "cuda_test_util.h"
#include "model/kv_cache.h"
#include "quant/kv_quant.h"
#include "quant/topk_sparsify.h"
#include "ref/attention.h"
#include "ref/glu.h"
#include "ref/projection.h"
#include "ref/rmsnorm.h"
#include "ref/rope.h"

namespace a48 {
namespace {

std::span<const float> row(const std::vector<float>& v, int64_t r, int64_t n) {
  return std::span<const float>(v).subspan(static_cast<std::size_t>(r * n), static_cast<std::size_t>(n));
}

struct QuantCase {
  ActivationQuantizer quantizer;
  float keep_fraction;
  const char* name;
};

// Rows through quantize_rows with a float residual delta and an RMSNorm, against ref::rmsnorm +
// ref::quantize_activation_row. Codes must be equal; row_quant.h explains the one exception (a
// double sum landing next to a float rounding boundary), allowed here as at most one code per row
// moving by one step.
TEST(CudaRowQuant, ResidualNormAndQuantizersEqualReference) {
  A48_REQUIRE_CUDA_DEVICE();
  const QuantCase cases[] = {{ActivationQuantizer::int8_absmax, 1.0f, "int8"},
                             {ActivationQuantizer::int4_absmean, 1.0f, "int4"},
                             {ActivationQuantizer::int4_absmean_double_beta, 1.0f, "int4x2"},
                             {ActivationQuantizer::fp4_e2m1, 1.0f, "fp4"},
                             {ActivationQuantizer::int8_absmax, 0.5f, "topk+int8"},
                             {ActivationQuantizer::int8_absmax, 0.1f, "topk10+int8"}};
  uint32_t seed = 900;
  int64_t flips = 0, codes_total = 0;
  for (const QuantCase& qc : cases) {
    for (int64_t n : {1, 5, 63, 200, 1000, 2560, 6912}) {
      SCOPED_TRACE(testing::Message() << qc.name << " n " << n);
      const int64_t rows = 5;
      const auto size = static_cast<std::size_t>(rows * n);
      std::vector<float> x = test::uniform(size, seed++, 2.0f);
      const std::vector<float> delta = test::uniform(size, seed++, 0.5f);
      const std::vector<float> w = test::uniform(static_cast<std::size_t>(n), seed++, 1.5f);
      for (int64_t i = 0; i < std::min<int64_t>(n, 4); ++i) x[static_cast<std::size_t>(n + i)] = 7.0f;  // ties for top-K
      const int64_t ld_q = ((n + 63) / 64) * 64 + 64;
      cuda::DeviceBuffer<float> dx = cuda::to_device(x), dd = cuda::to_device(delta), dw = cuda::to_device(w);
      cuda::DeviceBuffer<int8_t> q(static_cast<std::size_t>(rows * ld_q));
      q.fill_bytes(0xAB);
      cuda::DeviceBuffer<float> step = test::poisoned(static_cast<std::size_t>(rows));
      cuda::DeviceBuffer<int32_t> sum(static_cast<std::size_t>(rows));
      sum.fill_bytes(0xAB);
      cuda::RowQuantArgs a;
      a.n_tokens = rows;
      a.n = n;
      a.x = dx.data();
      a.ld_x = n;
      a.delta = dd.data();
      a.ld_delta = n;
      a.norm_weight = dw.data();
      a.eps = 1e-5f;
      a.keep = qc.keep_fraction < 1.0f ? topk_keep_count(n, qc.keep_fraction) : n;
      a.quantizer = qc.quantizer;
      a.q = q.data();
      a.ld_q = ld_q;
      a.step = step.data();
      a.sum = sum.data();
      cuda::quantize_rows(a, nullptr);
      const std::vector<float> got_x = dx.to_host();
      const std::vector<int8_t> got_q = q.to_host();
      const std::vector<float> got_step = step.to_host();
      const std::vector<int32_t> got_sum = sum.to_host();
      const ProjectionQuantization pq{qc.quantizer, qc.keep_fraction, true};
      for (int64_t r = 0; r < rows; ++r) {
        std::vector<float> xr(static_cast<std::size_t>(n)), normed(static_cast<std::size_t>(n));
        for (int64_t i = 0; i < n; ++i) {
          const auto k = static_cast<std::size_t>(r * n + i);
          xr[static_cast<std::size_t>(i)] = x[k] + delta[k];
          ASSERT_EQ(got_x[k], xr[static_cast<std::size_t>(i)]) << "residual at " << r << ", " << i;
        }
        ref::rmsnorm(xr, w, 1e-5f, normed);
        const ref::ActivationRow want = ref::quantize_activation_row(pq, normed);
        EXPECT_NEAR(got_step[static_cast<std::size_t>(r)], want.step, 1e-6 * want.step) << "row " << r;
        int row_flips = 0;
        int32_t want_sum = 0;
        for (int64_t i = 0; i < ld_q; ++i) {
          const int8_t g = got_q[static_cast<std::size_t>(r * ld_q + i)];
          if (i >= n) {
            ASSERT_EQ(g, 0) << "padding at " << i;
            continue;
          }
          const int8_t e = want.q[static_cast<std::size_t>(i)];
          want_sum += g;
          if (g != e) {
            ++row_flips;
            EXPECT_LE(std::abs(g - e), 1) << "row " << r << " index " << i;
          }
        }
        EXPECT_LE(row_flips, 1) << "row " << r;
        flips += row_flips;
        codes_total += n;
        EXPECT_EQ(got_sum[static_cast<std::size_t>(r)], want_sum);
      }
    }
  }
  std::printf("row_quant: %lld of %lld codes differ from the reference (rounding-tie flips)\n",
              static_cast<long long>(flips), static_cast<long long>(codes_total));
}

// Top-K by radix select where many entries tie at the threshold (values from a 9-value set), so
// the ties are ranked by index; no norm, so the codes must equal the reference's exactly.
TEST(CudaRowQuant, TopKWithManyTiesEqualsReference) {
  A48_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 1500;
  for (int64_t n : {7, 300, 2560, 6913}) {
    for (float fraction : {0.9f, 0.5f, 0.3f, 0.02f}) {
      SCOPED_TRACE(testing::Message() << "n " << n << " keep " << fraction);
      const int64_t rows = 4;
      std::mt19937 rng(seed++);
      std::uniform_int_distribution<int> pick(-4, 4);
      std::vector<float> x(static_cast<std::size_t>(rows * n));
      for (float& v : x) v = 0.5f * static_cast<float>(pick(rng));
      const int64_t ld_q = (n + 63) / 64 * 64;
      cuda::DeviceBuffer<float> dx = cuda::to_device(x);
      cuda::DeviceBuffer<int8_t> q(static_cast<std::size_t>(rows * ld_q));
      q.fill_bytes(0xAB);
      cuda::DeviceBuffer<float> step = test::poisoned(static_cast<std::size_t>(rows));
      cuda::DeviceBuffer<int32_t> sum(static_cast<std::size_t>(rows));
      sum.fill_bytes(0xAB);
      cuda::RowQuantArgs a;
      a.n_tokens = rows;
      a.n = n;
      a.x = dx.data();
      a.ld_x = n;
      a.keep = topk_keep_count(n, fraction);
      a.quantizer = ActivationQuantizer::int8_absmax;
      a.q = q.data();
      a.ld_q = ld_q;
      a.step = step.data();
      a.sum = sum.data();
      cuda::quantize_rows(a, nullptr);
      const std::vector<int8_t> got_q = q.to_host();
      const std::vector<float> got_step = step.to_host();
      const std::vector<int32_t> got_sum = sum.to_host();
      const ProjectionQuantization pq{ActivationQuantizer::int8_absmax, fraction, true};
      for (int64_t r = 0; r < rows; ++r) {
        const ref::ActivationRow want = ref::quantize_activation_row(pq, row(x, r, n));
        ASSERT_EQ(got_step[static_cast<std::size_t>(r)], want.step) << "row " << r;
        int32_t want_sum = 0;
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_EQ(got_q[static_cast<std::size_t>(r * ld_q + i)], want.q[static_cast<std::size_t>(i)])
              << "row " << r << " index " << i;
          want_sum += want.q[static_cast<std::size_t>(i)];
        }
        for (int64_t i = n; i < ld_q; ++i) ASSERT_EQ(got_q[static_cast<std::size_t>(r * ld_q + i)], 0);
        EXPECT_EQ(got_sum[static_cast<std::size_t>(r)], want_sum);
      }
    }
  }
}

TEST(CudaRowQuant, GluInputEqualsReference) {
  A48_REQUIRE_CUDA_DEVICE();
  for (int64_t n : {3, 333, 6912}) {
    const int64_t rows = 3;
    const auto size = static_cast<std::size_t>(rows * n);
    const std::vector<float> gate = test::uniform(size, 40u + static_cast<uint32_t>(n), 2.0f);
    const std::vector<float> up = test::uniform(size, 41u + static_cast<uint32_t>(n), 2.0f);
    const std::vector<float> w = test::uniform(static_cast<std::size_t>(n), 42, 1.0f);
    cuda::DeviceBuffer<float> dg = cuda::to_device(gate), du = cuda::to_device(up), dw = cuda::to_device(w);
    cuda::DeviceBuffer<float> normed = test::poisoned(size);
    cuda::RowQuantArgs a;
    a.n_tokens = rows;
    a.n = n;
    a.gate = dg.data();
    a.up = du.data();
    a.ld_glu = n;
    a.norm_weight = dw.data();
    a.normed = normed.data();
    a.ld_normed = n;
    a.keep = n;
    cuda::quantize_rows(a, nullptr);
    const std::vector<float> got = normed.to_host();
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<float> glu(static_cast<std::size_t>(n)), want(static_cast<std::size_t>(n));
      ref::relu2_glu(row(gate, r, n), row(up, r, n), glu);
      ref::rmsnorm(glu, w, 1e-5f, want);
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(got[static_cast<std::size_t>(r * n + i)], want[static_cast<std::size_t>(i)]) << r << ", " << i;
    }
  }
}

// A prefill of P tokens through rope_store_kv + attention against ref::rope, KvCache::store and
// ref::attention position by position: rotated/quantized q and k and the cache codes exactly,
// the attention output within 1e-5 * max|v| (attention.h).
TEST(CudaAttention, PrefillEqualsReferenceAtEveryCacheWidth) {
  A48_REQUIRE_CUDA_DEVICE();
  struct Case {
    AttentionBits bits;
    int64_t heads, kv_heads, hd, positions;
  };
  const Case cases[] = {{AttentionBits::fp16, 4, 2, 16, 37},
                        {AttentionBits::int8, 3, 3, 10, 20},
                        {AttentionBits::int4, 6, 2, 32, 70},
                        {AttentionBits::q4_kv3, 4, 1, 128, 45},
                        {AttentionBits::q4_kv3, 3, 3, 128, 100},
                        {AttentionBits::q4_kv3, 2, 2, 6, 1}};
  uint32_t seed = 77;
  for (const Case& cs : cases) {
    SCOPED_TRACE(testing::Message() << to_string(cs.bits) << " H " << cs.heads << " H_kv " << cs.kv_heads << " hd "
                                    << cs.hd << " P " << cs.positions);
    ModelConfig c;
    c.hidden_size = cs.heads * cs.hd;
    c.num_hidden_layers = 2;
    c.num_attention_heads = cs.heads;
    c.num_key_value_heads = cs.kv_heads;
    c.intermediate_size = 8;
    c.vocab_size = 8;
    c.max_position_embeddings = 128;
    c.rope_theta = 500000.0;
    c.attention_bits = cs.bits;
    const int layer = 1, P = static_cast<int>(cs.positions);
    const int64_t qs = c.q_size(), kv = c.kv_size();
    const std::vector<float> q = test::uniform(static_cast<std::size_t>(P * qs), seed++, 3.0f);
    const std::vector<float> k = test::uniform(static_cast<std::size_t>(P * kv), seed++, 3.0f);
    const std::vector<float> v = test::uniform(static_cast<std::size_t>(P * kv), seed++, 3.0f);

    KvCache cache(c, c.max_position_embeddings);
    std::vector<float> want_q(q.size()), want_k(k.size()), want_out(q.size());
    for (int p = 0; p < P; ++p) {
      std::vector<float> qp(row(q, p, qs).begin(), row(q, p, qs).end()), kp(row(k, p, kv).begin(), row(k, p, kv).end());
      ref::rope(qp, cs.heads, cs.hd, p, c.rope_theta);
      ref::rope(kp, cs.kv_heads, cs.hd, p, c.rope_theta);
      std::copy(kp.begin(), kp.end(), want_k.begin() + p * kv);
      cache.store(layer, p, kp, row(v, p, kv));
      std::vector<float> keys(static_cast<std::size_t>((p + 1) * kv)), values(keys.size());
      for (int pp = 0; pp <= p; ++pp)
        for (int64_t g = 0; g < cs.kv_heads; ++g) {
          const auto off = static_cast<std::size_t>((pp * cs.kv_heads + g) * cs.hd);
          cache.load_k(layer, pp, g, std::span<float>(keys).subspan(off, static_cast<std::size_t>(cs.hd)));
          cache.load_v(layer, pp, g, std::span<float>(values).subspan(off, static_cast<std::size_t>(cs.hd)));
        }
      ref::attention(qp, keys, values, p + 1, cs.heads, cs.kv_heads, cs.hd, query_bits(cs.bits),
                     std::span<float>(want_out).subspan(static_cast<std::size_t>(p * qs), static_cast<std::size_t>(qs)));
      ref::quantize_dequantize_heads(qp, cs.hd, query_bits(cs.bits));
      std::copy(qp.begin(), qp.end(), want_q.begin() + p * qs);
    }

    cuda::AttentionShape shape{2, static_cast<int>(cs.heads), static_cast<int>(cs.kv_heads), static_cast<int>(cs.hd),
                               kv_cache_bits(cs.bits), query_bits(cs.bits)};
    const int64_t cap = c.max_position_embeddings;
    const auto values_n = static_cast<std::size_t>(2 * cap * kv);
    const bool f32 = shape.kv_bits == 16;
    cuda::DeviceBuffer<uint8_t> kc(f32 ? values_n * 4 : values_n), vc(f32 ? values_n * 4 : values_n);
    cuda::DeviceBuffer<float> kg(static_cast<std::size_t>(2 * cap * cs.kv_heads)), vg(kg.size());
    std::vector<cuda::KvSlot> slots(static_cast<std::size_t>(P));
    for (int p = 0; p < P; ++p) {
      slots[static_cast<std::size_t>(p)] = {kc.data(), vc.data(), f32 ? nullptr : kg.data(), f32 ? nullptr : vg.data(),
                                            p, static_cast<int32_t>(cap)};
    }
    std::vector<float> cos_t, sin_t;
    cuda::rope_tables(cs.hd, c.rope_theta, cap, cos_t, sin_t);
    cuda::DeviceBuffer<float> dcos = cuda::to_device(cos_t), dsin = cuda::to_device(sin_t);
    cuda::DeviceBuffer<cuda::KvSlot> dslots = cuda::to_device(slots);
    cuda::DeviceBuffer<float> dq = cuda::to_device(q), dk = cuda::to_device(k), dv = cuda::to_device(v);
    cuda::DeviceBuffer<float> out = test::poisoned(q.size());
    cuda::rope_store_kv(dq.data(), qs, dk.data(), dv.data(), kv, dslots.data(), P, layer, shape, dcos.data(),
                        dsin.data(), nullptr);
    cuda::attention(dq.data(), qs, dslots.data(), P, layer, shape, cap, out.data(), qs, nullptr);
    const std::vector<float> got_q = dq.to_host(), got_k = dk.to_host(), got_out = out.to_host();
    for (std::size_t i = 0; i < q.size(); ++i) ASSERT_EQ(got_q[i], want_q[i]) << "q " << i;
    for (std::size_t i = 0; i < k.size(); ++i) ASSERT_EQ(got_k[i], want_k[i]) << "k " << i;
    if (!f32) {
      // Cache codes and gammas, read back through the reference's dequantization.
      const std::vector<uint8_t> codes = kc.to_host();
      const std::vector<float> gammas = kg.to_host();
      for (int p = 0; p < P; ++p)
        for (int64_t g = 0; g < cs.kv_heads; ++g) {
          const auto index = static_cast<std::size_t>((layer * cap + p) * cs.kv_heads + g);
          std::vector<float> got(static_cast<std::size_t>(cs.hd)), want(got.size());
          dequantize_absmax_unsigned(std::span<const uint8_t>(codes).subspan(index * cs.hd, cs.hd),
                                     kv_bits_for_position(shape.kv_bits, p), gammas[index], got);
          cache.load_k(layer, p, g, want);
          ASSERT_EQ(got, want) << "cached k at " << p << ", head " << g;
        }
    }
    float vmax = 0.0f;
    for (float x : v) vmax = std::max(vmax, std::fabs(x));
    double worst = 0.0;
    for (std::size_t i = 0; i < q.size(); ++i) worst = std::max(worst, std::fabs(double(got_out[i]) - want_out[i]));
    EXPECT_LE(worst, 1e-5 * vmax);
    // The split (flash-decoding) path, up to 3 tokens per call (2 to 16 blocks per head), reading
    // the caches the prefill wrote.
    cuda::AttentionWorkspace ws(shape, 3);
    cuda::DeviceBuffer<float> split_out = test::poisoned(q.size());
    int max_splits = 1;
    for (int t0 = 0; t0 < P; t0 += 3) {
      const int n = std::min(3, P - t0);
      max_splits = std::max(max_splits, ws.splits(n));
      cuda::attention(dq.data() + t0 * qs, qs, dslots.data() + t0, n, layer, shape, cap, split_out.data() + t0 * qs,
                      qs, nullptr, &ws);
    }
    EXPECT_GT(max_splits, 1);
    const std::vector<float> got_split = split_out.to_host();
    double worst_split = 0.0;
    for (std::size_t i = 0; i < q.size(); ++i)
      worst_split = std::max(worst_split, std::fabs(double(got_split[i]) - want_out[i]));
    EXPECT_LE(worst_split, 1e-5 * vmax);
    // The tiled prefill path (attention_prefill.h), the rows cut in two as two sequences' would be.
    std::vector<cuda::AttentionTile> tiles;
    cuda::append_attention_tiles(0, P / 3, shape, tiles);
    cuda::append_attention_tiles(P / 3, P - P / 3, shape, tiles);
    ASSERT_TRUE(cuda::attention_prefill_supports(shape));
    cuda::DeviceBuffer<cuda::AttentionTile> dtiles = cuda::to_device(tiles);
    cuda::DeviceBuffer<float> tiled_out = test::poisoned(q.size());
    cuda::attention_prefill(dq.data(), qs, dslots.data(), dtiles.data(), static_cast<int>(tiles.size()), layer, shape,
                            tiled_out.data(), qs, nullptr);
    const std::vector<float> got_tiled = tiled_out.to_host();
    double worst_tiled = 0.0;
    for (std::size_t i = 0; i < q.size(); ++i)
      worst_tiled = std::max(worst_tiled, std::fabs(double(got_tiled[i]) - want_out[i]));
    EXPECT_LE(worst_tiled, 1e-5 * vmax);
    std::printf("attention %s: max |out - ref| = %.3g, split path %.3g, tiled prefill %.3g (max|v| %.3g)\n",
                std::string(to_string(cs.bits)).c_str(), worst, worst_split, worst_tiled, vmax);
  }
}

// Bad arguments to the tiled prefill attention are refused before anything reaches the device
// (runs without one).
TEST(CudaAttention, TiledPrefillRejectsBadArguments) {
  const cuda::AttentionShape wide{2, 4, 2, 256, 3, 4};  // head_dim above the kernel's 128
  EXPECT_FALSE(cuda::attention_prefill_supports(wide));
  float dummy = 0;
  const cuda::KvSlot* slots = reinterpret_cast<const cuda::KvSlot*>(&dummy);
  const cuda::AttentionTile* tiles = reinterpret_cast<const cuda::AttentionTile*>(&dummy);
  EXPECT_THROW(cuda::attention_prefill(&dummy, 256, slots, tiles, 1, 0, wide, &dummy, 256, nullptr), Error);
  const cuda::AttentionShape ok{2, 4, 2, 64, 3, 4};
  EXPECT_TRUE(cuda::attention_prefill_supports(ok));
  EXPECT_THROW(cuda::attention_prefill(&dummy, 256, slots, tiles, 0, 0, ok, &dummy, 256, nullptr), Error);
  EXPECT_THROW(cuda::attention_prefill(&dummy, 256, slots, tiles, 1, 2, ok, &dummy, 256, nullptr), Error);
  std::vector<cuda::AttentionTile> cut;
  EXPECT_THROW(cuda::append_attention_tiles(-1, 4, ok, cut), Error);
  cuda::append_attention_tiles(5, 70, ok, cut);  // 32 tokens per tile at 2 query heads per KV head
  ASSERT_EQ(cut.size(), 3u);
  EXPECT_EQ(cut[0].first, 5);
  EXPECT_EQ(cut[2].first, 69);
  EXPECT_EQ(cut[2].count, 6);
}

}  // namespace
}  // namespace a48
