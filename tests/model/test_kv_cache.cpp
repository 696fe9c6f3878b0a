#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "core/error.h"
#include "model/kv_cache.h"

namespace a48 {
namespace {

// L = 2, H_kv = 2, hd = 16.
ModelConfig cache_config(AttentionBits bits) {
  ModelConfig c;
  c.hidden_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.intermediate_size = 160;
  c.vocab_size = 97;
  c.max_position_embeddings = 64;
  c.attention_bits = bits;
  return c;
}

std::vector<float> random_row(std::mt19937& rng, std::size_t n, float scale) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

float head_absmax(const std::vector<float>& row, int64_t head, int64_t hd) {
  float m = 0;
  for (int64_t i = 0; i < hd; ++i) m = std::max(m, std::fabs(row[head * hd + i]));
  return m;
}

TEST(KvCache, RoundTripErrorIsHalfAStepPerBitWidth) {
  for (auto [bits, expected_bits] : {std::pair{AttentionBits::fp16, 16},
                                     {AttentionBits::int8, 8},
                                     {AttentionBits::int4, 4},
                                     {AttentionBits::q4_kv3, 3}}) {
    const ModelConfig c = cache_config(bits);
    KvCache cache(c, 6);
    ASSERT_EQ(cache.bits(), expected_bits);
    std::mt19937 rng(expected_bits);
    const int64_t hd = c.head_dim(), n = c.kv_size();
    for (int64_t p = 0; p < 6; ++p) {
      for (int64_t l = 0; l < 2; ++l) {
        const auto k = random_row(rng, n, 1.0f + static_cast<float>(p));  // scales vary by token
        const auto v = random_row(rng, n, 0.5f);
        cache.store(l, p, k, v);
        const int b = (expected_bits == 3 && p == 0) ? 4 : expected_bits;  // bos stays at 4 bits
        for (int64_t g = 0; g < 2; ++g) {
          std::vector<float> k_hat(hd, NAN), v_hat(hd, NAN);
          cache.load_k(l, p, g, k_hat);
          cache.load_v(l, p, g, v_hat);
          // delta = 2 gamma / (2^b - 1); round-to-nearest errs by at most delta / 2.
          const float k_bound = b == 16 ? 0.0f : head_absmax(k, g, hd) / ((1 << b) - 1) * 1.0001f;
          const float v_bound = b == 16 ? 0.0f : head_absmax(v, g, hd) / ((1 << b) - 1) * 1.0001f;
          std::set<float> levels;
          for (int64_t i = 0; i < hd; ++i) {
            EXPECT_LE(std::fabs(k_hat[i] - k[g * hd + i]), k_bound) << b << " bits, p " << p;
            EXPECT_LE(std::fabs(v_hat[i] - v[g * hd + i]), v_bound) << b << " bits, p " << p;
            levels.insert(k_hat[i]);
          }
          if (b < 16) {
            EXPECT_LE(levels.size(), std::size_t{1} << b);
          }
        }
      }
    }
  }
}

TEST(KvCache, ThreeBitCacheKeepsBosAtFourBits) {
  // hd = 16 values spread evenly over [-1, 1]: 4 bits (16 levels) represent them all distinctly
  // only at position 0; at 3 bits (8 levels) later positions collapse pairs.
  const ModelConfig c = cache_config(AttentionBits::q4_kv3);
  KvCache cache(c, 3);
  std::vector<float> row(c.kv_size());
  for (std::size_t i = 0; i < row.size(); ++i)
    row[i] = -1.0f + 2.0f * static_cast<float>(i % 16) / 15.0f;
  for (int64_t p = 0; p < 3; ++p) cache.store(0, p, row, row);
  for (int64_t p = 0; p < 3; ++p) {
    std::vector<float> k(c.head_dim());
    cache.load_k(0, p, 1, k);
    std::set<float> levels(k.begin(), k.end());
    EXPECT_EQ(levels.size(), p == 0 ? 16u : 8u) << "position " << p;
    if (p == 0) {
      for (std::size_t i = 0; i < k.size(); ++i) EXPECT_NEAR(k[i], row[i], 1e-6f);
    }
  }
}

TEST(KvCache, PackedBytes) {
  // Per (token, layer, kv head), K and V each: ceil(bits * hd / 8) bytes + 2 bytes of fp16 gamma.
  // hd = 16, L = 2, H_kv = 2 -> factor 2 (K,V) * 2 * 2 = 8 per token-head.
  //   16 bits: 32 bytes, no gamma -> 5 tokens: 8 * 5 * 32 = 1280
  //    8 bits: 16 + 2 = 18        -> 8 * 5 * 18 = 720
  //    4 bits:  8 + 2 = 10        -> 8 * 5 * 10 = 400
  //    3 bits:  6 + 2 = 8, bos at 4 bits 10 -> 8 * (10 + 4 * 8) = 336
  EXPECT_EQ(KvCache(cache_config(AttentionBits::fp16), 8).packed_bytes(5), 1280);
  EXPECT_EQ(KvCache(cache_config(AttentionBits::int8), 8).packed_bytes(5), 720);
  EXPECT_EQ(KvCache(cache_config(AttentionBits::int4), 8).packed_bytes(5), 400);
  EXPECT_EQ(KvCache(cache_config(AttentionBits::q4_kv3), 8).packed_bytes(5), 336);
  EXPECT_EQ(KvCache(cache_config(AttentionBits::q4_kv3), 8).packed_bytes(0), 0);
  EXPECT_THROW(KvCache(cache_config(AttentionBits::int4), 8).packed_bytes(-1), Error);
}

TEST(KvCache, SizeBookkeeping) {
  const ModelConfig c = cache_config(AttentionBits::int8);
  KvCache cache(c, 4);
  EXPECT_EQ(cache.size(), 0);
  EXPECT_EQ(cache.capacity(), 4);
  EXPECT_EQ(cache.n_layers(), 2);
  EXPECT_EQ(cache.n_kv_heads(), 2);
  EXPECT_EQ(cache.head_dim(), 16);
  cache.commit(3);
  EXPECT_EQ(cache.size(), 3);
  cache.truncate(1);
  EXPECT_EQ(cache.size(), 1);
  cache.clear();
  EXPECT_EQ(cache.size(), 0);
}

TEST(KvCache, CapacityAndShapeErrors) {
  const ModelConfig c = cache_config(AttentionBits::int4);
  EXPECT_THROW(KvCache(c, 0), Error);
  KvCache cache(c, 2);
  const std::vector<float> row(c.kv_size(), 0.5f), short_row(c.kv_size() - 1, 0.5f);
  std::vector<float> head(c.head_dim());
  EXPECT_THROW(cache.store(0, 2, row, row), Error);  // position == capacity
  EXPECT_THROW(cache.store(2, 0, row, row), Error);  // no layer 2
  EXPECT_THROW(cache.store(0, 0, short_row, row), Error);
  EXPECT_THROW(cache.load_k(0, 2, 0, head), Error);
  EXPECT_THROW(cache.load_v(0, 0, 2, head), Error);  // no kv head 2
  EXPECT_THROW(cache.load_k(0, 0, 0, std::span<float>(head).first(3)), Error);
  EXPECT_THROW(cache.commit(3), Error);
  EXPECT_THROW(cache.truncate(1), Error);  // nothing committed yet
  cache.store(0, 0, row, row);
  cache.commit(1);
  EXPECT_THROW(cache.store(0, 0, row, row), Error);  // position 0 is committed
  cache.commit(1);
  EXPECT_THROW(cache.commit(1), Error);  // full
}

}  // namespace
}  // namespace a48
