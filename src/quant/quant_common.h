// Conventions shared by the paper's quantizers (§2.1, §2.3).
//
// Every activation quantizer turns one token's vector x into small integers q (int8 storage) and
// one float `step` such that the dequantized value is x_hat = step * q. A BitLinear then computes
// y = step_x * alpha_w * sum_i q_i * t_i exactly in int32, which is what integer kernels do.
//
// Rounding is round-half-to-even (std::nearbyint under the default FP environment), as torch.round.
// The paper's epsilon in "x / (gamma + eps)" only guards a division by zero; we apply it as a floor,
// max(gamma, kQuantEpsilon), as BitNet's released code does. The two agree except when gamma < eps,
// where ours maps the whole vector to zeros instead of amplifying noise.
//
// Non-finite input (NaN, +-Inf) is a bug upstream or a corrupt model file: every quantizer checks
// and throws a48::Error naming itself rather than emit garbage codes.
#pragma once

#include <cstdint>
#include <span>

namespace a48 {

inline constexpr float kQuantEpsilon = 1e-5f;

// Throws a48::Error("<who>: non-finite input at index i") if any value is NaN or infinite.
void check_finite(std::span<const float> x, const char* who);

}  // namespace a48
