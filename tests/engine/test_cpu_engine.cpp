// The fast CPU engine against the reference engine on small random models: every quantized scheme
// and attention setting, prefill and decode, batches of sequences; plus the engine contract
// (batching = one at a time, thread counts agree bit for bit, errors leave states untouched).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "cpu/cpu_engine.h"
#include "engine/make_engine.h"
#include "model/reference_engine.h"

namespace a48 {
namespace {

// d = 96, H = 6, H_kv = 2 (hd = 16), F = 200, V = 101: nothing a multiple of the 256-code strip.
ModelConfig small_config(ActivationScheme scheme, AttentionBits bits) {
  ModelConfig c;
  c.hidden_size = 96;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 6;
  c.num_key_value_heads = 2;
  c.intermediate_size = 200;
  c.vocab_size = 101;
  c.max_position_embeddings = 48;
  c.activation_scheme = scheme;
  c.attention_bits = bits;
  return c;
}

std::vector<int32_t> random_tokens(std::size_t n, uint32_t seed, int32_t vocab) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, vocab - 1);
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = dist(rng);
  return t;
}

std::vector<float> run(Engine& engine, SequenceState& seq, std::span<const int32_t> tokens,
                       bool all_logits) {
  const EngineStep step{&seq, tokens, all_logits};
  return engine.forward(std::span(&step, 1));
}

