// The whole CUDA trainer against the CPU definition of training (loss_and_gradient_cpu) on a
// tiny model, for each scheme; plus accumulation, determinism, evaluation and its sparsity
// counts, the optimizer entry points and the error paths.
//
// Tolerances. The forward projections are exact (integer codes on TF32) and the rest of the
// forward is fp32 against the reference's double, so the quantizers see the same inputs up to
// ~1e-7 and make the same codes (a code flip would need an input within ~1e-7 of a rounding
// edge). The LM head, every backward product and `fp`'s projections run in TF32: each input
// keeps 10 explicit mantissa bits (relative error <= 2^-10 ~ 1e-3 each), and a gradient passes
// through a handful of such products, so per-tensor errors of 1e-3 to a few 1e-3 are expected
// (measured on an H100: whole gradient 0.7e-3 to 1.7e-3, worst tensor 2e-3). The bounds:
// 1e-2 on ||g_gpu - g_cpu|| / ||g_cpu|| per tensor, 5e-3 on the whole gradient, and 1e-4 on
// the loss (TF32 logits: ~1e-3 relative per logit, averaged over 40 targets; measured <= 3e-5).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>

#include "cuda/train/trainer.h"
#include "cuda_test_util.h"
#include "model/weights.h"
#include "ref/glu.h"
#include "train/adamw.h"
#include "train/cpu_reference_grad.h"
#include "train/parameter_layout.h"
#include "train/train_forward.h"
#include "train/train_test_util.h"

