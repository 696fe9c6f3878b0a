// Seeded random inputs for the reference-op tests.
#pragma once

#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace a48::test {

// n values uniform in [-scale, scale).
inline std::vector<float> random_floats(std::size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// n integers uniform in [lo, hi].
inline std::vector<int8_t> random_codes(std::size_t n, uint32_t seed, int lo, int hi) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<int8_t> v(n);
  for (int8_t& x : v) x = static_cast<int8_t>(dist(rng));
  return v;
}

inline std::vector<float> nan_vector(std::size_t n) {
  return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN());
}

}  // namespace a48::test
