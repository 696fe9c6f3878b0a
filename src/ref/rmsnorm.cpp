#include "ref/rmsnorm.h"

#include <cmath>

#include "core/error.h"

namespace a48::ref {

void rmsnorm(std::span<const float> x, std::span<const float> weight, float eps,
             std::span<float> out) {
  check(!x.empty(), "rmsnorm: empty input");
  check(weight.size() == x.size() && out.size() == x.size(),
        "rmsnorm: sizes differ (x {}, weight {}, out {})", x.size(), weight.size(), out.size());
  double sum_squares = 0.0;  // exact enough: see the header
  for (float v : x) sum_squares += static_cast<double>(v) * v;
  const float variance = static_cast<float>(sum_squares / static_cast<double>(x.size()));
  const float r = 1.0f / std::sqrt(variance + eps);  // torch.rsqrt on fp32: 1/sqrt, each rounded
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float normed = x[i] * r;  // hidden_states * rsqrt(...)
    out[i] = weight[i] * normed;    // self.weight * hidden_states
  }
}

}  // namespace a48::ref
