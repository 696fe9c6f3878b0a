#include "ref/rmsnorm_backward.h"

#include <cmath>

#include "core/error.h"

namespace a48::ref {

void rmsnorm_backward(std::span<const float> x, std::span<const float> weight, float eps,
                      std::span<const float> dy, std::span<float> dx, std::span<double> dweight) {
  check(!x.empty(), "rmsnorm_backward: empty input");
  check(weight.size() == x.size() && dy.size() == x.size() && dx.size() == x.size() &&
            dweight.size() == x.size(),
        "rmsnorm_backward: sizes differ (x {}, weight {}, dy {}, dx {}, dweight {})", x.size(),
        weight.size(), dy.size(), dx.size(), dweight.size());
  const auto n = static_cast<double>(x.size());
  double sum_squares = 0.0;
  for (float v : x) sum_squares += static_cast<double>(v) * v;
  // The forward rounds the variance to fp32 and adds eps in fp32; the gradient uses the exact r.
  const double r = 1.0 / std::sqrt(sum_squares / n + static_cast<double>(eps));
  double dot = 0.0;  // sum_j w_j * dy_j * x_j
  for (std::size_t j = 0; j < x.size(); ++j) dot += static_cast<double>(weight[j]) * dy[j] * x[j];
  const double correction = r * r * r * dot / n;
  for (std::size_t i = 0; i < x.size(); ++i) {
    dweight[i] += static_cast<double>(dy[i]) * x[i] * r;
    dx[i] = static_cast<float>(r * weight[i] * dy[i] - x[i] * correction);
  }
}

}  // namespace a48::ref
