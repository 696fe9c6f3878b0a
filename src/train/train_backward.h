// The backward of the training forward (train/train_forward.h) for one sequence (§2.2).
// The straight-through estimator is structural here: the backward never sees a quantizer. Each
// projection's gradient flows through the dequantized input it multiplied (x_hat, after top-K and
// the quantizer) and the weights it multiplied (alpha * t, or latent for `fp`):
//   d loss / d x     = d loss / d x_hat = dy W          (quantizer and top-K bypassed)
//   d loss / d W_lat = d loss / d W     = dy^T x_hat     (the latent receives alpha*t's gradient)
#pragma once

#include <span>

#include "train/parameter_layout.h"
#include "train/train_forward.h"

namespace a48 {

// Adds d loss / d params of one sequence into `grad` ([layout.total()], in double), given
// dlogits = d loss / d logits ([T, V]), the sequence's activations and the model's
// projection_weights. Throws a48::Error on shape mismatches.
void train_backward_sequence(const Model& model, std::span<const LayerProjectionWeights> weights,
                             const SequenceActivations& acts, std::span<const float> dlogits,
                             const ParameterLayout& layout, std::span<double> grad);

}  // namespace a48
