#include <gtest/gtest.h>

#include <cmath>

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

}  // namespace
}  // namespace a48
