#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <string>

#include "core/error.h"
#include "model/forward.h"
#include "quant/topk_sparsify.h"

namespace a48 {
namespace {

// The tiny model of the brief: d = 64, H = 4, H_kv = 2 (hd = 16), F = 160, L = 2, V = 97.
ModelConfig tiny_config(ActivationScheme scheme, AttentionBits bits, int64_t layers = 2) {
  ModelConfig c;
  c.hidden_size = 64;
  c.num_hidden_layers = layers;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.intermediate_size = 160;
  c.vocab_size = 97;
  c.max_position_embeddings = 64;
  c.activation_scheme = scheme;
  c.attention_bits = bits;
  return c;
}

std::vector<int32_t> random_tokens(std::size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, 96);
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = dist(rng);
  return t;
}

std::vector<float> run(const Model& model, KvCache& cache, std::span<const int32_t> tokens,
                       bool all_logits, const ForwardOptions& options = {}) {
  const SequenceInput seq{&cache, tokens, all_logits};
  return forward(model, std::span(&seq, 1), options);
}

ForwardOptions with_stats(SparsityStats* stats) {
  ForwardOptions options;
  options.sparsity = stats;
  return options;
}

constexpr ActivationScheme kSchemes[] = {ActivationScheme::fp,       ActivationScheme::b158,
                                         ActivationScheme::a48,      ActivationScheme::a48_fp4,
                                         ActivationScheme::int4_all, ActivationScheme::fp4_all};
constexpr AttentionBits kAttentionBits[] = {AttentionBits::fp16, AttentionBits::int8,
                                            AttentionBits::int4, AttentionBits::q4_kv3};

// (a) One token at a time (decode) gives the same logits, bit for bit, as one call (prefill).
TEST(Forward, DecodeEqualsPrefillExactly) {
  for (ActivationScheme scheme : {ActivationScheme::fp, ActivationScheme::a48}) {
    for (AttentionBits bits : {AttentionBits::fp16, AttentionBits::q4_kv3}) {
      const Model model = make_random_model(tiny_config(scheme, bits), 1);
      const std::vector<int32_t> tokens = random_tokens(9, 2);
      KvCache prefill_cache(model.config, 16), decode_cache(model.config, 16);
      const std::vector<float> prefill = run(model, prefill_cache, tokens, true);
      ASSERT_EQ(prefill.size(), 9u * 97u);
      std::vector<float> decode;
      for (std::size_t t = 0; t < tokens.size(); ++t) {
        const std::vector<float> row =
            run(model, decode_cache, std::span(tokens).subspan(t, 1), false);
        decode.insert(decode.end(), row.begin(), row.end());
      }
      EXPECT_EQ(prefill, decode) << to_string(scheme) << " " << to_string(bits);
      EXPECT_EQ(prefill_cache.size(), 9);
      EXPECT_EQ(decode_cache.size(), 9);
      // Only the last token's row when all_logits is false.
      KvCache last_cache(model.config, 16);
      const std::vector<float> last = run(model, last_cache, tokens, false);
      EXPECT_EQ(last, std::vector<float>(prefill.end() - 97, prefill.end()));
    }
  }
}

// (b) A batch of two sequences at different positions equals running them one by one.
TEST(Forward, BatchEqualsSeparateRuns) {
  const Model model = make_random_model(tiny_config(ActivationScheme::a48, AttentionBits::int4), 3);
  const std::vector<int32_t> prefix = random_tokens(3, 4), a = random_tokens(4, 5),
                             b = random_tokens(6, 6);
  KvCache batch_a(model.config, 12), batch_b(model.config, 12), solo_a(model.config, 12),
      solo_b(model.config, 12);
  run(model, batch_a, prefix, false);  // sequence a continues at position 3, b starts at 0
  run(model, solo_a, prefix, false);
  const SequenceInput batch[] = {{&batch_a, a, true}, {&batch_b, b, false}};
  const std::vector<float> together = forward(model, batch);
  std::vector<float> separate = run(model, solo_a, a, true);
  const std::vector<float> b_logits = run(model, solo_b, b, false);
  separate.insert(separate.end(), b_logits.begin(), b_logits.end());
  ASSERT_EQ(together.size(), (4u + 1u) * 97u);
  EXPECT_EQ(together, separate);
  EXPECT_EQ(batch_a.size(), 7);
  EXPECT_EQ(batch_b.size(), 6);
  // The caches hold the same state: the next token agrees too.
  const std::vector<int32_t> next = {42};
  EXPECT_EQ(run(model, batch_a, next, false), run(model, solo_a, next, false));
  EXPECT_EQ(run(model, batch_b, next, false), run(model, solo_b, next, false));
}

// ---- (c) an independent double-precision forward of the `fp` scheme ----------------------------

using Vec = std::vector<double>;

Vec rmsnorm_d(const Vec& x, const std::vector<float>& w, double eps) {
  double ms = 0;
  for (double v : x) ms += v * v;
  const double r = 1.0 / std::sqrt(ms / static_cast<double>(x.size()) + eps);
  Vec y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] * r * w[i];
  return y;
}

