#include "ref/linear_backward.h"

#include <vector>

#include "core/error.h"

namespace a48::ref {

void linear_backward(std::span<const float> dy, std::span<const float> x, std::span<const float> w,
                     int64_t n_out, int64_t n_in, std::span<float> dx, std::span<double> dw) {
  check(n_out >= 0 && n_in >= 0, "linear_backward: negative shape [{}, {}]", n_out, n_in);
  check(static_cast<int64_t>(w.size()) == n_out * n_in &&
            static_cast<int64_t>(dw.size()) == n_out * n_in,
        "linear_backward: weight has {} and its gradient {} values, expected [{}, {}]", w.size(),
        dw.size(), n_out, n_in);
  check(static_cast<int64_t>(dy.size()) == n_out, "linear_backward: dy has {} values, expected {}",
        dy.size(), n_out);
  check(static_cast<int64_t>(x.size()) == n_in && static_cast<int64_t>(dx.size()) == n_in,
        "linear_backward: x has {} and dx {} values, expected {}", x.size(), dx.size(), n_in);
  const auto in = static_cast<std::size_t>(n_in);
  std::vector<double> sum(in, 0.0);  // [n_in] dx before rounding
  for (std::size_t o = 0; o < static_cast<std::size_t>(n_out); ++o) {
    const double g = dy[o];
    if (g == 0.0) continue;                  // contributes exactly nothing to either sum
    const float* w_row = w.data() + o * in;  // [n_in]
    double* dw_row = dw.data() + o * in;     // [n_in]
    for (std::size_t i = 0; i < in; ++i) {
      sum[i] += g * w_row[i];
      dw_row[i] += g * x[i];
    }
  }
  for (std::size_t i = 0; i < in; ++i) dx[i] = static_cast<float>(sum[i]);
}

}  // namespace a48::ref
