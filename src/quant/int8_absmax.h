// Eq. 3: INT8 absmax activation quantization, per token.
//   Q_INT8(X) = gamma/127 * RoundClip(127/(gamma + eps) * X, -128, 127),  gamma = max(|X|)
#pragma once

#include <cstdint>
#include <span>

namespace a48 {

// Writes q in [-128, 127] (in practice [-127, 127]) and returns step = gamma/127 (x ~ step*q),
// computed as 1/s with s = 127/max(gamma, eps) as HF does; an all-zero x gives step 0.
float quantize_int8_absmax(std::span<const float> x, std::span<int8_t> q);

}  // namespace a48
