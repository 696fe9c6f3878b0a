// §3.1 "Low-bit attention": post-RoPE absmax quantization of Q, K and V heads to unsigned n-bit
// integers, per token and per head, with no calibration data.
//
//   gamma = max|x| over the head,  delta = 2*gamma / (2^n - 1)
//   u = RoundClip((x + gamma) / delta, 0, 2^n - 1),   x_hat = u*delta - gamma
//
// This uses all 2^n levels symmetrically over [-gamma, gamma]; the extreme values are exact.
// With a 3-bit KV cache, the bos position (position 0) is kept at 4 bits since it carries outlier
// features (Table 3): `kv_bits_for_position` encodes that rule.
#pragma once

#include <cstdint>
#include <span>

namespace a48 {

// Writes u in [0, 2^bits - 1] and returns gamma. bits in [2, 8]. Input with max|x| < kQuantEpsilon
// (all zeros included) gives gamma = 0 and u = 0.
float quantize_absmax_unsigned(std::span<const float> x, int bits, std::span<uint8_t> u);

// x_hat = u*delta - gamma with delta = 2*gamma/(2^bits - 1).
void dequantize_absmax_unsigned(std::span<const uint8_t> u, int bits, float gamma,
                                std::span<float> x);

// Bits actually used to store K/V at `position` for a cache configured at `kv_bits`:
// 4 for position 0 when kv_bits == 3, else kv_bits.
int kv_bits_for_position(int kv_bits, int64_t position);

}  // namespace a48
