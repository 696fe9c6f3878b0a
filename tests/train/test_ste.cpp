// (c) The straight-through estimator (§2.2): "we directly bypass the non-differentiable functions,
// including the quantization function and top-K sparsification function during the backward",
// and the latent weight receives the gradient of its quantized value.
//
// The precise statement checked here: the STE gradient of a quantized scheme at parameters P0 is
// the exact gradient, at P0, of the model whose forward uses the dequantized values with frozen
// residuals, x_hat = x + (x_hat_0 - x_0) and W = W_latent + (alpha_0 t_0 - W_latent_0)
// (FrozenQuantization in train/train_forward.h; PyTorch's x + (q(x) - x).detach()). That model is
// smooth, so its gradient is checked by finite differences, for every quantizer and for top-K.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "ref/cross_entropy.h"
#include "ref/linear.h"
#include "ref/linear_backward.h"
#include "ref/projection.h"
#include "ref/random_vectors.h"
#include "train/cpu_reference_grad.h"
#include "train/train_forward.h"
#include "train/train_test_util.h"

namespace a48 {
namespace {

constexpr ActivationScheme kQuantizedSchemes[] = {
    ActivationScheme::b158, ActivationScheme::a48, ActivationScheme::a48_fp4,
    ActivationScheme::int4_all, ActivationScheme::fp4_all};

std::span<const int32_t> sequence(const Batch& b, int64_t s) {
  return std::span(b.inputs).subspan(static_cast<std::size_t>(s * b.seq_len),
                                     static_cast<std::size_t>(b.seq_len));
}

// Mean cross-entropy of the frozen-residual model at `params` (the frozen point is `model0`).
double frozen_loss(const ModelConfig& config, const ParameterLayout& layout,
                   std::span<const float> params, const Batch& batch, const Model& model0,
                   const std::vector<SequenceActivations>& acts0) {
  const Model model = unflatten_parameters(params, config, layout);
  double sum = 0;
  int64_t scored = 0;
  const auto vocab = static_cast<std::size_t>(config.vocab_size);
  for (int64_t s = 0; s < batch.n_seqs; ++s) {
    const FrozenQuantization frozen{&model0, &acts0[static_cast<std::size_t>(s)]};
    const SequenceActivations acts = train_forward_sequence(model, sequence(batch, s), &frozen);
    for (int64_t t = 0; t < batch.seq_len; ++t) {
      const int32_t target = batch.targets[static_cast<std::size_t>(s * batch.seq_len + t)];
      if (target < 0) continue;
      sum += ref::cross_entropy(
          std::span(acts.logits).subspan(static_cast<std::size_t>(t) * vocab, vocab), target, 1.0,
          {});
      ++scored;
    }
  }
  return sum / static_cast<double>(scored);
}

// Same step sizes and error measure as the fp check (test_gradient_fd.cpp), with SwiGLU so that
// the frozen model is smooth: h = 1e-2, errors relative to max(|a|, |b|, 2e-3), below 1e-2.
TEST(Ste, GradientIsTheExactGradientOfTheFrozenResidualModel) {
  for (ActivationScheme scheme : kQuantizedSchemes) {
    ModelConfig config = test::tiny_train_config(scheme);
    config.hidden_act = HiddenActivation::silu;
    const Model model0 = test::scaled_random_model(config, 31, 10.0f);
    const ParameterLayout layout(config);
    const std::vector<float> params = flatten_parameters(model0, layout);
    const Batch batch = test::random_batch(2, 7, config.vocab_size, 32);
    std::vector<float> grad(params.size(), std::numeric_limits<float>::quiet_NaN());
    const double loss = loss_and_gradient_cpu(config, scheme, layout, params, batch, grad);

    std::vector<SequenceActivations> acts0;
    for (int64_t s = 0; s < batch.n_seqs; ++s)
      acts0.push_back(train_forward_sequence(model0, sequence(batch, s)));
    // At the frozen point the model computes the quantized forward's values (up to the rounding
    // of step*q and alpha*t products, which the integer BitLinear avoids).
    const double loss0 = frozen_loss(config, layout, params, batch, model0, acts0);
    EXPECT_NEAR(loss0, loss, 1e-5 * loss) << to_string(scheme);

    std::mt19937 rng(33);
    double worst = 0;
    for (const ParameterTensor& t : layout.tensors()) {
      std::uniform_int_distribution<int64_t> pick(0, t.numel - 1);
      for (int k = 0; k < 2; ++k) {
        const auto i = static_cast<std::size_t>(t.offset + pick(rng));
        std::vector<float> p = params;
        const auto f = [&](double value) {
          p[i] = static_cast<float>(value);
          return frozen_loss(config, layout, p, batch, model0, acts0);
        };
        const double fd = test::central_difference(f, params[i], 1e-2);
        const double err = test::relative_error(fd, grad[i], 2e-3);
        worst = std::max(worst, err);
        EXPECT_LT(err, 1e-2) << to_string(scheme) << " " << t.name << " element "
                             << i - static_cast<std::size_t>(t.offset) << ": finite difference "
                             << fd << ", gradient " << grad[i];
      }
    }
    std::printf("%s STE gradient vs finite differences of the frozen model: max relative %.3g\n",
                std::string(to_string(scheme)).c_str(), worst);
  }
}

// The latent weights enter only through their ternary codes and alpha: two latent matrices with
// the same codes and alpha give the same loss and the same gradient, bit for bit, in every
// quantized scheme (and different ones in `fp`, which multiplies the latent weights).
TEST(Ste, LatentWeightsWithTheSameCodesAndScaleHaveTheSameGradient) {
  const ModelConfig config = test::tiny_train_config(ActivationScheme::b158);
  const Model model = test::scaled_random_model(config, 41, 5.0f);
  Model shuffled = model;
  std::mt19937 rng(42);
  for (LayerWeights& layer : shuffled.weights.layers) {
    for (LinearWeights* w : {&layer.q_proj, &layer.k_proj, &layer.v_proj, &layer.o_proj,
                             &layer.gate_proj, &layer.up_proj, &layer.down_proj}) {
      // Permute the latent values among the positions of each code: the codes stay, and mean|W|
      // is a sum of the same values.
      for (int code = -1; code <= 1; ++code) {
        std::vector<std::size_t> where;
        for (std::size_t i = 0; i < w->ternary.size(); ++i)
          if (w->ternary[i] == code) where.push_back(i);
        std::vector<float> values;
        for (std::size_t i : where) values.push_back(w->latent[i]);
        std::shuffle(values.begin(), values.end(), rng);
        for (std::size_t j = 0; j < where.size(); ++j) w->latent[where[j]] = values[j];
      }
      const std::vector<int8_t> codes = w->ternary;
      const float scale = w->scale;
      w->quantize_from_latent();
      ASSERT_EQ(w->ternary, codes);  // the construction's premise, checked
      ASSERT_EQ(w->scale, scale);
    }
  }
  const ParameterLayout layout(config);
  const std::vector<float> p1 = flatten_parameters(model, layout);
  const std::vector<float> p2 = flatten_parameters(shuffled, layout);
  ASSERT_NE(p1, p2);
  const Batch batch = test::random_batch(2, 7, config.vocab_size, 43);
  for (ActivationScheme scheme : kQuantizedSchemes) {
    std::vector<float> g1(p1.size()), g2(p2.size());
    const double l1 = loss_and_gradient_cpu(config, scheme, layout, p1, batch, g1);
    const double l2 = loss_and_gradient_cpu(config, scheme, layout, p2, batch, g2);
    EXPECT_EQ(l1, l2) << to_string(scheme);
    EXPECT_EQ(g1, g2) << to_string(scheme);
  }
  std::vector<float> g1(p1.size()), g2(p2.size());
  loss_and_gradient_cpu(config, ActivationScheme::fp, layout, p1, batch, g1);
  loss_and_gradient_cpu(config, ActivationScheme::fp, layout, p2, batch, g2);
  EXPECT_NE(g1, g2);
}

// One projection per scheme and input: the quantized forward (integer BitLinear, ref::project) is
// the fp32 product of the dequantized input and alpha * t, so the backward through (x_hat, alpha*t)
// is the STE; the gradient reaches the inputs top-K dropped, and every ternary weight (zero codes
// included).
TEST(Ste, QuantizedProjectionIsTheProductOfDequantizedValues) {
  for (ActivationScheme scheme : kQuantizedSchemes) {
    for (ProjectionInput input : {ProjectionInput::qkv, ProjectionInput::out,
                                  ProjectionInput::gate_up, ProjectionInput::down}) {
      const ProjectionQuantization pq = projection_quantization(scheme, input, 0.5f);
      const int64_t n_out = 5, n_in = 33;
      LinearWeights w;
      w.n_out = n_out;
      w.n_in = n_in;
      w.latent = test::random_floats(static_cast<std::size_t>(n_out * n_in), 51, 0.1f);
      w.quantize_from_latent();
      std::vector<float> x = test::random_floats(static_cast<std::size_t>(n_in), 52, 3.0f);
      const ref::ActivationRow row = ref::quantize_activation_row(pq, x);
      ASSERT_TRUE(row.quantized);
      std::vector<float> y = test::nan_vector(static_cast<std::size_t>(n_out));
      ref::project(pq, w, row, y);

      Model one;  // projection_weights() reads the scheme from the config
      one.config.activation_scheme = scheme;
      one.weights.layers.resize(1);
      LayerWeights& lw = one.weights.layers[0];
      lw.q_proj = lw.k_proj = lw.v_proj = lw.o_proj = lw.gate_proj = lw.up_proj = lw.down_proj = w;
      const std::vector<float> w_eff = projection_weights(one)[0].q;
      std::vector<float> y_fp(static_cast<std::size_t>(n_out));
      ref::linear(row.values, w_eff, n_out, n_in, y_fp);
      for (int64_t o = 0; o < n_out; ++o) {
        const auto oi = static_cast<std::size_t>(o);
        EXPECT_EQ(w_eff[oi * 33 + 7], w.scale * w.ternary[oi * 33 + 7]);
        double magnitude = 0;  // sum |x_hat w|: the scale of the rounding of step*q products
        for (int64_t i = 0; i < n_in; ++i)
          magnitude += std::fabs(row.values[static_cast<std::size_t>(i)] *
                                 w_eff[static_cast<std::size_t>(o * n_in + i)]);
        EXPECT_NEAR(y[oi], y_fp[oi], 1e-6 * magnitude) << to_string(scheme) << " row " << o;
      }

      const std::vector<float> dy = test::random_floats(static_cast<std::size_t>(n_out), 53);
      std::vector<float> dx(static_cast<std::size_t>(n_in));
      std::vector<double> dw(static_cast<std::size_t>(n_out * n_in), 0.0);
      ref::linear_backward(dy, row.values, w_eff, n_out, n_in, dx, dw);
      int64_t dropped = 0, zero_codes = 0;
      for (int64_t i = 0; i < n_in; ++i) {
        const auto ii = static_cast<std::size_t>(i);
        if (row.values[ii] == 0.0f) {
          ++dropped;  // top-K or rounded to zero: the gradient still passes
          EXPECT_NE(dx[ii], 0.0f) << to_string(scheme) << " input " << i;
        }
      }
      for (std::size_t j = 0; j < dw.size(); ++j) {
        if (w.ternary[j] != 0 || row.values[j % 33] == 0.0f) continue;
        ++zero_codes;
        EXPECT_NE(dw[j], 0.0) << to_string(scheme) << " weight " << j;
      }
      if (pq.topk_keep_fraction < 1.0f) {
        EXPECT_GE(dropped, 16);  // top-K keeps ceil(0.5 * 33) = 17 of 33
      }
      EXPECT_GT(zero_codes, 0);
    }
  }
}

}  // namespace
}  // namespace a48
