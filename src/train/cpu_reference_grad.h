// The plain CPU definition of training (§2.2): loss and gradients of the fake-quantized model.
// Forward = the reference forward of model/forward.h with the scheme's weight (eq. 2) and
// activation quantizers (eqs. 1, 3, 7, 8-9) applied as fake quantization in fp32; attention in
// full precision (post-RoPE attention quantization is an inference-time choice, §3.1).
// Backward: the straight-through estimator passes gradients through every quantizer and through
// top-K unchanged ("we directly bypass the non-differentiable functions"), and the gradient of
// the latent weight is the gradient of its quantized value.
#pragma once

#include <span>

#include "model/config.h"
#include "train/batch.h"
#include "train/parameter_layout.h"

namespace a48 {

// Mean cross-entropy over the batch's scored targets (natural log). When `gradient` is not empty
// ([layout.total()]), writes d loss / d params into it. `params` is the flat latent buffer.
// `scheme` overrides config.activation_scheme (the two-stage recipe switches it mid-run).
double loss_and_gradient_cpu(const ModelConfig& config, ActivationScheme scheme,
                             const ParameterLayout& layout, std::span<const float> params,
                             const Batch& batch, std::span<float> gradient);

}  // namespace a48
