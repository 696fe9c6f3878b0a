#include "ref/softmax.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace a48::ref {

namespace {

// Returns max(x) after checking the row is usable.
float checked_max(std::span<const float> x, std::span<float> out, const char* who) {
  check(!x.empty(), "{}: empty row", who);
  check(out.size() == x.size(), "{}: output has {} values, input {}", who, out.size(), x.size());
  float m = -std::numeric_limits<float>::infinity();
  for (std::size_t i = 0; i < x.size(); ++i) {
    check(!std::isnan(x[i]) && x[i] != std::numeric_limits<float>::infinity(),
          "{}: input {} at index {} is NaN or +inf", who, x[i], i);
    if (x[i] > m) m = x[i];
  }
  check(std::isfinite(m), "{}: every input is -inf", who);
  return m;
}

// sum_j exp(x_j - m), exp in fp32, sum in double.
double sum_exp(std::span<const float> x, float m) {
  double sum = 0.0;
  for (float v : x) sum += std::exp(v - m);  // exp(-inf) = 0 for masked entries
  return sum;
}

}  // namespace

void softmax(std::span<const float> x, std::span<float> out) {
  const float m = checked_max(x, out, "softmax");
  const double sum = sum_exp(x, m);  // >= 1: the max contributes exp(0)
  for (std::size_t i = 0; i < x.size(); ++i) {
    out[i] = static_cast<float>(static_cast<double>(std::exp(x[i] - m)) / sum);
  }
}

void log_softmax(std::span<const float> x, std::span<float> out) {
  const float m = checked_max(x, out, "log_softmax");
  const double log_sum = std::log(sum_exp(x, m));
  for (std::size_t i = 0; i < x.size(); ++i) {
    out[i] = static_cast<float>(static_cast<double>(x[i] - m) - log_sum);
  }
}

}  // namespace a48::ref
