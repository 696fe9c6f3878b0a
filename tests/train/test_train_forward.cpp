// (a) The training forward is the inference forward: per-position logits of train_forward_sequence
// equal model/forward.h's (all_logits, attention_bits 16) bit for bit, for every scheme, and the
// training loss is the cross-entropy of those logits. Exact equality is expected, not a tolerance:
// both run the same ref ops on the same rows in the same order (token t's attention reads K/V rows
// 0..t, which the 16-bit KV cache stores and returns unchanged as fp32).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "core/error.h"
#include "model/forward.h"
#include "train/cpu_reference_grad.h"
#include "train/train_forward.h"
#include "train/train_test_util.h"

namespace a48 {
namespace {

constexpr ActivationScheme kSchemes[] = {ActivationScheme::fp,       ActivationScheme::b158,
                                         ActivationScheme::a48,      ActivationScheme::a48_fp4,
                                         ActivationScheme::int4_all, ActivationScheme::fp4_all};

std::vector<float> inference_logits(const Model& model, std::span<const int32_t> tokens) {
  KvCache cache(model.config, static_cast<int64_t>(tokens.size()));
  const SequenceInput seq{&cache, tokens, /*all_logits=*/true};
  return forward(model, std::span(&seq, 1));
}

// The loss written out independently: mean over scored targets of log(sum exp z) - z_target.
double reference_loss(const Model& model, const Batch& batch) {
  double sum = 0;
  int64_t scored = 0;
  const auto vocab = static_cast<std::size_t>(model.config.vocab_size);
  for (int64_t s = 0; s < batch.n_seqs; ++s) {
    const auto begin = static_cast<std::size_t>(s * batch.seq_len);
    const std::vector<float> logits = inference_logits(
        model, std::span(batch.inputs).subspan(begin, static_cast<std::size_t>(batch.seq_len)));
    for (int64_t t = 0; t < batch.seq_len; ++t) {
      const int32_t target = batch.targets[begin + static_cast<std::size_t>(t)];
      if (target < 0) continue;
      const float* z = logits.data() + static_cast<std::size_t>(t) * vocab;
      double exp_sum = 0;
      for (std::size_t j = 0; j < vocab; ++j) exp_sum += std::exp(static_cast<double>(z[j]));
      sum += std::log(exp_sum) - z[target];
      ++scored;
    }
  }
  return sum / static_cast<double>(scored);
}

TEST(TrainForward, LogitsEqualInferenceForwardForEveryScheme) {
  for (ActivationScheme scheme : kSchemes) {
    for (bool tied : {true, false}) {
      ModelConfig config = test::tiny_train_config(scheme);
      config.tie_word_embeddings = tied;
      config.hidden_act = tied ? HiddenActivation::relu2 : HiddenActivation::silu;
      const Model model = test::scaled_random_model(config, 3, 5.0f);
      const Batch batch = test::random_batch(1, 9, config.vocab_size, 4);
      const SequenceActivations acts = train_forward_sequence(model, batch.inputs);
      // Named intermediates of the inference pass, per layer: checks the kept activations too.
      std::map<std::pair<std::string, int64_t>, std::vector<float>> named;
      ForwardOptions options;
      options.on_intermediate = [&](std::string_view name, int64_t layer,
                                    std::span<const float> values) {
        auto& v = named[{std::string(name), layer}];
        v.insert(v.end(), values.begin(), values.end());
      };
      KvCache cache(config, 9);
      const SequenceInput seq{&cache, batch.inputs, true};
      const std::vector<float> expected = forward(model, std::span(&seq, 1), options);
      const std::string what = std::string(to_string(scheme)) + (tied ? " tied" : " untied");
      ASSERT_EQ(acts.logits.size(), expected.size()) << what;
      EXPECT_EQ(acts.logits, expected) << what;
      for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
        const LayerActivations& a = acts.layers[static_cast<std::size_t>(l)];
        EXPECT_EQ(a.attn_normed, (named[{"attn_norm", l}])) << what << " layer " << l;
        EXPECT_EQ(a.q, (named[{"q", l}])) << what << " layer " << l;
        EXPECT_EQ(a.k, (named[{"k", l}])) << what << " layer " << l;
        EXPECT_EQ(a.attn, (named[{"attn_out", l}])) << what << " layer " << l;
        EXPECT_EQ(a.gate, (named[{"gate", l}])) << what << " layer " << l;
        EXPECT_EQ(a.glu_subnormed, (named[{"ffn_sub_norm", l}])) << what << " layer " << l;
      }
      EXPECT_EQ(acts.normed, (named[{"final_norm", -1}])) << what;
    }
  }
}

TEST(TrainForward, LossIsTheCrossEntropyOfTheInferenceLogits) {
  for (ActivationScheme scheme : kSchemes) {
    const ModelConfig config = test::tiny_train_config(scheme);
    const Model model = test::scaled_random_model(config, 5, 5.0f);
    const ParameterLayout layout(config);
    const std::vector<float> params = flatten_parameters(model, layout);
    const Batch batch = test::random_batch(2, 7, config.vocab_size, 6);
    const double loss = loss_and_gradient_cpu(config, scheme, layout, params, batch, {});
    const double expected = reference_loss(model, batch);
    // Same logits; the sums differ only in double rounding order.
    EXPECT_NEAR(loss, expected, 1e-12 * expected) << to_string(scheme);
    // Asking for the gradient does not change the loss.
    std::vector<float> grad(params.size());
    EXPECT_EQ(loss_and_gradient_cpu(config, scheme, layout, params, batch, grad), loss);
    // `scheme` overrides the config's scheme.
    const ModelConfig other = test::tiny_train_config(ActivationScheme::b158);
    EXPECT_EQ(loss_and_gradient_cpu(other, scheme, layout, params, batch, {}), loss);
  }
}

TEST(TrainForward, BadInputsThrow) {
  const ModelConfig config = test::tiny_train_config(ActivationScheme::a48);
  const Model model = make_random_model(config, 7);
  const ParameterLayout layout(config);
  const std::vector<float> params = flatten_parameters(model, layout);
  const Batch good = test::random_batch(2, 7, config.vocab_size, 8);
  const auto loss = [&](const Batch& b, std::span<const float> p, std::span<float> g) {
    return loss_and_gradient_cpu(config, ActivationScheme::a48, layout, p, b, g);
  };
  EXPECT_NO_THROW(loss(good, params, {}));
  Batch b = good;
  b.inputs[3] = 23;  // == V
  EXPECT_THROW(loss(b, params, {}), Error);
  b = good;
  b.targets[4] = -2;
  EXPECT_THROW(loss(b, params, {}), Error);
  b = good;
  b.targets.pop_back();
  EXPECT_THROW(loss(b, params, {}), Error);
  b = good;
  for (int32_t& t : b.targets) t = -1;
  EXPECT_THROW(loss(b, params, {}), Error);             // nothing to average over
  b = test::random_batch(1, 17, config.vocab_size, 9);  // past max_position_embeddings (16)
  EXPECT_THROW(loss(b, params, {}), Error);
  const std::vector<float> short_params(params.begin(), params.end() - 1);
  EXPECT_THROW(loss(good, short_params, {}), Error);
  std::vector<float> short_grad(params.size() - 1);
  EXPECT_THROW(loss(good, params, short_grad), Error);
  std::vector<float> nan_params = params;
  nan_params[100] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(loss(good, nan_params, {}), Error);
  // A layout of another config.
  ModelConfig untied = config;
  untied.tie_word_embeddings = false;
  const ParameterLayout other(untied);
  std::vector<float> other_params(static_cast<std::size_t>(other.total()));
  EXPECT_THROW(loss_and_gradient_cpu(config, ActivationScheme::a48, other, other_params, good, {}),
               Error);
}

}  // namespace
}  // namespace a48