Vec matvec_d(const LinearWeights& w, const Vec& x) {  // latent W [n_out, n_in] times x
  Vec y(static_cast<std::size_t>(w.n_out), 0.0);
  for (int64_t o = 0; o < w.n_out; ++o) {
    for (int64_t i = 0; i < w.n_in; ++i)
      y[o] += static_cast<double>(w.latent[o * w.n_in + i]) * x[i];
  }
  return y;
}

void rope_d(Vec& x, int64_t hd, int64_t position, double theta) {
  for (std::size_t h = 0; h < x.size() / hd; ++h) {
    for (int64_t i = 0; i < hd / 2; ++i) {
      const double angle = position * std::pow(theta, -2.0 * i / hd);
      double& a = x[h * hd + i];
      double& b = x[h * hd + i + hd / 2];
      const double a0 = a, b0 = b;
      a = a0 * std::cos(angle) - b0 * std::sin(angle);
      b = b0 * std::cos(angle) + a0 * std::sin(angle);
    }
  }
}

// Logits of every token, [n, V], straight from the LLaMA/BitNet equations with latent weights.
Vec reference_logits(const Model& m, const std::vector<int32_t>& tokens) {
  const ModelConfig& c = m.config;
  const int64_t d = c.hidden_size, hd = c.head_dim(), h_q = c.num_attention_heads;
  const int64_t group = h_q / c.num_key_value_heads, v_size = c.vocab_size;
  std::vector<std::vector<Vec>> keys(c.num_hidden_layers), values(c.num_hidden_layers);
  Vec logits;
  for (std::size_t p = 0; p < tokens.size(); ++p) {
    Vec x(m.weights.embed_tokens.begin() + tokens[p] * d,
          m.weights.embed_tokens.begin() + (tokens[p] + 1) * d);
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
      const LayerWeights& w = m.weights.layers[l];
      const Vec n1 = rmsnorm_d(x, w.attn_norm, c.rms_norm_eps);
      Vec q = matvec_d(w.q_proj, n1), k = matvec_d(w.k_proj, n1);
      rope_d(q, hd, static_cast<int64_t>(p), c.rope_theta);
      rope_d(k, hd, static_cast<int64_t>(p), c.rope_theta);
      keys[l].push_back(k);
      values[l].push_back(matvec_d(w.v_proj, n1));
      Vec attn(q.size(), 0.0);
      for (int64_t h = 0; h < h_q; ++h) {
        const int64_t g = h / group;
        Vec s(p + 1);
        double mx = -1e300, sum = 0;
        for (std::size_t j = 0; j <= p; ++j) {
          for (int64_t i = 0; i < hd; ++i) s[j] += q[h * hd + i] * keys[l][j][g * hd + i];
          s[j] /= std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, s[j]);
        }
        for (double& v : s) sum += (v = std::exp(v - mx));
        for (std::size_t j = 0; j <= p; ++j) {
          for (int64_t i = 0; i < hd; ++i)
            attn[h * hd + i] += s[j] / sum * values[l][j][g * hd + i];
        }
      }
      const Vec o = matvec_d(w.o_proj, rmsnorm_d(attn, w.attn_sub_norm, c.rms_norm_eps));
      for (int64_t i = 0; i < d; ++i) x[i] += o[i];
      const Vec n2 = rmsnorm_d(x, w.ffn_norm, c.rms_norm_eps);
      const Vec gate = matvec_d(w.gate_proj, n2), up = matvec_d(w.up_proj, n2);
      Vec glu(gate.size());
      for (std::size_t i = 0; i < glu.size(); ++i) {
        const double act = c.hidden_act == HiddenActivation::relu2
                               ? std::pow(std::max(gate[i], 0.0), 2)
                               : gate[i] / (1.0 + std::exp(-gate[i]));
        glu[i] = act * up[i];
      }
      const Vec down = matvec_d(w.down_proj, rmsnorm_d(glu, w.ffn_sub_norm, c.rms_norm_eps));
      for (int64_t i = 0; i < d; ++i) x[i] += down[i];
    }
    const Vec out = rmsnorm_d(x, m.weights.final_norm, c.rms_norm_eps);
    const std::vector<float>& head = m.weights.output_matrix();
    for (int64_t v = 0; v < v_size; ++v) {
      double z = 0;
      for (int64_t i = 0; i < d; ++i) z += static_cast<double>(head[v * d + i]) * out[i];
      logits.push_back(z);
    }
  }
  return logits;
}

