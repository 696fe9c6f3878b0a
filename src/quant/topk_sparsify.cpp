// Eq. 1: top-K sparsification (Q-Sparse) of the attention output projection's input.
#include "quant/topk_sparsify.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "quant/quant_common.h"

namespace a48 {

int64_t topk_keep_count(int64_t n, float keep_fraction) {
  check(n >= 0, "topk_keep_count: negative length {}", n);
  check(keep_fraction >= 0.0f && keep_fraction <= 1.0f,  // false for NaN too
        "topk_keep_count: keep_fraction must be in [0, 1], got {}", keep_fraction);
  // keep_fraction is a float: 0.1f is 0.100000001..., and ceil of the exact product would keep
  // one extra entry for n = 10. A float carries at most 2^-25 absolute error below 1, so products
  // within n * 2^-24 of an integer are taken as that integer before the ceiling.
  const double product = static_cast<double>(keep_fraction) * static_cast<double>(n);
  const double nearest = std::nearbyint(product);
  const double k = std::fabs(product - nearest) <= static_cast<double>(n) * 0x1.0p-24
                       ? nearest
                       : std::ceil(product);
  return std::clamp(static_cast<int64_t>(k), int64_t{0}, n);
}

void sparsify_topk(std::span<float> x, float keep_fraction) {
  const auto n = static_cast<int64_t>(x.size());
  const int64_t keep = topk_keep_count(n, keep_fraction);
  check_finite(x, "sparsify_topk");
  if (keep == n) return;

  // A total order on indices: larger |x| first, then the lower index. Any selection algorithm
  // then keeps the same set, which is what makes ties deterministic.
  std::vector<int64_t> order(x.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  const auto before = [&](int64_t a, int64_t b) {
    const float abs_a = std::fabs(x[a]);
    const float abs_b = std::fabs(x[b]);
    return abs_a > abs_b || (abs_a == abs_b && a < b);
  };
  std::nth_element(order.begin(), order.begin() + keep, order.end(), before);
  for (auto it = order.begin() + keep; it != order.end(); ++it) x[*it] = 0.0f;
}

}  // namespace a48
