// Loss and gradient of a batch: the CPU definition of training (§2.2) that the CUDA trainer is
// checked against. Each sequence runs forward (train/train_forward.h) and backward
// (train/train_backward.h); parameter gradients are summed over the batch in double.
#include "train/cpu_reference_grad.h"

#include "core/error.h"
#include "ref/cross_entropy.h"
#include "train/train_backward.h"
#include "train/train_forward.h"

namespace a48 {

double loss_and_gradient_cpu(const ModelConfig& config, ActivationScheme scheme,
                             const ParameterLayout& layout, std::span<const float> params,
                             const Batch& batch, std::span<float> gradient) {
  ModelConfig c = config;
  c.activation_scheme = scheme;
  c.validate();
  const int64_t scored = validate_batch(c, batch);
  check(gradient.empty() || static_cast<int64_t>(gradient.size()) == layout.total(),
        "loss_and_gradient_cpu: gradient has {} values, the layout {}", gradient.size(),
        layout.total());
  const Model model = unflatten_parameters(params, c, layout);  // eq. 2 on the latent weights
  const bool want_gradient = !gradient.empty();
  const std::vector<LayerProjectionWeights> weights =
      want_gradient ? projection_weights(model) : std::vector<LayerProjectionWeights>{};
  std::vector<double> grad(want_gradient ? gradient.size() : 0, 0.0);  // [total]

  const int64_t len = batch.seq_len, vocab = c.vocab_size;
  const double scale = 1.0 / static_cast<double>(scored);  // mean over scored targets
  double loss_sum = 0.0;
  std::vector<float> dlogits;  // [T, V]
  for (int64_t s = 0; s < batch.n_seqs; ++s) {
    const auto begin = static_cast<std::size_t>(s * len);
    const SequenceActivations acts = train_forward_sequence(
        model,
        std::span<const int32_t>(batch.inputs).subspan(begin, static_cast<std::size_t>(len)));
    dlogits.assign(want_gradient ? static_cast<std::size_t>(len * vocab) : 0, 0.0f);
    for (int64_t t = 0; t < len; ++t) {
      const int32_t target = batch.targets[begin + static_cast<std::size_t>(t)];
      if (target == -1) continue;  // not scored: zero gradient
      const auto offset = static_cast<std::size_t>(t * vocab);
      const std::span<const float> logits =
          std::span<const float>(acts.logits).subspan(offset, static_cast<std::size_t>(vocab));
      const std::span<float> d =
          want_gradient ? std::span<float>(dlogits).subspan(offset, static_cast<std::size_t>(vocab))
                        : std::span<float>{};
      loss_sum += ref::cross_entropy(logits, target, scale, d);
    }
    if (want_gradient) train_backward_sequence(model, weights, acts, dlogits, layout, grad);
  }
  for (std::size_t i = 0; i < grad.size(); ++i) gradient[i] = static_cast<float>(grad[i]);
  return loss_sum * scale;
}

}  // namespace a48
