// Decode/prefill attention for one token over the positions of its KV cache (§3.1), reading the
// cache's storage directly: fp32 rows, or the unsigned absmax codes of 8, 4 or 3 bits (bos at 4).
// Same result as ref::attention over the dequantized cache, within fp32 rounding. The quantizer
// (quant/kv_quant.h) dequantizes code u of L = 2^bits - 1 levels as gamma * (2u - L) / L, so with
// s = 2u - L the products are integer up to one scale per head and position:
//   q_hat . k_hat = (gamma_q / L_q) (gamma_p / L_p) * sum_i s_q,i s_p,i    (an exact integer dot)
//   out_i = sum_p a_p (gamma_p / L_p) s_p,i                                (a_p: softmax weights)
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/kv_cache.h"

namespace a48::cpu {

// q: [H * hd] post-RoPE query of one token (quantized here to `query_bits` as ref::attention does
// when the cache is quantized), attending positions [0, n_positions) of `layer`. out: [H * hd].
// heads [head_begin, head_end) only, so that callers can split heads over threads.
// scratch is resized as needed (one per thread).
void attend(const KvCache& cache, int64_t layer, int64_t n_positions, std::span<const float> q,
            int64_t n_heads, int query_bits, int64_t head_begin, int64_t head_end,
            std::span<float> out, std::vector<float>& scratch);

}  // namespace a48::cpu
