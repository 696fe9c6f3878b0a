// Eq. 2: ternary absmean weight quantization (BitNet b1.58).
//   Q_w(W) = alpha * RoundClip(W / (alpha + eps), -1, 1),  alpha = mean(|W|)
// One scale per weight matrix (per tensor), as in the paper and the 2B4T checkpoint.
#pragma once

#include <cstdint>
#include <span>

namespace a48 {

// Writes codes in {-1, 0, 1} (codes.size() == w.size()) and returns alpha, so that W ~ alpha*codes.
// alpha is computed as 1/s with s = 1/max(mean|W|, eps), as HF does, so it equals mean|W| up to
// that floor and float rounding. All-zero W gives alpha = 0 and all-zero codes. Throws on
// non-finite weights.
float quantize_ternary_absmean(std::span<const float> w, std::span<int8_t> codes);

}  // namespace a48