namespace a48 {
namespace {

// B = 3, T = 17, d = 64, H = 4, H_kv = 2 (hd = 16), F = 160, V = 97, L = 2.
ModelConfig tiny_config(bool tied = true, HiddenActivation act = HiddenActivation::relu2) {
  ModelConfig c;
  c.hidden_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.intermediate_size = 160;
  c.vocab_size = 97;
  c.max_position_embeddings = 32;
  c.tie_word_embeddings = tied;
  c.hidden_act = act;
  return c;
}

struct TrainCase {
  ModelConfig config;
  ParameterLayout layout;
  std::vector<float> params;
  Batch batch;
};

TrainCase make_setup(uint64_t seed, bool tied = true, HiddenActivation act = HiddenActivation::relu2) {
  const ModelConfig config = tiny_config(tied, act);
  TrainCase s{config, ParameterLayout(config), {}, test::random_batch(3, 17, config.vocab_size, 7, 5)};
  // Weights N(0, 0.1): large enough that every block matters to the loss.
  s.params = flatten_parameters(test::scaled_random_model(config, seed, 5.0f), s.layout);
  return s;
}

std::vector<float> slice(const std::vector<float>& v, const ParameterTensor& t) {
  return std::vector<float>(v.begin() + t.offset, v.begin() + t.offset + t.numel);
}

void compare_with_cpu(ActivationScheme scheme, bool tied, HiddenActivation act) {
  SCOPED_TRACE(testing::Message() << "scheme " << to_string(scheme) << " tied " << tied);
  const TrainCase s = make_setup(11, tied, act);
  std::vector<float> want(static_cast<std::size_t>(s.layout.total()));
  const double want_loss = loss_and_gradient_cpu(s.config, scheme, s.layout, s.params, s.batch, want);

  cuda::Trainer trainer(s.config, s.layout, 4, 20, 0);  // room for larger batches than this one
  trainer.upload_parameters(s.params);
  trainer.zero_gradients();
  const double loss = trainer.forward_backward(s.batch, scheme, 1.0f);
  std::vector<float> got(want.size());
  trainer.download_gradients(got);

  std::printf("[%s%s] loss gpu %.9f cpu %.9f (rel %.2e)\n", std::string(to_string(scheme)).c_str(),
              tied ? "" : ", untied, SwiGLU", loss, want_loss, std::fabs(loss - want_loss) / want_loss);
  EXPECT_LE(std::fabs(loss - want_loss), 1e-4 * want_loss);
  double worst = 0.0;
  for (const ParameterTensor& t : s.layout.tensors()) {
    const std::vector<float> g = slice(got, t), w = slice(want, t);
    double norm = 0.0;
    for (float x : w) norm += static_cast<double>(x) * x;
    const double error = test::relative_l2(g, w);
    worst = std::max(worst, error);
    EXPECT_GT(norm, 0.0) << t.name << " has a zero reference gradient";
    EXPECT_LE(error, 1e-2) << t.name;
  }
  const double total = test::relative_l2(got, want);
  std::printf("[%s] gradient rel. error: whole %.2e, worst tensor %.2e\n",
              std::string(to_string(scheme)).c_str(), total, worst);
  EXPECT_LE(total, 5e-3);
}

TEST(CudaTrainer, LossAndGradientsMatchTheCpuReferenceForEveryScheme) {
  A48_REQUIRE_CUDA_DEVICE();
  for (ActivationScheme scheme : {ActivationScheme::fp, ActivationScheme::b158,
                                  ActivationScheme::a48, ActivationScheme::a48_fp4}) {
    compare_with_cpu(scheme, true, HiddenActivation::relu2);
  }
}

TEST(CudaTrainer, UntiedLmHeadAndSwiGlu) {
  A48_REQUIRE_CUDA_DEVICE();
  compare_with_cpu(ActivationScheme::a48, false, HiddenActivation::silu);
}

TEST(CudaTrainer, AccumulatesDeterministically) {
  A48_REQUIRE_CUDA_DEVICE();
  const TrainCase s = make_setup(12);
  cuda::Trainer trainer(s.config, s.layout, 3, 17, 0);
  trainer.upload_parameters(s.params);
  const auto n = static_cast<std::size_t>(s.layout.total());
  std::vector<float> once(n), again(n), halves(n);
  trainer.zero_gradients();
  const double loss = trainer.forward_backward(s.batch, ActivationScheme::a48, 1.0f);
  trainer.download_gradients(once);
  trainer.zero_gradients();
  EXPECT_EQ(trainer.forward_backward(s.batch, ActivationScheme::a48, 1.0f), loss);
  trainer.download_gradients(again);
  EXPECT_EQ(std::memcmp(once.data(), again.data(), n * sizeof(float)), 0) << "not deterministic";
  // Two half-scaled passes add up to one full pass. Scaling by 2^-1 is exact throughout, but a
  // split-K GEMM adds its partial products into the gradient one by one, so the second pass's
  // sums round differently: ~1 fp32 ulp.
  trainer.zero_gradients();
  trainer.forward_backward(s.batch, ActivationScheme::a48, 0.5f);
  trainer.forward_backward(s.batch, ActivationScheme::a48, 0.5f);
  trainer.download_gradients(halves);
  EXPECT_LE(test::relative_l2(halves, once), 1e-7);
  const double norm = gradient_norm(halves);  // sums in two orders: within n 2^-53 relative
  EXPECT_NEAR(trainer.gradient_norm(), norm, static_cast<double>(n) * 0x1p-53 * norm);
  // evaluate runs the same forward: the same loss, bit for bit.
  EXPECT_EQ(trainer.evaluate(s.batch, ActivationScheme::a48), loss);
}

// Table 2's counts from the CPU training forward's dequantized inputs (x_hat != 0 iff q != 0).
SparsityStats expected_sparsity(const TrainCase& s, ActivationScheme scheme) {
  ModelConfig c = s.config;
  c.activation_scheme = scheme;
  const Model model = unflatten_parameters(s.params, c, s.layout);
  const int64_t d = c.hidden_size, qs = c.q_size(), kvs = c.kv_size(), f = c.intermediate_size;
  SparsityStats stats;
  const auto count = [](const std::vector<float>& x, int64_t t, int64_t n) {
    int64_t nz = 0;
    for (int64_t i = 0; i < n; ++i) nz += x[static_cast<std::size_t>(t * n + i)] != 0.0f;
    return static_cast<double>(nz);
  };
  for (int64_t b = 0; b < s.batch.n_seqs; ++b) {
    const auto tokens = std::span<const int32_t>(s.batch.inputs)
                            .subspan(static_cast<std::size_t>(b * s.batch.seq_len),
                                     static_cast<std::size_t>(s.batch.seq_len));
    const SequenceActivations acts = train_forward_sequence(model, tokens);
    for (const LayerActivations& a : acts.layers) {
      for (int64_t t = 0; t < s.batch.seq_len; ++t) {
        const double in = count(a.ffn_in, t, d);
        stats.qkv.active += count(a.attn_in, t, d) * static_cast<double>(qs + 2 * kvs);
        stats.qkv.total += static_cast<double>(d * (qs + 2 * kvs));
        stats.out.active += count(a.o_in, t, qs) * static_cast<double>(d);
        stats.out.total += static_cast<double>(qs * d);
        stats.gate.active += in * static_cast<double>(f);
        stats.gate.total += static_cast<double>(d * f);
        double active_rows = 0;
        for (int64_t i = 0; i < f; ++i) {
          const float g = a.gate[static_cast<std::size_t>(t * f + i)];
          active_rows += (c.hidden_act == HiddenActivation::relu2 ? ref::relu2(g) : ref::silu(g)) != 0.0f;
        }
        stats.up.active += in * active_rows;
        stats.up.total += static_cast<double>(d * f);
        stats.down.active += count(a.down_in, t, f) * static_cast<double>(d);
        stats.down.total += static_cast<double>(f * d);
      }
    }
    stats.n_tokens += s.batch.seq_len;
  }
  return stats;
}

TEST(CudaTrainer, EvaluateCountsSparsityAsTheReference) {
  A48_REQUIRE_CUDA_DEVICE();
  const TrainCase s = make_setup(13);
  cuda::Trainer trainer(s.config, s.layout, 3, 17, 0);
  trainer.upload_parameters(s.params);
  for (ActivationScheme scheme : {ActivationScheme::a48, ActivationScheme::b158}) {
    SCOPED_TRACE(to_string(scheme));
    SparsityStats got;
    got.n_tokens = 5;  // evaluate adds to what is there
    trainer.evaluate(s.batch, scheme, &got);
    const SparsityStats want = expected_sparsity(s, scheme);
    EXPECT_EQ(got.n_tokens, want.n_tokens + 5);
    const std::pair<const SparsityStats::Entry*, const SparsityStats::Entry*> entries[] = {
        {&got.qkv, &want.qkv}, {&got.out, &want.out}, {&got.gate, &want.gate},
        {&got.up, &want.up}, {&got.down, &want.down}};
    for (const auto& [g, w] : entries) {
      EXPECT_EQ(g->total, w->total);
      EXPECT_NEAR(g->active, w->active, 1e-4 * w->total);  // a rare code flip moves a count
      EXPECT_GT(w->active, 0.0);
    }
  }
}

TEST(CudaTrainer, AdamwStepUpdatesOnlyItsRangeLikeAdamwUpdate) {
  A48_REQUIRE_CUDA_DEVICE();
  const TrainCase s = make_setup(14);
  cuda::Trainer trainer(s.config, s.layout, 1, 4, 0);
  const auto n = static_cast<std::size_t>(s.layout.total());
  const std::vector<float> grad = test::uniform(n, 99, 0.01f);
  std::vector<float> m = test::uniform(n, 98, 1e-3f), v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::fabs(m[i]) * 1e-2f;
  trainer.upload_parameters(s.params);
  trainer.upload_gradients(grad);
  trainer.upload_optimizer_state(m, v);
  AdamWHyper hyper;
  hyper.lr = 1e-2;
  const int64_t offset = 1000, count = s.layout.total() / 2;  // crosses decayed and norm tensors
  trainer.adamw_step(hyper, 3, 0.5, offset, count);
  std::vector<float> p(n), got_m(n), got_v(n);
  trainer.download_parameters(p);
  trainer.download_optimizer_state(got_m, got_v);

  std::vector<float> want_p = s.params, want_m = m, want_v = v;
  std::vector<uint8_t> mask(n, 0);
  for (const ParameterTensor& t : s.layout.tensors())
    std::fill_n(mask.begin() + t.offset, t.numel, static_cast<uint8_t>(t.weight_decay));
  std::vector<float> scaled(grad.begin() + offset, grad.begin() + offset + count);
  for (float& g : scaled) g = static_cast<float>(g * 0.5);
  const auto range = [&](std::vector<float>& x) {
    return std::span<float>(x).subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(count));
  };
  adamw_update(range(want_p), scaled, range(want_m), range(want_v),
               std::span<const uint8_t>(mask).subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(count)),
               hyper, 3);
  EXPECT_EQ(std::memcmp(p.data(), want_p.data(), n * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(got_m.data(), want_m.data(), n * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(got_v.data(), want_v.data(), n * sizeof(float)), 0);
  EXPECT_THROW(trainer.adamw_step(hyper, 1, 1.0, offset, s.layout.total()), Error);
  trainer.scale_gradients(2.0f);
  std::vector<float> doubled(n);
  trainer.download_gradients(doubled);
  for (std::size_t i = 0; i < n; i += 997) EXPECT_EQ(doubled[i], grad[i] * 2.0f);
}

TEST(CudaTrainer, RejectsBadInputsAndNonFiniteForwards) {
  A48_REQUIRE_CUDA_DEVICE();
  TrainCase s = make_setup(15);
  EXPECT_THROW(cuda::Trainer(s.config, s.layout, 3, 33, 0), Error);  // seq_len > max positions
  EXPECT_THROW(cuda::Trainer(s.config, ParameterLayout(tiny_config(false)), 3, 17, 0), Error);
  cuda::Trainer trainer(s.config, s.layout, 3, 17, 0);
  trainer.upload_parameters(s.params);
  trainer.zero_gradients();
  Batch bad = s.batch;
  bad.inputs[4] = 97;
  EXPECT_THROW(trainer.forward_backward(bad, ActivationScheme::a48, 1.0f), Error);
  bad = s.batch;
  bad.targets.assign(bad.targets.size(), -1);
  EXPECT_THROW(trainer.forward_backward(bad, ActivationScheme::a48, 1.0f), Error);
  const Batch too_long = test::random_batch(1, 18, s.config.vocab_size, 3);
  EXPECT_THROW(trainer.forward_backward(too_long, ActivationScheme::a48, 1.0f), Error);
  EXPECT_THROW(trainer.upload_parameters(std::vector<float>(10)), Error);
  // A NaN weight: every scheme's forward reports it and no gradient is added.
  std::vector<float> poisoned = s.params;
  poisoned[static_cast<std::size_t>(s.layout.at("model.layers.1.mlp.up_proj.weight").offset + 3)] =
      std::numeric_limits<float>::quiet_NaN();
  trainer.upload_parameters(poisoned);
  for (ActivationScheme scheme : {ActivationScheme::fp, ActivationScheme::a48}) {
    EXPECT_THROW(trainer.forward_backward(s.batch, scheme, 1.0f), Error) << to_string(scheme);
  }
  EXPECT_EQ(trainer.gradient_norm(), 0.0);
  // A shorter batch than the trainer's shape runs.
  trainer.upload_parameters(s.params);
  const Batch small = test::random_batch(2, 9, s.config.vocab_size, 4);
  EXPECT_TRUE(std::isfinite(trainer.forward_backward(small, ActivationScheme::a48_fp4, 1.0f)));
}

}  // namespace
}  // namespace a48
