// SplitMix64 (Steele, Lea and Flood 2014; Vigna's reference splitmix64.c): a tiny generator whose
// output is fixed by its definition, unlike std::shuffle or std::uniform_int_distribution, whose
// algorithms differ between standard libraries. The data order of a training run, and so its
// bit-identical resume, must not depend on the compiler.
#pragma once

#include <cstdint>

namespace a48 {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  // Uniform in [0, bound), bound >= 1, without modulo bias: draws below 2^64 mod bound are
  // rejected, so every residue has the same number of accepted draws.
  uint64_t below(uint64_t bound) {
    const uint64_t threshold = (0 - bound) % bound;  // = 2^64 mod bound
    uint64_t x = next();
    while (x < threshold) x = next();
    return x % bound;
  }

  uint64_t state() const { return state_; }

 private:
  uint64_t state_;
};

}  // namespace a48
