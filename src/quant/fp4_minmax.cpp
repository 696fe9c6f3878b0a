// Eqs. 8-9: FP4 MinMax quantization (LLM-FP4), per token, E2M1 and E1M2.
//
// With s = 2^b = top / max|X| (top = (2 - 2^-M) * 2^(2^E - 1): 12 for E2M1, 3.5 for E1M2), the
// element y = x*s has exponent p = max(floor(log2|y|), 1) and is rounded to a multiple of 2^(p-M).
// floor(log2|y|) is read exactly from y's binary exponent (std::ilogb) instead of from a float
// log2, which can land on the wrong side of a binade edge (log2f(7.9999995f) returns 3.0). Such a
// wrong exponent only occurs within an ulp of the edge, where both steps round onto the edge, so
// it would not change a code; ilogb makes that a fact of the arithmetic instead of a coincidence,
// and is what a kernel reading the exponent bits computes. The scaling by 2^(M-p) and back is
// done with std::ldexp, which is exact here.
#include "quant/fp4_minmax.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "quant/quant_common.h"

namespace a48 {
namespace {

struct Fp4Layout {
  int mantissa_bits;  // M
  float top;          // (2 - 2^-M) * 2^(2^E - 1): where max|X| lands after scaling by 2^b
  float q_max;        // top * 2^(M-1): the largest integer grid value
};

Fp4Layout fp4_layout(Fp4Format format) {
  switch (format) {
    case Fp4Format::e2m1:
      return {1, 12.0f, 12.0f};  // (2 - 1/2) * 2^3
    case Fp4Format::e1m2:
      return {2, 3.5f, 7.0f};  // (2 - 1/4) * 2^1
  }
  fail("quantize_fp4_minmax: unknown Fp4Format {}", static_cast<int>(format));
}

}  // namespace

float quantize_fp4_minmax(std::span<const float> x, Fp4Format format, std::span<int8_t> q) {
  const Fp4Layout layout = fp4_layout(format);
  check(q.size() == x.size(), "quantize_fp4_minmax: {} codes for {} inputs", q.size(), x.size());
  check_finite(x, "quantize_fp4_minmax");

  float max_abs = 0.0f;  // exact in float
  for (float v : x) max_abs = std::max(max_abs, std::fabs(v));
  if (max_abs < kQuantEpsilon) {  // as documented: a (near-)zero token becomes all zeros
    std::fill(q.begin(), q.end(), int8_t{0});
    return 0.0f;
  }

  // The same "one float scale s, codes from x*s" sequence as the integer quantizers, so that a
  // kernel doing these float operations reproduces every code.
  const int m = layout.mantissa_bits;
  const float s = layout.top / max_abs;  // 2^b
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float y = x[i] * s;  // |y| <= top up to one rounding
    if (y == 0.0f) {           // ilogb(0) is undefined; 0 is on every grid
      q[i] = 0;
      continue;
    }
    const int p = std::max(std::ilogb(y), 1);
    // grid value 2^(p-M) * Round(2^(M-p) y), scaled by 2^(M-1) to an integer:
    const float grid = std::ldexp(std::nearbyint(std::ldexp(y, m - p)), p - 1);
    // y can exceed top by one rounding only, which still rounds onto top; the clamp keeps the
    // int8 conversion defined whatever happens above.
    q[i] = static_cast<int8_t>(std::clamp(grid, -layout.q_max, layout.q_max));
  }
  return std::ldexp(1.0f / s, 1 - m);  // 2^-(b + M - 1)
}

}  // namespace a48
