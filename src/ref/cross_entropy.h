// Next-token cross-entropy of one logits row (natural log) and its gradient, the training loss
// (§2.2; the mean over scored tokens is taken by the caller through `scale`):
//   loss      = log(sum_j exp(z_j)) - z_target
//   dz_j      = scale * (softmax(z)_j - [j == target])
// With max subtraction; exp, sum and log in double, so the loss of a row is accurate to a few
// double ulps of the fp32 logits it is given.
#pragma once

#include <cstdint>
#include <span>

namespace a48::ref {

// logits: [V]; target in [0, V). Returns the loss. When dlogits ([V]) is not empty, writes
// scale * d loss / d logits into it. Throws a48::Error for a target outside [0, V) or a non-finite
// logit.
double cross_entropy(std::span<const float> logits, int64_t target, double scale,
                     std::span<float> dlogits);

}  // namespace a48::ref
