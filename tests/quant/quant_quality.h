// Test helpers for the quantizers: distortion statistics of a dequantized vector against its input
// (as gemma.cpp's DistortionStats) and seeded Gaussian / uniform inputs.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <vector>

namespace a48::test {

struct QuantQuality {
  double snr_db = 0.0;   // 10 log10(sum x^2 / sum (x - x_hat)^2); +inf when exact
  double rel_l1 = 0.0;   // sum |x - x_hat| / sum |x|
  int64_t n_exact = 0;   // x_hat == x
  int64_t n_zeroed = 0;  // x != 0 but x_hat == 0
  int64_t n = 0;
};

// Accumulates over many calls, so one report can cover many tokens.
class QualityAccumulator {
 public:
  void add(std::span<const float> x, std::span<const float> x_hat) {
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double e = static_cast<double>(x[i]) - x_hat[i];
      signal_ += static_cast<double>(x[i]) * x[i];
      noise_ += e * e;
      abs_x_ += std::fabs(static_cast<double>(x[i]));
      abs_e_ += std::fabs(e);
      exact_ += x_hat[i] == x[i];
      zeroed_ += x[i] != 0.0f && x_hat[i] == 0.0f;
    }
    n_ += static_cast<int64_t>(x.size());
  }
  QuantQuality result() const {
    QuantQuality q;
    q.snr_db = noise_ == 0.0 ? std::numeric_limits<double>::infinity()
                             : 10.0 * std::log10(signal_ / noise_);
    q.rel_l1 = abs_x_ == 0.0 ? 0.0 : abs_e_ / abs_x_;
    q.n_exact = exact_;
    q.n_zeroed = zeroed_;
    q.n = n_;
    return q;
  }

 private:
  double signal_ = 0.0, noise_ = 0.0, abs_x_ = 0.0, abs_e_ = 0.0;
  int64_t exact_ = 0, zeroed_ = 0, n_ = 0;
};

inline std::vector<float> gaussian_vector(std::mt19937& rng, std::size_t n, float sigma = 1.0f) {
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

inline std::vector<float> uniform_vector(std::mt19937& rng, std::size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// x_hat = step * q for the integer-code quantizers.
inline std::vector<float> dequantize(std::span<const int8_t> q, float step) {
  std::vector<float> out(q.size());
  for (std::size_t i = 0; i < q.size(); ++i) out[i] = step * static_cast<float>(q[i]);
  return out;
}

// Awkward sizes for property tests: around SIMD widths and tiles, plus the model's hidden size.
inline constexpr std::size_t kAwkwardSizes[] = {1, 2, 3, 7, 31, 33, 63, 65, 257, 2560};

}  // namespace a48::test
