// Shared pieces of the CUDA tests: the no-device skip, seeded inputs, device buffers poisoned
// with NaN, and norm-based comparisons.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <vector>

#include "cuda/common/device_buffer.h"
#include "cuda/device_info.h"

// Every CUDA test starts with this: CI machines have no GPU.
#define A48_REQUIRE_CUDA_DEVICE()                                                   \
  do {                                                                              \
    if (::a48::cuda::describe_devices().empty()) GTEST_SKIP() << "no CUDA device"; \
  } while (0)

namespace a48::test {

// n values uniform in [-scale, scale).
inline std::vector<float> uniform(std::size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// n integers uniform in [lo, hi], as floats.
inline std::vector<float> integers(std::size_t n, uint32_t seed, int lo, int hi) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(dist(rng));
  return v;
}

// A device buffer of n floats with every bit set: NaN until a kernel writes it.
inline cuda::DeviceBuffer<float> poisoned(std::size_t n) {
  cuda::DeviceBuffer<float> b(n);
  b.fill_bytes(0xFF);
  return b;
}

// ||a - b|| / ||b|| in double; NaN anywhere gives NaN (which fails every bound).
template <class A, class B>
double relative_l2(const std::vector<A>& a, const std::vector<B>& b) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0.0, norm = 0.0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    diff += d * d;
    norm += static_cast<double>(b[i]) * static_cast<double>(b[i]);
  }
  if (norm == 0.0) return std::sqrt(diff);
  return std::sqrt(diff / norm);
}

// Largest |a - b| / max(|b|, floor) over the elements; NaN anywhere gives NaN.
template <class A, class B>
double max_relative(const std::vector<A>& a, const std::vector<B>& b, double floor) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    const double e = d / std::max(std::fabs(static_cast<double>(b[i])), floor);
    if (std::isnan(e)) return std::numeric_limits<double>::quiet_NaN();
    worst = std::max(worst, e);
  }
  return worst;
}

}  // namespace a48::test
