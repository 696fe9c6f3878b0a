// Seeded inputs for the CPU kernel tests: ternary weights with a chosen share of zeros, activation
// codes of the INT4 or INT8 range with a chosen share of zeros (sparse inputs) and the -128 edge.
#pragma once

#include <bit>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "model/weights.h"

namespace a48::test {

inline LinearWeights random_ternary_weights(int64_t n_out, int64_t n_in, uint32_t seed,
                                            double zero_fraction = 1.0 / 3.0) {
  std::mt19937 rng(seed);
  std::bernoulli_distribution zero(zero_fraction), negative(0.5);
  LinearWeights w;
  w.n_out = n_out;
  w.n_in = n_in;
  w.ternary.resize(static_cast<std::size_t>(n_out * n_in));
  for (int8_t& t : w.ternary) t = zero(rng) ? 0 : (negative(rng) ? -1 : 1);
  w.scale = std::uniform_real_distribution<float>(0.01f, 3.0f)(rng);
  return w;
}

enum class CodeRange { int4, int8 };

inline const char* to_string(CodeRange r) { return r == CodeRange::int4 ? "int4" : "int8"; }

// n codes, each zero with probability zero_fraction, else uniform non-zero in [-8, 7] (int4) or
// [-128, 127] (int8). Int8 codes also get -128 and 127 at a few fixed places when non-zero there.
inline std::vector<int8_t> random_activation_codes(int64_t n, uint32_t seed, double zero_fraction,
                                                   CodeRange range) {
  std::mt19937 rng(seed);
  std::bernoulli_distribution zero(zero_fraction);
  const int lo = range == CodeRange::int4 ? -8 : -128, hi = range == CodeRange::int4 ? 7 : 127;
  std::uniform_int_distribution<int> value(lo, hi - 1);  // hi - 1: skip 0 below
  std::vector<int8_t> q(static_cast<std::size_t>(n));
  for (int8_t& v : q) {
    if (zero(rng)) continue;
    const int x = value(rng);
    v = static_cast<int8_t>(x >= 0 ? x + 1 : x);  // uniform over [lo, hi] without 0
  }
  if (range == CodeRange::int8) {
    for (int64_t i = 0; i < n; i += 17) {
      if (q[i] != 0) q[i] = i % 34 == 0 ? -128 : 127;
    }
  }
  return q;
}

inline std::vector<float> nan_floats(std::size_t n) {
  return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN());
}

// The index of the first element whose bits differ (-1 if none): exact equality, and a NaN left
// in an output that the kernel should have written never passes.
inline int64_t first_bit_difference(std::span<const float> a, std::span<const float> b) {
  if (a.size() != b.size()) return 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::bit_cast<uint32_t>(a[i]) != std::bit_cast<uint32_t>(b[i])) {
      return static_cast<int64_t>(i);
    }
  }
  return -1;
}

}  // namespace a48::test