TEST(Forward, FullPrecisionMatchesIndependentDoubleImplementation) {
  for (HiddenActivation act : {HiddenActivation::relu2, HiddenActivation::silu}) {
    ModelConfig c = tiny_config(ActivationScheme::fp, AttentionBits::fp16, 1);
    c.hidden_act = act;
    c.tie_word_embeddings = act == HiddenActivation::relu2;  // cover both output matrices
    const Model model = make_random_model(c, 11);
    const std::vector<int32_t> tokens = random_tokens(7, 12);
    KvCache cache(c, 8);
    const std::vector<float> logits = run(model, cache, tokens, true);
    const Vec expected = reference_logits(model, tokens);
    ASSERT_EQ(logits.size(), expected.size());
    double max_abs = 0, max_err = 0;
    for (std::size_t i = 0; i < logits.size(); ++i) {
      max_abs = std::max(max_abs, std::fabs(expected[i]));
      max_err = std::max(max_err, std::fabs(logits[i] - expected[i]));
    }
    // Relative to the largest logit: an element-wise relative bound is meaningless near 0. fp32
    // rounding gives ~2e-7 here; an op-order or convention bug (RoPE pairing, eps) gives >1e-3.
    EXPECT_GT(max_abs, 0.01);
    EXPECT_LE(max_err, 1e-5 * max_abs) << "max error " << max_err << " of " << max_abs;
  }
}

// (d) Every scheme and attention width runs and gives finite logits that depend on the scheme.
TEST(Forward, EverySchemeRunsWithFiniteLogits) {
  const std::vector<int32_t> tokens = random_tokens(5, 13);
  std::map<std::string, std::vector<float>> by_scheme;
  for (ActivationScheme scheme : kSchemes) {
    for (AttentionBits bits : kAttentionBits) {
      const Model model = make_random_model(tiny_config(scheme, bits), 14);
      KvCache cache(model.config, 5);
      const std::vector<float> logits = run(model, cache, tokens, true);
      ASSERT_EQ(logits.size(), 5u * 97u);
      for (float v : logits) ASSERT_TRUE(std::isfinite(v)) << to_string(scheme) << to_string(bits);
      by_scheme[std::string(to_string(scheme)) + "/" + std::string(to_string(bits))] = logits;
    }
  }
  EXPECT_NE(by_scheme["fp/16"], by_scheme["b1.58/16"]);
  EXPECT_NE(by_scheme["b1.58/16"], by_scheme["a4.8/16"]);
  EXPECT_NE(by_scheme["a4.8/16"], by_scheme["a4.8/4q3kv"]);
  EXPECT_NE(by_scheme["a4.8/4"], by_scheme["a4.8/4q3kv"]);
}

TEST(Forward, TopKLeavesExactlyKNonZeroInputsToOProj) {
  ModelConfig c = tiny_config(ActivationScheme::a48, AttentionBits::fp16);
  c.topk_fraction = 0.25f;
  const Model model = make_random_model(c, 15);
  const std::vector<int32_t> tokens = random_tokens(6, 16);
  KvCache cache(c, 6);
  SparsityStats stats;
  run(model, cache, tokens, false, with_stats(&stats));
  const int64_t k = topk_keep_count(c.q_size(), 0.25f);  // ceil(0.25 * 64) = 16
  ASSERT_EQ(k, 16);
  // out.active = sum over tokens and layers of nnz(quantized input) * d
  EXPECT_EQ(stats.out.active, static_cast<double>(k * c.hidden_size * 2 * 6));
  EXPECT_DOUBLE_EQ(stats.out.sparsity(), 0.75);
}

