// AdamW (decoupled weight decay) on the flat parameter buffer: the reference the CUDA optimizer
// kernel mirrors. beta = (0.9, 0.95) per Appendix A.
#pragma once

#include <cstdint>
#include <span>

namespace a48 {

struct AdamWHyper {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0.1;  // applied as p -= lr * wd * p, only where decay_mask is set
};

// One update at 1-based step t. grad is already averaged (and clipped). decay_mask: per element,
// 1 where weight decay applies. m, v: first and second moments, updated in place.
void adamw_update(std::span<float> params, std::span<const float> grad, std::span<float> m,
                  std::span<float> v, std::span<const uint8_t> decay_mask, const AdamWHyper& hyper,
                  int64_t t);

// sqrt(sum grad^2) in double; and the factor min(1, max_norm / norm) that clipping applies.
double gradient_norm(std::span<const float> grad);
double clip_factor(double norm, double max_norm);

}  // namespace a48
