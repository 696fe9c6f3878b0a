// AdamW with decoupled weight decay, in the order torch.optim.AdamW applies it: the decay first
// (p *= 1 - lr * wd), then the bias-corrected Adam step. Moments and parameters are stored in
// fp32; each element's update is computed in double and rounded once per stored value.
#include "train/adamw.h"

#include <cmath>

#include "core/error.h"

namespace a48 {

void adamw_update(std::span<float> params, std::span<const float> grad, std::span<float> m,
                  std::span<float> v, std::span<const uint8_t> decay_mask, const AdamWHyper& hyper,
                  int64_t t) {
  const std::size_t n = params.size();
  check(grad.size() == n && m.size() == n && v.size() == n && decay_mask.size() == n,
        "adamw_update: sizes differ (params {}, grad {}, m {}, v {}, decay_mask {})", n,
        grad.size(), m.size(), v.size(), decay_mask.size());
  check(t >= 1, "adamw_update: step {} must be >= 1", t);
  check(hyper.beta1 >= 0 && hyper.beta1 < 1 && hyper.beta2 >= 0 && hyper.beta2 < 1,
        "adamw_update: betas ({}, {}) must be in [0, 1)", hyper.beta1, hyper.beta2);
  check(hyper.lr >= 0 && std::isfinite(hyper.lr) && hyper.eps > 0 && hyper.weight_decay >= 0,
        "adamw_update: lr {}, eps {}, weight_decay {} out of range", hyper.lr, hyper.eps,
        hyper.weight_decay);
  const double b1 = hyper.beta1, b2 = hyper.beta2;
  const double correction1 = 1.0 - std::pow(b1, static_cast<double>(t));
  const double correction2 = 1.0 - std::pow(b2, static_cast<double>(t));
  const double decay = 1.0 - hyper.lr * hyper.weight_decay;
  for (std::size_t i = 0; i < n; ++i) {
    const double g = grad[i];
    const double m_i = b1 * m[i] + (1.0 - b1) * g;
    const double v_i = b2 * v[i] + (1.0 - b2) * g * g;
    m[i] = static_cast<float>(m_i);
    v[i] = static_cast<float>(v_i);
    double p = params[i];
    if (decay_mask[i] != 0) p *= decay;
    // The step reads the moments as stored, so a run resumed from saved moments continues exactly.
    const double m_hat = m[i] / correction1, v_hat = v[i] / correction2;
    p -= hyper.lr * m_hat / (std::sqrt(v_hat) + hyper.eps);
    params[i] = static_cast<float>(p);
  }
}

double gradient_norm(std::span<const float> grad) {
  double sum = 0.0;
  for (float g : grad) sum += static_cast<double>(g) * g;
  return std::sqrt(sum);
}

double clip_factor(double norm, double max_norm) {
  check(max_norm > 0 && std::isfinite(max_norm), "clip_factor: max_norm {} must be positive",
        max_norm);
  check(std::isfinite(norm) && norm >= 0, "clip_factor: gradient norm {} is not finite", norm);
  return norm > max_norm ? max_norm / norm : 1.0;
}

}  // namespace a48
