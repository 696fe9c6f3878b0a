// Eq. 2: ternary absmean weight quantization (BitNet b1.58), one scale per tensor.
#include "quant/ternary_absmean.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "quant/quant_common.h"

namespace a48 {

float quantize_ternary_absmean(std::span<const float> w, std::span<int8_t> codes) {
  check(codes.size() == w.size(), "quantize_ternary_absmean: {} codes for {} weights", codes.size(),
        w.size());
  check_finite(w, "quantize_ternary_absmean");

  // mean|w| is accumulated in double: a tensor holds millions of weights and a float running sum
  // loses the low bits of each term long before the end. The mean is then cast to float because
  // HF's BitNet code (`1.0 / w.abs().mean().clamp(min=1e-5)`) divides in float32.
  double sum_abs = 0.0;
  for (float v : w) sum_abs += std::fabs(static_cast<double>(v));
  if (sum_abs == 0.0) {  // an all-zero (or empty) tensor has zero scale, not eps
    std::fill(codes.begin(), codes.end(), int8_t{0});
    return 0.0f;
  }
  const float mean_abs = static_cast<float>(sum_abs / static_cast<double>(w.size()));

  // Same float operations as HF: s = 1/max(mean, eps), t = clamp(round(w*s), -1, 1), alpha = 1/s.
  // alpha equals max(mean|w|, eps) up to the rounding of the two float divisions.
  const float s = 1.0f / std::max(mean_abs, kQuantEpsilon);
  for (std::size_t i = 0; i < w.size(); ++i) {
    const float t = std::clamp(std::nearbyint(w[i] * s), -1.0f, 1.0f);
    codes[i] = static_cast<int8_t>(t);
  }
  return 1.0f / s;
}

}  // namespace a48
