// Backward of causal grouped-query self-attention (ref/attention.h) over a whole sequence, in full
// precision (training does not quantize attention: §3.1's low-bit attention is post-training).
// For query position t, head h with kv head g = h / (H / H_kv):
//   s_p = (q_t,h . k_p,g) * hd^-0.5,  a = softmax(s) over p <= t,  out_t,h = sum_p a_p v_p,g
// Backward, with da_p = dout_t,h . v_p,g:
//   dv_p,g += a_p dout_t,h
//   ds_p    = a_p (da_p - sum_j a_j da_j)
//   dq_t,h  = hd^-0.5 sum_p ds_p k_p,g,   dk_p,g += hd^-0.5 ds_p q_t,h
// The probabilities a are recomputed exactly as the forward computes them; the gradients are
// accumulated in double and rounded once.
#pragma once

#include <cstdint>
#include <span>

namespace a48::ref {

// q, dout, dq: [n_tokens, H, hd]; k, v, dk, dv: [n_tokens, H_kv, hd]. Token t attends to tokens
// 0..t (the sequence starts at position 0). dq, dk, dv are written.
void attention_backward(std::span<const float> q, std::span<const float> k,
                        std::span<const float> v, std::span<const float> dout, int64_t n_tokens,
                        int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, std::span<float> dq,
                        std::span<float> dk, std::span<float> dv);

}  // namespace a48::ref