TEST(Forward, NamedIntermediatesAreWiredAsFigureOne) {
  const Model model =
      make_random_model(tiny_config(ActivationScheme::b158, AttentionBits::fp16), 17);
  const std::vector<int32_t> tokens = random_tokens(2, 18);
  std::vector<std::pair<std::string, int64_t>> order;
  std::map<std::pair<std::string, int64_t>, std::vector<float>> last;  // of the last token
  ForwardOptions options;
  options.on_intermediate = [&](std::string_view name, int64_t layer, std::span<const float> v) {
    order.emplace_back(std::string(name), layer);
    last[{std::string(name), layer}] = std::vector<float>(v.begin(), v.end());
  };
  KvCache cache(model.config, 2);
  run(model, cache, tokens, false, options);
  auto at = [&](const std::string& name, int64_t layer) -> const std::vector<float>& {
    return last.at({name, layer});
  };
  const std::vector<std::string> per_layer = {
      "attn_norm", "q",    "k",  "v",   "attn_out",     "attn_sub_norm", "o_proj",
      "ffn_norm",  "gate", "up", "glu", "ffn_sub_norm", "down",          "l_out"};
  std::vector<std::pair<std::string, int64_t>> expected = {{"embed", -1}};
  for (int64_t l = 0; l < 2; ++l) {
    for (const std::string& name : per_layer) expected.emplace_back(name, l);
  }
  expected.emplace_back("final_norm", -1);
  ASSERT_EQ(order.size(), 2 * expected.size());
  EXPECT_EQ(std::vector(order.begin(), order.begin() + expected.size()), expected);

  EXPECT_EQ(at("q", 0).size(), 64u);
  EXPECT_EQ(at("k", 1).size(), 32u);
  EXPECT_EQ(at("gate", 0).size(), 160u);
  // Residual wiring: l_out = (x + o_proj) + down, in that order.
  const auto& x = at("l_out", 0);
  const auto& h = at("l_out", 1);
  for (std::size_t i = 0; i < 64; ++i) {
    EXPECT_EQ(h[i], (x[i] + at("o_proj", 1)[i]) + at("down", 1)[i]) << i;
  }
  // Up is computed only where ReLU^2(gate) != 0, and glu = ReLU^2(gate) * up.
  const auto& gate = at("gate", 1);
  const auto& up = at("up", 1);
  const auto& glu = at("glu", 1);
  int skipped = 0;
  for (std::size_t i = 0; i < gate.size(); ++i) {
    const float act = gate[i] > 0 ? gate[i] * gate[i] : 0.0f;
    if (act == 0.0f) {
      EXPECT_EQ(up[i], 0.0f);
      ++skipped;
    }
    EXPECT_EQ(glu[i], act * up[i]);
  }
  EXPECT_GT(skipped, 20);
}

// (e) Sparsity: `fp` skips only what ReLU^2 zeroes; a4.8's o_proj input is exactly half zero.
TEST(Forward, SparsityStatsPerScheme) {
  const std::vector<int32_t> tokens = random_tokens(8, 19);
  SparsityStats fp;
  {
    const Model model =
        make_random_model(tiny_config(ActivationScheme::fp, AttentionBits::fp16), 20);
    KvCache cache(model.config, 8);
    run(model, cache, std::span(tokens).first(5), false, with_stats(&fp));
    run(model, cache, std::span(tokens).subspan(5), false, with_stats(&fp));  // accumulates
  }
  EXPECT_EQ(fp.n_tokens, 8);
  EXPECT_EQ(fp.qkv.total, 8.0 * 2 * 64 * 128);
  EXPECT_EQ(fp.qkv.sparsity(), 0.0);
  EXPECT_EQ(fp.out.sparsity(), 0.0);
  EXPECT_EQ(fp.gate.sparsity(), 0.0);
  EXPECT_GT(fp.up.sparsity(), 0.2);  // ReLU^2 zeroes the gates below 0: about half
  EXPECT_LT(fp.up.sparsity(), 0.8);
  EXPECT_DOUBLE_EQ(fp.down.sparsity(), fp.up.sparsity());  // glu is zero exactly where gates are

  const Model model =
      make_random_model(tiny_config(ActivationScheme::a48, AttentionBits::q4_kv3), 20);
  KvCache cache(model.config, 8);
  SparsityStats a48;
  run(model, cache, tokens, false, with_stats(&a48));
  EXPECT_EQ(a48.out.sparsity(), 0.5);  // topk_fraction 0.5 of 64 inputs, every token
  // INT4 absmean zeroes |x| < 0.5 step = 0.15 sigma for Gaussian input: ~12% (Table 2: 12.1).
  EXPECT_GT(a48.qkv.sparsity(), 0.04);
  EXPECT_LT(a48.qkv.sparsity(), 0.3);
  EXPECT_GE(a48.up.sparsity(), a48.gate.sparsity());
  EXPECT_GT(a48.down.sparsity(), 0.2);
  // overall = skipped / (non-embedding params * tokens)
  double skipped = 0;
  for (const auto* e : {&a48.qkv, &a48.out, &a48.up, &a48.gate, &a48.down})
    skipped += e->total - e->active;
  EXPECT_DOUBLE_EQ(
      a48.overall(model.config),
      skipped / (static_cast<double>(count_parameters(model.config).non_embedding) * 8));
  EXPECT_GT(a48.overall(model.config), fp.overall(model.config));
  EXPECT_EQ(SparsityStats{}.overall(model.config), 0.0);
}

