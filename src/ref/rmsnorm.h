// RMSNorm (LLaMA [TLI+23]; HF LlamaRMSNorm / BitNetRMSNorm), used before attention and FFN, as the
// attention/FFN sub-norms before o_proj/down_proj (BitNet b1.58, Figure 1) and as the final norm:
//   out = weight * (x * rsqrt(mean(x^2) + eps))
// HF computes this in fp32: variance = x.pow(2).mean(-1) in fp32, r = rsqrt(variance + eps) in
// fp32, then weight * (x * r), each product rounded to fp32. We follow that op order exactly,
// except that the mean of squares is accumulated in double and rounded once to fp32 (torch uses a
// vectorised fp32 reduction whose rounding depends on the build; the double sum is the exact value
// it approximates, so the two differ by at most a few fp32 ulps of the variance).
#pragma once

#include <span>

namespace a48::ref {

// x, weight, out: [n]; eps is applied in fp32 as in HF (rms_norm_eps cast to float).
// out may alias x. Throws a48::Error on size mismatches or an empty vector.
void rmsnorm(std::span<const float> x, std::span<const float> weight, float eps,
             std::span<float> out);

}  // namespace a48::ref
