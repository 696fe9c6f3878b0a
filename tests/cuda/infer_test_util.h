// Shared pieces of the CUDA inference tests: random ternary matrices and activation codes, and
// their device images in the layout the kernels read (cuda/infer/bitlinear.h).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "cuda/common/device_buffer.h"
#include "cuda/infer/bitlinear.h"
#include "model/weights.h"

namespace a48::test {

// Codes in {-1, 0, 1} with P(0) = zero_fraction, and a positive scale.
inline LinearWeights random_ternary(int64_t n_out, int64_t n_in, uint32_t seed, double zero_fraction = 0.4) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  LinearWeights w;
  w.n_out = n_out;
  w.n_in = n_in;
  w.ternary.resize(static_cast<std::size_t>(n_out * n_in));
  for (int8_t& t : w.ternary) {
    const double r = u(rng);
    t = r < zero_fraction ? 0 : (r < zero_fraction + (1 - zero_fraction) / 2 ? 1 : -1);
  }
  w.scale = static_cast<float>(0.01 + u(rng));
  return w;
}

// [n_tokens, n] int8 codes in [lo, hi] with P(0) >= zero_fraction.
inline std::vector<int8_t> random_codes(int64_t n_tokens, int64_t n, uint32_t seed, int lo, int hi,
                                        double zero_fraction) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<int8_t> q(static_cast<std::size_t>(n_tokens * n));
  for (int8_t& v : q) v = u(rng) < zero_fraction ? 0 : static_cast<int8_t>(d(rng));
  return q;
}

// Device codes padded to the kernels' stride, with steps and sums.
struct DeviceCodes {
  cuda::DeviceBuffer<int8_t> q;
  cuda::DeviceBuffer<float> step;
  cuda::DeviceBuffer<int32_t> sum;
  cuda::ActivationCodes view;
};

inline DeviceCodes upload_codes(const std::vector<int8_t>& q, int64_t n_tokens, int64_t n,
                                const std::vector<float>& steps) {
  const int64_t ld = cuda::padded_codes(n);
  std::vector<int8_t> padded(static_cast<std::size_t>(n_tokens * ld), 0);
  std::vector<int32_t> sums(static_cast<std::size_t>(n_tokens), 0);
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t i = 0; i < n; ++i) {
      const int8_t v = q[static_cast<std::size_t>(t * n + i)];
      padded[static_cast<std::size_t>(t * ld + i)] = v;
      sums[static_cast<std::size_t>(t)] += v;
    }
  }
  DeviceCodes d{cuda::to_device(padded), cuda::to_device(steps), cuda::to_device(sums), {}};
  d.view = {d.q.data(), ld, d.step.data(), d.sum.data(), n_tokens};
  return d;
}

}  // namespace a48::test