// (f) Bad input throws and leaves the caches untouched.
TEST(Forward, RejectsBadInput) {
  const Model model =
      make_random_model(tiny_config(ActivationScheme::a48, AttentionBits::int4), 21);
  KvCache cache(model.config, 4), other(model.config, 4);
  const std::vector<int32_t> bad_low = {1, -1}, bad_high = {1, 97}, five = random_tokens(5, 22);
  const std::vector<int32_t> ok = {1, 2};
  EXPECT_THROW(run(model, cache, bad_low, false), Error);
  EXPECT_THROW(run(model, cache, bad_high, false), Error);
  EXPECT_THROW(run(model, cache, five, false), Error);  // 5 tokens, capacity 4
  EXPECT_THROW(run(model, cache, std::span<const int32_t>(), true), Error);
  {
    const SequenceInput no_cache[] = {{nullptr, ok, false}};
    EXPECT_THROW(forward(model, no_cache), Error);
    const SequenceInput shared[] = {{&cache, ok, false}, {&cache, ok, false}};
    EXPECT_THROW(forward(model, shared), Error);
    // A bad second sequence fails the whole batch before the first is run.
    const SequenceInput late_error[] = {{&other, ok, false}, {&cache, bad_high, false}};
    EXPECT_THROW(forward(model, late_error), Error);
  }
  EXPECT_EQ(cache.size(), 0);
  EXPECT_EQ(other.size(), 0);
  run(model, cache, ok, false);
  run(model, cache, ok, false);
  EXPECT_THROW(run(model, cache, std::span(ok).first(1), false), Error);  // full

  KvCache wrong_bits(tiny_config(ActivationScheme::a48, AttentionBits::q4_kv3), 4);
  EXPECT_THROW(run(model, wrong_bits, ok, false), Error);
  KvCache wrong_layers(tiny_config(ActivationScheme::a48, AttentionBits::int4, 1), 4);
  EXPECT_THROW(run(model, wrong_layers, ok, false), Error);

  // A non-finite activation (here a corrupt embedding row) fails the batch part-way, after the
  // first sequence ran: no cache is committed. The `fp` scheme, without quantizers, fails too.
  for (ActivationScheme scheme : {ActivationScheme::a48, ActivationScheme::fp}) {
    Model corrupt = make_random_model(tiny_config(scheme, AttentionBits::int4), 21);
    corrupt.weights.embed_tokens[5 * 64 + 3] = std::numeric_limits<float>::quiet_NaN();
    KvCache first(corrupt.config, 4), second(corrupt.config, 4);
    const std::vector<int32_t> uses_row_5 = {1, 5};
    const SequenceInput batch[] = {{&first, ok, false}, {&second, uses_row_5, false}};
    EXPECT_THROW(forward(corrupt, batch), Error) << to_string(scheme);
    EXPECT_EQ(first.size(), 0);
    EXPECT_EQ(second.size(), 0);
  }

  Model broken = model;
  broken.weights.layers[1].ffn_sub_norm.pop_back();
  KvCache fresh(model.config, 4);
  EXPECT_THROW(run(broken, fresh, ok, false), Error);
  broken = model;
  broken.weights.layers[0].up_proj.ternary.clear();
  EXPECT_THROW(run(broken, fresh, ok, false), Error);
}

}  // namespace
}  // namespace a48
