// (b) The training gradient of the `fp` scheme against central finite differences of the loss, on
// the tiny model (d 32, L 2, H 2, H_kv 1, F 40, V 23; batch 2 x 7), at three random elements of
// every tensor (78 or 81 elements).
//
// Step sizes and tolerance. The loss (~4) is computed from an fp32 forward and carries ~5e-8 of
// rounding noise; a central difference over 2h turns that into ~1e-5 (h = 1e-2) to ~3e-5
// (h = 3e-3) of gradient noise. Richardson extrapolation (train_test_util.h) removes the h^2
// truncation term, so h = 1e-2 is accurate for SwiGLU, whose loss is smooth. ReLU^2 has a jump
// in its second derivative at 0: a difference whose +-2h straddles a gate's zero loses the
// extrapolation, so that case takes h = 3e-3 for the matrices (norm weights, ~1, keep 1e-2) and
// a 2e-2 tolerance for the extra noise. Errors are relative to the larger of the two values, and
// at least to 2e-3 (gradients smaller than that are compared to within 2e-5 or 4e-5 absolute:
// the noise level). Measured over 12 seeds each: SwiGLU max 0.43%, median 1e-4; ReLU^2 max 1.4%.
#include <gtest/gtest.h>

#include <cstdio>
#include <limits>
#include <random>

#include "train/cpu_reference_grad.h"
#include "train/train_test_util.h"

namespace a48 {
namespace {

struct FdCase {
  bool tied;
  HiddenActivation act;
  double matrix_step;  // h for embeddings, projections and the LM head; norms use 1e-2
  double tolerance;
};

// Runs the check and returns the largest relative error seen.
double check_against_finite_differences(const FdCase& fc, uint32_t seed) {
  ModelConfig config = test::tiny_train_config(ActivationScheme::fp);
  config.tie_word_embeddings = fc.tied;
  config.hidden_act = fc.act;
  const Model model = test::scaled_random_model(config, seed, 10.0f);
  const ParameterLayout layout(config);
  const std::vector<float> params = flatten_parameters(model, layout);
  const Batch batch = test::random_batch(2, 7, config.vocab_size, seed + 1);
  std::vector<float> grad(params.size(), std::numeric_limits<float>::quiet_NaN());
  const double loss =
      loss_and_gradient_cpu(config, ActivationScheme::fp, layout, params, batch, grad);
  EXPECT_TRUE(std::isfinite(loss));
  for (float g : grad) EXPECT_TRUE(std::isfinite(g));

  std::mt19937 rng(seed + 2);
  double worst = 0;
  int checked = 0;
  for (const ParameterTensor& t : layout.tensors()) {
    std::uniform_int_distribution<int64_t> pick(0, t.numel - 1);
    const double h = t.kind == ParameterTensor::Kind::norm ? 1e-2 : fc.matrix_step;
    for (int k = 0; k < 3; ++k) {
      const auto i = static_cast<std::size_t>(t.offset + pick(rng));
      std::vector<float> p = params;
      const auto f = [&](double value) {
        p[i] = static_cast<float>(value);
        return loss_and_gradient_cpu(config, ActivationScheme::fp, layout, p, batch, {});
      };
      const double fd = test::central_difference(f, params[i], h);
      const double err = test::relative_error(fd, grad[i], 2e-3);
      worst = std::max(worst, err);
      ++checked;
      EXPECT_LT(err, fc.tolerance)
          << t.name << " element " << i - static_cast<std::size_t>(t.offset)
          << ": finite difference " << fd << ", gradient " << grad[i];
    }
  }
  EXPECT_GE(checked, 50);
  return worst;
}

TEST(TrainGradient, MatchesFiniteDifferencesUntiedSwiGlu) {
  const double worst =
      check_against_finite_differences({false, HiddenActivation::silu, 1e-2, 1e-2}, 21);
  std::printf("fp gradient vs finite differences (untied, silu): max relative error %.3g\n", worst);
}

TEST(TrainGradient, MatchesFiniteDifferencesTiedReluSquared) {
  const double worst =
      check_against_finite_differences({true, HiddenActivation::relu2, 3e-3, 2e-2}, 11);
  std::printf("fp gradient vs finite differences (tied, relu2): max relative error %.3g\n", worst);
}

}  // namespace
}  // namespace a48
