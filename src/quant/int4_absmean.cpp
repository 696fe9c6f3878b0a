// Eq. 7: INT4 absmean activation quantization, per token.
#include "quant/int4_absmean.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "quant/quant_common.h"

namespace a48 {

float quantize_int4_absmean(std::span<const float> x, std::span<int8_t> q, float beta_multiplier) {
  check(q.size() == x.size(), "quantize_int4_absmean: {} codes for {} inputs", q.size(), x.size());
  check(std::isfinite(beta_multiplier) && beta_multiplier > 0.0f,
        "quantize_int4_absmean: beta_multiplier must be finite and > 0, got {}", beta_multiplier);
  check_finite(x, "quantize_int4_absmean");

  // mean|x| accumulated in double (a token has thousands of entries), then cast to float where the
  // scale is formed, as the float32 training code does.
  double sum_abs = 0.0;
  for (float v : x) sum_abs += std::fabs(static_cast<double>(v));
  if (sum_abs == 0.0) {  // all-zero (or empty) token: step beta/sqrt(7) = 0
    std::fill(q.begin(), q.end(), int8_t{0});
    return 0.0f;
  }
  const float beta = static_cast<float>(sum_abs / static_cast<double>(x.size())) * beta_multiplier;

  // s = sqrt(7)/max(beta, eps), q = clamp(round(x*s), -8, 7): the absmean range is asymmetric
  // because two's complement INT4 has one more negative code; large entries are clipped.
  const float s = std::sqrt(7.0f) / std::max(beta, kQuantEpsilon);
  for (std::size_t i = 0; i < x.size(); ++i) {
    q[i] = static_cast<int8_t>(std::clamp(std::nearbyint(x[i] * s), -8.0f, 7.0f));
  }
  return 1.0f / s;
}

}  // namespace a48
