#include "ref/linear.h"

#include "core/error.h"

namespace a48::ref {

float linear_row(std::span<const float> x, std::span<const float> w_row) {
  check(x.size() == w_row.size(), "linear: input has {} values, weight row {}", x.size(),
        w_row.size());
  double sum = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) sum += static_cast<double>(x[i]) * w_row[i];
  return static_cast<float>(sum);
}

void linear(std::span<const float> x, std::span<const float> w, int64_t n_out, int64_t n_in,
            std::span<float> y) {
  check(n_out >= 0 && n_in >= 0, "linear: negative shape [{}, {}]", n_out, n_in);
  check(static_cast<int64_t>(w.size()) == n_out * n_in,
        "linear: weight has {} values, expected [{}, {}]", w.size(), n_out, n_in);
  check(static_cast<int64_t>(x.size()) == n_in, "linear: input has {} values, expected {}",
        x.size(), n_in);
  check(static_cast<int64_t>(y.size()) == n_out, "linear: output has {} values, expected {}",
        y.size(), n_out);
  for (int64_t o = 0; o < n_out; ++o) {
    y[static_cast<std::size_t>(o)] = linear_row(
        x, w.subspan(static_cast<std::size_t>(o * n_in), static_cast<std::size_t>(n_in)));
  }
}

float linear_ternary_row(std::span<const float> x, std::span<const int8_t> t_row, float alpha) {
  check(x.size() == t_row.size(), "linear_ternary: input has {} values, weight row {}", x.size(),
        t_row.size());
  double sum = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) sum += static_cast<double>(x[i]) * t_row[i];
  return static_cast<float>(static_cast<double>(alpha) * sum);
}

}  // namespace a48::ref
