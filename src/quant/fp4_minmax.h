// Eqs. 8-9: FP4 MinMax quantization (LLM-FP4 [LLH+23]), per token, formats E2M1 and E1M2.
//
//   b = log2((2 - 2^-M) / max|X|) + 2^E - 1                       (eq. 9, a real-valued bias)
//   p = max(floor(log2|x| + b), 1)                                (the element's exponent)
//   Q(x) = 2^(p-M-b) * Round(2^(M+b-p) * x)                       (eq. 8)
//
// The paper typesets the floor as floor(log2|X|) + b; with a real-valued b that makes b cancel out
// of the step and is not a 4-bit format, so we follow LLM-FP4, where the floor covers log2|x| + b.
// Then x * 2^b lies on the grid {0, 1, 2, 3, 4, 6, 8, 12} (E2M1, i.e. 2x the OCP E2M1 values) or
// {0, 0.5, ..., 3.5} (E1M2), with max|X| landing on the top value. Scaling that grid by 2^(M-1)
// makes every point an integer: q in {0,+-1,+-2,+-3,+-4,+-6,+-8,+-12} (E2M1) or [-7, 7] (E1M2),
// so FP4 fits the same "int8 q times one float step" contract as the integer quantizers, and its
// codes ride INT8 tensor cores exactly.
#pragma once

#include <cstdint>
#include <span>

namespace a48 {

enum class Fp4Format { e2m1, e1m2 };

// Writes integer grid values q (see above) and returns step = 2^-(b+M-1) (x ~ step*q).
// All-zero (or max|x| < eps) input gives step 0 and q = 0.
float quantize_fp4_minmax(std::span<const float> x, Fp4Format format, std::span<int8_t> q);

}  // namespace a48