float max_abs(std::span<const float> v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

// Projections are bit-exact given equal codes; the attention and head sum in fp32 in another order,
// so a quantizer code can flip at a rounding boundary and the flip travels on. On these random
// models (logits of ~0.6, near-uniform, where a flipped 4-bit code moves a logit by a few percent)
// the worst element measured 10% of the largest logit with 4-bit attention and 2% otherwise, the
// mean 0.3% or less. We require: mean |difference| <= 1% of the largest logit, worst <= 15%, and
// the argmax to agree on 90% of rows. A wrong op gives differences of the logits' own size. The
// trained model's perplexity (below) is the tight check.
constexpr float kMeanTolerance = 0.01f, kWorstTolerance = 0.15f;

TEST(CpuEngine, MatchesTheReferenceForEveryQuantizedSchemeAndAttentionSetting) {
  for (const ActivationScheme scheme :
       {ActivationScheme::b158, ActivationScheme::a48, ActivationScheme::a48_fp4,
        ActivationScheme::int4_all, ActivationScheme::fp4_all}) {
    for (const AttentionBits bits : {AttentionBits::fp16, AttentionBits::int8,
                                     AttentionBits::int4, AttentionBits::q4_kv3}) {
      auto model = std::make_shared<const Model>(make_random_model(small_config(scheme, bits), 5));
      ReferenceEngine reference(model);
      cpu::CpuEngine fast(*model, {2, HeadPrecision::f32});
      const std::vector<int32_t> tokens = random_tokens(20, 9, 101);
      auto ref_seq = reference.new_sequence(48);
      auto cpu_seq = fast.new_sequence(48);
      // A prefill of 13 tokens, then decode one token at a time.
      std::vector<float> expected = run(reference, *ref_seq, std::span(tokens).first(13), true);
      std::vector<float> got = run(fast, *cpu_seq, std::span(tokens).first(13), true);
      for (std::size_t t = 13; t < tokens.size(); ++t) {
        const std::vector<float> e = run(reference, *ref_seq, std::span(tokens).subspan(t, 1), false);
        const std::vector<float> g = run(fast, *cpu_seq, std::span(tokens).subspan(t, 1), false);
        expected.insert(expected.end(), e.begin(), e.end());
        got.insert(got.end(), g.begin(), g.end());
      }
      ASSERT_EQ(got.size(), expected.size());
      const float scale = max_abs(expected);
      float worst = 0;
      double sum = 0;
      int argmax_agree = 0, rows = 0;
      for (std::size_t r = 0; r * 101 < got.size(); ++r, ++rows) {
        const auto e = std::span(expected).subspan(r * 101, 101);
        const auto g = std::span(got).subspan(r * 101, 101);
        for (std::size_t i = 0; i < 101; ++i) {
          worst = std::max(worst, std::fabs(g[i] - e[i]));
          sum += std::fabs(g[i] - e[i]);
        }
        argmax_agree += std::max_element(e.begin(), e.end()) - e.begin() ==
                        std::max_element(g.begin(), g.end()) - g.begin();
      }
      const std::string what =
          std::string(to_string(scheme)) + " " + std::string(to_string(bits));
      const double mean = sum / static_cast<double>(got.size());
      EXPECT_LE(mean, kMeanTolerance * scale) << what << " mean " << mean << " of " << scale;
      EXPECT_LE(worst, kWorstTolerance * scale) << what << " worst " << worst << " of " << scale;
      EXPECT_GE(argmax_agree * 10, rows * 9) << what;
      EXPECT_EQ(cpu_seq->size(), 20);
    }
  }
}

TEST(CpuEngine, BatchedSequencesEqualEachAloneAndThreadCountsAgreeBitForBit) {
  auto model = std::make_shared<const Model>(
      make_random_model(small_config(ActivationScheme::a48, AttentionBits::q4_kv3), 2));
  cpu::CpuEngine one(*model, {1, HeadPrecision::f16});
  cpu::CpuEngine two(*model, {2, HeadPrecision::f16});
  const std::vector<int32_t> a = random_tokens(7, 1, 101), b = random_tokens(3, 2, 101),
                             c = random_tokens(11, 3, 101);
  // Alone, on one thread.
  std::vector<float> alone;
  for (const auto* tokens : {&a, &b, &c}) {
    auto seq = one.new_sequence(32);
    const std::vector<float> l = run(one, *seq, *tokens, true);
    alone.insert(alone.end(), l.begin(), l.end());
  }
  // Together, on two threads.
  auto sa = two.new_sequence(32), sb = two.new_sequence(32), sc = two.new_sequence(32);
  const EngineStep steps[] = {{sa.get(), a, true}, {sb.get(), b, true}, {sc.get(), c, true}};
  const std::vector<float> together = two.forward(steps);
  ASSERT_EQ(together.size(), alone.size());
  for (std::size_t i = 0; i < alone.size(); ++i) ASSERT_EQ(together[i], alone[i]) << i;
}

TEST(CpuEngine, ErrorsLeaveEverySequenceAsItWas) {
  auto model = std::make_shared<const Model>(
      make_random_model(small_config(ActivationScheme::b158, AttentionBits::int8), 6));
  cpu::CpuEngine engine(*model, {1, HeadPrecision::f32});
  ReferenceEngine other(model);
  auto seq = engine.new_sequence(8), seq2 = engine.new_sequence(8);
  const std::vector<int32_t> ok = {1, 2, 3}, bad = {4, 101}, long_one = {1, 2, 3, 4, 5, 6};
  run(engine, *seq, ok, false);
  EXPECT_THROW(run(engine, *seq, bad, false), Error);        // id outside the vocabulary
  EXPECT_THROW(run(engine, *seq, long_one, false), Error);   // past the capacity of 8
  const EngineStep twice[] = {{seq.get(), ok, false}, {seq.get(), ok, false}};
  EXPECT_THROW(engine.forward(twice), Error);                // one sequence twice
  const EngineStep mixed[] = {{seq2.get(), ok, false}, {seq.get(), bad, false}};
  EXPECT_THROW(engine.forward(mixed), Error);                // the good step is not committed
  auto foreign = other.new_sequence(8);
  EXPECT_THROW(run(engine, *foreign, ok, false), Error);     // a state of another engine
  EXPECT_THROW(engine.new_sequence(49), Error);              // beyond max_position_embeddings
  EXPECT_EQ(seq->size(), 3);
  EXPECT_EQ(seq2->size(), 0);
  EXPECT_EQ(run(engine, *seq, ok, false).size(), 101u);       // and it still works
  EXPECT_EQ(seq->size(), 6);
}

TEST(MakeEngine, BuildsEachBackendOrSaysWhyNot) {
  auto fp = std::make_shared<const Model>(
      make_random_model(small_config(ActivationScheme::fp, AttentionBits::fp16), 1));
  EXPECT_THROW(make_engine(fp, {EngineBackend::cpu}), Error);  // no ternary kernels for fp
  EXPECT_NE(make_engine(fp, {EngineBackend::reference}), nullptr);
  EXPECT_THROW(make_engine(fp, {EngineBackend::reference, 0, HeadPrecision::int8}), Error);
  auto a48 = std::make_shared<const Model>(
      make_random_model(small_config(ActivationScheme::a48, AttentionBits::fp16), 1));
  const auto engine = make_engine(a48, {EngineBackend::cpu, 1, HeadPrecision::int8});
  EXPECT_NE(engine->describe().find("head int8"), std::string::npos) << engine->describe();
  EXPECT_EQ(parse_engine_backend("cuda"), EngineBackend::cuda);
  EXPECT_THROW(parse_engine_backend("tpu"), Error);
  EXPECT_THROW(parse_head_precision("q4"), Error);
}

}  // namespace
}  // namespace a48
