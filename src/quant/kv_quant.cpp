// §3.1 "Low-bit attention": post-RoPE unsigned absmax quantization of Q/K/V heads.
#include "quant/kv_quant.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "quant/quant_common.h"

namespace a48 {
namespace {

void check_bits(int bits, const char* who) {
  check(bits >= 2 && bits <= 8, "{}: bits must be in [2, 8], got {}", who, bits);
}

}  // namespace

float quantize_absmax_unsigned(std::span<const float> x, int bits, std::span<uint8_t> u) {
  check_bits(bits, "quantize_absmax_unsigned");
  check(u.size() == x.size(), "quantize_absmax_unsigned: {} codes for {} inputs", u.size(),
        x.size());
  check_finite(x, "quantize_absmax_unsigned");

  float gamma = 0.0f;  // exact in float
  for (float v : x) gamma = std::max(gamma, std::fabs(v));
  // The epsilon convention: a head below eps is stored as zeros with gamma 0 (dequantizes to 0
  // whatever u is, since delta = 0 too), instead of dividing by a vanishing delta.
  if (gamma < kQuantEpsilon) {
    std::fill(u.begin(), u.end(), uint8_t{0});
    return 0.0f;
  }

  // u = round((x + gamma) / delta) with 1/delta = L/(2 gamma), in float. x = -gamma gives 0 and
  // x = gamma gives L up to one rounding of 1/delta, so both extremes land on their exact codes.
  const int levels_minus_1 = (1 << bits) - 1;  // L
  const float l = static_cast<float>(levels_minus_1);
  const float inv_delta = l / (2.0f * gamma);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float code = std::clamp(std::nearbyint((x[i] + gamma) * inv_delta), 0.0f, l);
    u[i] = static_cast<uint8_t>(code);
  }
  return gamma;
}

void dequantize_absmax_unsigned(std::span<const uint8_t> u, int bits, float gamma,
                                std::span<float> x) {
  check_bits(bits, "dequantize_absmax_unsigned");
  check(u.size() == x.size(), "dequantize_absmax_unsigned: {} codes for {} outputs", u.size(),
        x.size());
  check(std::isfinite(gamma) && gamma >= 0.0f,
        "dequantize_absmax_unsigned: gamma must be finite and >= 0, got {}", gamma);
  const int levels_minus_1 = (1 << bits) - 1;  // L
  for (std::size_t i = 0; i < u.size(); ++i) {
    check(u[i] <= levels_minus_1, "dequantize_absmax_unsigned: code {} at index {} exceeds {}",
          u[i], i, levels_minus_1);
    // u*delta - gamma written as gamma * (2u - L) / L in double: the same value, but u = 0 and
    // u = L give exactly -gamma and +gamma, and codes u and L - u give exact negatives.
    const double ratio = static_cast<double>(2 * u[i] - levels_minus_1) / levels_minus_1;
    x[i] = static_cast<float>(static_cast<double>(gamma) * ratio);
  }
}

int kv_bits_for_position(int kv_bits, int64_t position) {
  check_bits(kv_bits, "kv_bits_for_position");
  check(position >= 0, "kv_bits_for_position: negative position {}", position);
  // Table 3: the bos token's heads carry outlier features, so 3-bit caches keep position 0 at 4.
  return (kv_bits == 3 && position == 0) ? 4 : kv_bits;
}

}  // namespace a48
