// Model weights: eq. 2's ternary quantization of latent weights, parameter counts (Table 2) and the
// seeded random models used by tests and benchmarks.
#include "model/weights.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <random>
#include <span>
#include <thread>

#include "core/error.h"
#include "quant/ternary_absmean.h"

namespace a48 {

void LinearWeights::quantize_from_latent() {
  check(n_out > 0 && n_in > 0, "linear weights: shape [{}, {}] must be positive", n_out, n_in);
  check(static_cast<int64_t>(latent.size()) == n_out * n_in,
        "linear weights: latent holds {} values, expected [{}, {}]", latent.size(), n_out, n_in);
  ternary.assign(latent.size(), 0);
  scale = quantize_ternary_absmean(latent, ternary);  // one alpha for the whole matrix
}

namespace {

// Normal and uniform draws from mt19937_64 with our own transforms: std::normal_distribution's
// algorithm is implementation-defined, and a random model must be the same on every platform.
class PortableRandom {
 public:
  explicit PortableRandom(uint64_t seed) : engine_(seed) {}

  uint64_t next() { return engine_(); }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  // Box-Muller; both values of a pair are used, in order.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - uniform();  // (0, 1]: log(u1) is finite
    const double u2 = uniform();
    const auto [first, second] = box_muller(u1, u2);
    spare_ = second;
    has_spare_ = true;
    return first;
  }

  // out[i] = float(stddev * normal()) for every i in order: the same values as that loop, with the
  // draws made in order here and the transcendental half of Box-Muller (most of the time: billions
  // of values for the large benchmark shapes) spread over the hardware threads.
  void fill_normal(std::span<float> out, double stddev) {
    std::size_t i = 0;
    if (has_spare_ && !out.empty()) out[i++] = static_cast<float>(stddev * normal());
    constexpr std::size_t kChunkPairs = std::size_t{1} << 20;
    std::vector<double> u;  // u1, u2 of each pair of the chunk, drawn in order
    while (out.size() - i >= 2) {
      const std::size_t pairs = std::min(kChunkPairs, (out.size() - i) / 2);
      u.resize(2 * pairs);
      for (std::size_t p = 0; p < pairs; ++p) {
        u[2 * p] = 1.0 - uniform();
        u[2 * p + 1] = uniform();
      }
      float* chunk = out.data() + i;
      parallel_ranges(pairs, [&](std::size_t begin, std::size_t end) {
        for (std::size_t p = begin; p < end; ++p) {
          const auto [first, second] = box_muller(u[2 * p], u[2 * p + 1]);
          chunk[2 * p] = static_cast<float>(stddev * first);
          chunk[2 * p + 1] = static_cast<float>(stddev * second);
        }
      });
      i += 2 * pairs;
    }
    if (i < out.size()) out[i] = static_cast<float>(stddev * normal());  // keeps the spare
  }

 private:
  static std::array<double, 2> box_muller(double u1, double u2) {
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    return {radius * std::cos(angle), radius * std::sin(angle)};
  }

  // fn(begin, end) over [0, n) split among the hardware threads (one thread for small n).
  template <class Fn>
  static void parallel_ranges(std::size_t n, const Fn& fn) {
    const std::size_t threads = std::clamp<std::size_t>(
        std::min<std::size_t>(std::thread::hardware_concurrency(), n / 16384), 1, 64);
    if (threads == 1) {
      fn(0, n);
      return;
    }
    std::vector<std::jthread> pool;
    const std::size_t per = (n + threads - 1) / threads;
    for (std::size_t t = 1; t < threads; ++t) {
      pool.emplace_back([&fn, t, per, n] { fn(std::min(n, t * per), std::min(n, (t + 1) * per)); });
    }
    fn(0, std::min(n, per));
  }

  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

std::vector<float> normal_vector(PortableRandom& random, int64_t n, double stddev) {
  std::vector<float> v(static_cast<std::size_t>(n));
  random.fill_normal(v, stddev);
  return v;
}

// RMSNorm weights near 1, so that a test notices a norm weight applied to the wrong element.
std::vector<float> norm_vector(PortableRandom& random, int64_t n) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = static_cast<float>(1.0 + 0.1 * (2.0 * random.uniform() - 1.0));
  return v;
}

LinearWeights random_linear(PortableRandom& random, int64_t n_out, int64_t n_in, double stddev) {
  LinearWeights w;
  w.n_out = n_out;
  w.n_in = n_in;
  w.latent = normal_vector(random, n_out * n_in, stddev);
  w.quantize_from_latent();
  return w;
}

}  // namespace

