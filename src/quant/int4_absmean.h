// Eq. 7: INT4 absmean activation quantization, per token (inputs to QKV and to gate/up).
//   Q_INT4(X) = beta/sqrt(7) * RoundClip(sqrt(7)/(beta + eps) * X, -8, 7),  beta = mean(|X|)
// §3.2 uses beta = 2*mean(|X|) for the down projection in the full-INT4 ablation (`int4-all`):
// `beta_multiplier` carries that factor.
#pragma once

#include <cstdint>
#include <span>

namespace a48 {

// Writes q in [-8, 7] and returns step = beta/sqrt(7) (x ~ step*q), computed as 1/s with
// s = sqrt(7)/max(beta_multiplier*beta, eps); an all-zero x gives step 0. beta_multiplier > 0.
float quantize_int4_absmean(std::span<const float> x, std::span<int8_t> q,
                            float beta_multiplier = 1.0f);

}  // namespace a48
