// cpu::attend (integer dot products over the cache's codes) against ref::attention over the
// dequantized cache, for every attention setting, awkward head sizes and context lengths.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "cpu/attention_kernel.h"
#include "cpu_test_util.h"
#include "ref/attention.h"

namespace a48::cpu {
namespace {

ModelConfig attention_config(AttentionBits bits) {
  ModelConfig c;
  c.hidden_size = 6 * 22;  // H = 6, hd = 22: not a power of two
  c.num_hidden_layers = 2;
  c.num_attention_heads = 6;
  c.num_key_value_heads = 3;
  c.intermediate_size = 8;
  c.vocab_size = 5;
  c.max_position_embeddings = 64;
  c.attention_bits = bits;
  return c;
}

std::vector<float> gaussian(std::size_t n, std::mt19937& rng, float sd) {
  std::normal_distribution<float> dist(0.0f, sd);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// The softmax weights sum to 1, so each output is a convex combination of values of size ~max|v|:
// fp32 rounding of the scores (relative ~1e-6 of |q||k|) moves the output by far less than this.
constexpr float kTolerance = 2e-4f;

TEST(AttentionKernel, MatchesTheReferenceOverTheDequantizedCache) {
  for (const AttentionBits bits : {AttentionBits::fp16, AttentionBits::int8, AttentionBits::int4,
                                   AttentionBits::q4_kv3}) {
    const ModelConfig c = attention_config(bits);
    const int64_t hd = c.head_dim(), h = c.num_attention_heads, h_kv = c.num_key_value_heads;
    for (const int64_t n_positions : {1, 2, 13, 37}) {
      std::mt19937 rng(static_cast<uint32_t>(n_positions * 31 + static_cast<int>(bits)));
      KvCache cache(c, 40);
      const int64_t layer = 1;
      for (int64_t p = 0; p < n_positions; ++p) {
        // Position 0 carries a large outlier, like bos (why 3-bit caches keep it at 4 bits).
        const float sd = p == 0 ? 8.0f : 1.0f;
        const std::vector<float> k = gaussian(static_cast<std::size_t>(h_kv * hd), rng, sd);
        const std::vector<float> v = gaussian(static_cast<std::size_t>(h_kv * hd), rng, sd);
        cache.store(0, p, k, v);
        cache.store(layer, p, k, v);
        cache.commit(1);
      }
      const std::vector<float> q = gaussian(static_cast<std::size_t>(h * hd), rng, 1.5f);
      std::vector<float> keys(static_cast<std::size_t>(n_positions * h_kv * hd));
      std::vector<float> values(keys.size());
      for (int64_t p = 0; p < n_positions; ++p) {
        for (int64_t g = 0; g < h_kv; ++g) {
          const auto off = static_cast<std::size_t>((p * h_kv + g) * hd);
          cache.load_k(layer, p, g, std::span(keys).subspan(off, static_cast<std::size_t>(hd)));
          cache.load_v(layer, p, g, std::span(values).subspan(off, static_cast<std::size_t>(hd)));
        }
      }
      std::vector<float> expected(q.size());
      ref::attention(q, keys, values, n_positions, h, h_kv, hd, query_bits(bits), expected);
      std::vector<float> got = test::nan_floats(q.size());
      std::vector<float> scratch;
      // Two calls over halves of the heads, as the engine splits heads over threads.
      attend(cache, layer, n_positions, q, h, query_bits(bits), 0, 2, got, scratch);
      attend(cache, layer, n_positions, q, h, query_bits(bits), 2, h, got, scratch);
      float scale = 0;
      for (float x : values) scale = std::max(scale, std::fabs(x));
      for (std::size_t i = 0; i < got.size(); ++i) {
        ASSERT_NEAR(got[i], expected[i], kTolerance * scale)
            << to_string(bits) << " positions " << n_positions << " element " << i;
      }
    }
  }
}

TEST(AttentionKernel, RejectsBadArguments) {
  const ModelConfig c = attention_config(AttentionBits::int4);
  KvCache cache(c, 8);
  std::vector<float> q(static_cast<std::size_t>(c.q_size()), 1.0f), out(q.size());
  std::vector<float> scratch;
  EXPECT_THROW(attend(cache, 0, 9, q, 6, 4, 0, 6, out, scratch), Error);   // past the capacity
  EXPECT_THROW(attend(cache, 0, 1, q, 4, 4, 0, 4, out, scratch), Error);   // wrong head count
  EXPECT_THROW(attend(cache, 0, 1, q, 6, 4, 0, 7, out, scratch), Error);   // heads past H
  EXPECT_THROW(attend(cache, 0, 1, q, 6, 16, 0, 6, out, scratch), Error);  // fp query, coded KV
}

}  // namespace
}  // namespace a48::cpu
