// Shared pieces of the training tests: the tiny model of the gradient checks, seeded batches, and
// central finite differences with Richardson extrapolation.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "model/weights.h"
#include "train/batch.h"

namespace a48::test {

// d = 32, L = 2, H = 2, H_kv = 1 (hd = 16), F = 40, V = 23.
inline ModelConfig tiny_train_config(ActivationScheme scheme = ActivationScheme::fp) {
  ModelConfig c;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.intermediate_size = 40;
  c.vocab_size = 23;
  c.max_position_embeddings = 16;
  c.activation_scheme = scheme;
  return c;
}

// A random model whose latent weights and embeddings are scaled up from N(0, 0.02) to
// N(0, 0.02 * gain): large enough that every block's output matters and gradients are well above
// fp32 noise, so finite differences can resolve them.
inline Model scaled_random_model(const ModelConfig& config, uint64_t seed, float gain) {
  Model m = make_random_model(config, seed);
  const auto scale = [gain](std::vector<float>& v) {
    for (float& x : v) x *= gain;
  };
  scale(m.weights.embed_tokens);
  scale(m.weights.lm_head);
  for (LayerWeights& l : m.weights.layers) {
    for (LinearWeights* w :
         {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj}) {
      scale(w->latent);
      w->quantize_from_latent();
    }
  }
  return m;
}

// n_seqs x seq_len random inputs and targets; every `unscored_every`-th target is -1.
inline Batch random_batch(int64_t n_seqs, int64_t seq_len, int64_t vocab, uint32_t seed,
                          int64_t unscored_every = 5) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(vocab - 1));
  Batch b;
  b.n_seqs = n_seqs;
  b.seq_len = seq_len;
  for (int64_t i = 0; i < n_seqs * seq_len; ++i) {
    b.inputs.push_back(token(rng));
    b.targets.push_back(i % unscored_every == unscored_every - 1 ? -1 : token(rng));
  }
  return b;
}

// d f / d x by central differences at steps h and 2h combined by Richardson extrapolation,
// (4 D(h) - D(2h)) / 3, which cancels the h^2 truncation term: h can then be large enough that
// fp32 rounding noise in f, divided by h, stays small.
inline double central_difference(const std::function<double(double)>& f, double x, double h) {
  const double d1 = (f(x + h) - f(x - h)) / (2 * h);
  const double d2 = (f(x + 2 * h) - f(x - 2 * h)) / (4 * h);
  return (4 * d1 - d2) / 3;
}

// |a - b| relative to the larger magnitude, with a floor below which both count as zero.
inline double relative_error(double a, double b, double floor) {
  return std::fabs(a - b) / std::max({std::fabs(a), std::fabs(b), floor});
}

}  // namespace a48::test
