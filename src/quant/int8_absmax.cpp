// Eq. 3: INT8 absmax activation quantization, per token.
#include "quant/int8_absmax.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "quant/quant_common.h"

namespace a48 {

float quantize_int8_absmax(std::span<const float> x, std::span<int8_t> q) {
  check(q.size() == x.size(), "quantize_int8_absmax: {} codes for {} inputs", q.size(), x.size());
  check_finite(x, "quantize_int8_absmax");

  // A maximum of floats is exact in float; no wider accumulator is needed here.
  float gamma = 0.0f;
  for (float v : x) gamma = std::max(gamma, std::fabs(v));
  if (gamma == 0.0f) {  // all-zero (or empty) token: step gamma/127 = 0
    std::fill(q.begin(), q.end(), int8_t{0});
    return 0.0f;
  }

  // The float operations of HF's BitNet `activation_quant`: s = 127/max(gamma, eps),
  // q = clamp(round(x*s), -128, 127). Keeping this exact sequence makes the codes bit-identical.
  const float s = 127.0f / std::max(gamma, kQuantEpsilon);
  for (std::size_t i = 0; i < x.size(); ++i) {
    q[i] = static_cast<int8_t>(std::clamp(std::nearbyint(x[i] * s), -128.0f, 127.0f));
  }
  return 1.0f / s;
}

}  // namespace a48
