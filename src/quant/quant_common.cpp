#include "quant/quant_common.h"

#include <cmath>

#include "core/error.h"

namespace a48 {

void check_finite(std::span<const float> x, const char* who) {
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) fail("{}: non-finite input {} at index {}", who, x[i], i);
  }
}

}  // namespace a48