// Every tensor, embeddings and LM head included, is drawn from N(0, 0.02): HF's default
// initializer_range, which LLaMA/BitNet configs use. With embeddings this small the layers' outputs
// dominate the residual stream, so the logits depend on attention and the FFN (with N(0, 1)
// embeddings a random model mostly predicts its input token back). The draw order below (embedding,
// then each layer in struct order, final norm, LM head) is part of the definition: changing it
// changes every seeded model.
Model make_random_model(const ModelConfig& config, uint64_t seed) {
  config.validate();
  constexpr double kStddev = 0.02;
  const int64_t d = config.hidden_size, f = config.intermediate_size;
  const int64_t q = config.q_size(), kv = config.kv_size();
  PortableRandom random(seed);
  Model model;
  model.config = config;
  ModelWeights& w = model.weights;
  w.embed_tokens = normal_vector(random, config.vocab_size * d, kStddev);
  w.layers.resize(static_cast<std::size_t>(config.num_hidden_layers));
  for (LayerWeights& layer : w.layers) {
    layer.attn_norm = norm_vector(random, d);
    layer.q_proj = random_linear(random, q, d, kStddev);
    layer.k_proj = random_linear(random, kv, d, kStddev);
    layer.v_proj = random_linear(random, kv, d, kStddev);
    layer.attn_sub_norm = norm_vector(random, q);
    layer.o_proj = random_linear(random, d, q, kStddev);
    layer.ffn_norm = norm_vector(random, d);
    layer.gate_proj = random_linear(random, f, d, kStddev);
    layer.up_proj = random_linear(random, f, d, kStddev);
    layer.ffn_sub_norm = norm_vector(random, f);
    layer.down_proj = random_linear(random, d, f, kStddev);
  }
  w.final_norm = norm_vector(random, d);
  if (!config.tie_word_embeddings)
    w.lm_head = normal_vector(random, config.vocab_size * d, kStddev);
  return model;
}

namespace {

LinearWeights random_ternary_linear(PortableRandom& random, int64_t n_out, int64_t n_in) {
  LinearWeights w;
  w.n_out = n_out;
  w.n_in = n_in;
  w.ternary.resize(static_cast<std::size_t>(n_out * n_in));
  // Eight codes per 64-bit draw: byte % 3 - 1 (256 = 3 * 85 + 1: a bias of 1/256, harmless here),
  // through a table (billions of codes for the 7B shape).
  static constexpr std::array<int8_t, 256> kCode = [] {
    std::array<int8_t, 256> code{};
    for (int byte = 0; byte < 256; ++byte)
      code[static_cast<std::size_t>(byte)] = static_cast<int8_t>(byte % 3 - 1);
    return code;
  }();
  const std::size_t n = w.ternary.size();
  int8_t* out = w.ternary.data();
  for (std::size_t i = 0; i < n; i += 8) {
    const uint64_t bits = random.next();
    const std::size_t m = std::min<std::size_t>(8, n - i);
    for (std::size_t k = 0; k < m; ++k) out[i + k] = kCode[(bits >> (8 * k)) & 0xFF];
  }
  w.scale = 0.016f;
  return w;
}

}  // namespace

Model make_random_ternary_model(const ModelConfig& config, uint64_t seed) {
  config.validate();
  const int64_t d = config.hidden_size, f = config.intermediate_size;
  const int64_t q = config.q_size(), kv = config.kv_size();
  PortableRandom random(seed);
  Model model;
  model.config = config;
  ModelWeights& w = model.weights;
  w.embed_tokens = normal_vector(random, config.vocab_size * d, 0.02);
  w.layers.resize(static_cast<std::size_t>(config.num_hidden_layers));
  for (LayerWeights& layer : w.layers) {
    layer.attn_norm = norm_vector(random, d);
    layer.q_proj = random_ternary_linear(random, q, d);
    layer.k_proj = random_ternary_linear(random, kv, d);
    layer.v_proj = random_ternary_linear(random, kv, d);
    layer.attn_sub_norm = norm_vector(random, q);
    layer.o_proj = random_ternary_linear(random, d, q);
    layer.ffn_norm = norm_vector(random, d);
    layer.gate_proj = random_ternary_linear(random, f, d);
    layer.up_proj = random_ternary_linear(random, f, d);
    layer.ffn_sub_norm = norm_vector(random, f);
    layer.down_proj = random_ternary_linear(random, d, f);
  }
  w.final_norm = norm_vector(random, d);
  if (!config.tie_word_embeddings) w.lm_head = normal_vector(random, config.vocab_size * d, 0.02);
  return model;
}

ParameterCounts count_parameters(const ModelConfig& config) {
  const int64_t d = config.hidden_size, f = config.intermediate_size, v = config.vocab_size;
  const int64_t q = config.q_size(), kv = config.kv_size();
  const int64_t per_layer_projections = d * (q + 2 * kv)  // q, k, v
                                        + q * d           // o
                                        + 2 * d * f       // gate, up
                                        + f * d;          // down
  const int64_t per_layer_norms =
      d + q + d + f;  // attn_norm, attn_sub_norm, ffn_norm, ffn_sub_norm
  ParameterCounts counts;
  counts.embedding = v * d * (config.tie_word_embeddings ? 1 : 2);
  counts.projections = config.num_hidden_layers * per_layer_projections;
  counts.non_embedding = counts.projections + config.num_hidden_layers * per_layer_norms + d;
  return counts;
}

}  // namespace a48
