#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>

#include "core/error.h"
#include "model/weights.h"

namespace a48 {
namespace {

ModelConfig tiny_config() {
  ModelConfig c;
  c.hidden_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.intermediate_size = 160;
  c.vocab_size = 97;
  c.max_position_embeddings = 64;
  return c;
}

TEST(Weights, QuantizeFromLatentByHand) {
  // W = [0.5, -1.5, 0.1, 0.9]: alpha = mean|W| = 3.0 / 4 = 0.75;
  // W / alpha = [0.667, -2, 0.133, 1.2] -> RoundClip to [-1, 1]: [1, -1, 0, 1].
  LinearWeights w;
  w.n_out = 2;
  w.n_in = 2;
  w.latent = {0.5f, -1.5f, 0.1f, 0.9f};
  w.quantize_from_latent();
  EXPECT_EQ(w.ternary, (std::vector<int8_t>{1, -1, 0, 1}));
  EXPECT_FLOAT_EQ(w.scale, 0.75f);
  w.latent.pop_back();
  EXPECT_THROW(w.quantize_from_latent(), Error);
}

TEST(Weights, CountParametersByHand) {
  // d = 64, q = 64, kv = 32, F = 160, V = 97, L = 2
  //   projections per layer: 64*(64+2*32) + 64*64 + 2*64*160 + 160*64
  //                          = 8192 + 4096 + 20480 + 10240 = 43008; two layers: 86016
  //   norms per layer: 64 + 64 + 64 + 160 = 352; plus the final norm 64
  //   non-embedding = 2 * (43008 + 352) + 64 = 86784; embedding = 97 * 64 = 6208 (tied)
  ModelConfig c = tiny_config();
  ParameterCounts counts = count_parameters(c);
  EXPECT_EQ(counts.projections, 86016);
  EXPECT_EQ(counts.non_embedding, 86784);
  EXPECT_EQ(counts.embedding, 6208);
  c.tie_word_embeddings = false;
  EXPECT_EQ(count_parameters(c).embedding, 2 * 6208);
}

TEST(Weights, RandomModelShapesAndDeterminism) {
  ModelConfig c = tiny_config();
  c.tie_word_embeddings = false;
  const Model a = make_random_model(c, 7), b = make_random_model(c, 7),
              other = make_random_model(c, 8);
  ASSERT_EQ(a.weights.layers.size(), 2u);
  EXPECT_EQ(a.weights.embed_tokens.size(), 97u * 64u);
  EXPECT_EQ(a.weights.lm_head.size(), 97u * 64u);
  EXPECT_EQ(&a.weights.output_matrix(), &a.weights.lm_head);
  const LayerWeights& l = a.weights.layers[1];
  EXPECT_EQ(l.k_proj.n_out, 32);
  EXPECT_EQ(l.k_proj.n_in, 64);
  EXPECT_EQ(l.down_proj.ternary.size(), 64u * 160u);
  EXPECT_EQ(l.ffn_sub_norm.size(), 160u);
  EXPECT_EQ(a.weights.layers[0].gate_proj.latent, b.weights.layers[0].gate_proj.latent);
  EXPECT_EQ(a.weights.embed_tokens, b.weights.embed_tokens);
  EXPECT_NE(a.weights.embed_tokens, other.weights.embed_tokens);
  EXPECT_NE(a.weights.layers[0].q_proj.latent, a.weights.layers[1].q_proj.latent);

  // Latent ~ N(0, 0.02): sample moments of the 10240 down_proj weights; norms within 1 +- 0.1.
  double sum = 0, sum_sq = 0;
  for (float v : l.down_proj.latent) {
    sum += v;
    sum_sq += static_cast<double>(v) * v;
  }
  const double n = static_cast<double>(l.down_proj.latent.size());
  EXPECT_NEAR(sum / n, 0.0, 0.001);
  EXPECT_NEAR(std::sqrt(sum_sq / n), 0.02, 0.001);
  // Eq. 2 for a normal: alpha = mean|W| = 0.02 * sqrt(2/pi) = 0.01596.
  EXPECT_NEAR(l.down_proj.scale, 0.01596, 0.0005);
  for (float v : l.attn_norm) {
    EXPECT_GE(v, 0.9f);
    EXPECT_LE(v, 1.1f);
  }
  EXPECT_NE(l.attn_norm[0], l.attn_norm[1]);

  c.tie_word_embeddings = true;
  EXPECT_TRUE(make_random_model(c, 7).weights.lm_head.empty());
  c.hidden_size = 0;
  EXPECT_THROW(make_random_model(c, 7), Error);
}

// make_random_ternary_model draw by draw, from its definition: one mt19937_64 stream; the embedding
// as N(0, 0.02) Box-Muller pairs (both values, in order), then per layer the attn_norm (1 +- 0.1
// uniforms) and the q/k codes (eight per 64-bit draw, byte % 3 - 1). The embedding here is large
// enough (2.2M values) for the threaded, chunked Box-Muller path of the generator.
TEST(Weights, RandomTernaryModelFollowsItsDefinition) {
  ModelConfig c = tiny_config();
  c.hidden_size = 264;  // 4 heads of 66
  c.intermediate_size = 200;
  c.vocab_size = 8209;
  const uint64_t seed = 11;
  const Model m = make_random_ternary_model(c, seed);

  std::mt19937_64 rng(seed);
  auto uniform = [&] { return static_cast<double>(rng() >> 11) * 0x1.0p-53; };
  const std::vector<float>& embed = m.weights.embed_tokens;
  ASSERT_EQ(embed.size(), 8209u * 264u);
  for (std::size_t i = 0; i < embed.size(); i += 2) {
    const double u1 = 1.0 - uniform();
    const double u2 = uniform();
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    ASSERT_EQ(embed[i], static_cast<float>(0.02 * (radius * std::cos(angle)))) << i;
    ASSERT_EQ(embed[i + 1], static_cast<float>(0.02 * (radius * std::sin(angle)))) << i;
  }
  const LayerWeights& layer = m.weights.layers[0];
  for (float v : layer.attn_norm) {
    ASSERT_EQ(v, static_cast<float>(1.0 + 0.1 * (2.0 * uniform() - 1.0)));
  }
  for (const LinearWeights* w : {&layer.q_proj, &layer.k_proj}) {
    ASSERT_EQ(w->ternary.size(), static_cast<std::size_t>(w->n_out * w->n_in));
    uint64_t bits = 0;
    for (std::size_t i = 0; i < w->ternary.size(); ++i) {
      if (i % 8 == 0) bits = rng();
      ASSERT_EQ(w->ternary[i], static_cast<int>((bits >> (8 * (i % 8))) & 0xFF) % 3 - 1) << i;
    }
    EXPECT_TRUE(w->latent.empty());  // codes only: ~1 byte per weight
    EXPECT_EQ(w->scale, 0.016f);
  }
}

}  // namespace
}  // namespace a48
