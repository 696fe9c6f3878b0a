// Causal grouped-query self-attention for one query token (LLaMA / HF eager attention), with the
// paper's post-RoPE low-bit attention (§3.1, Table 3):
//   for query head h, with kv head g = h / (H / H_kv)   (HF repeat_kv: consecutive heads share g)
//     s_p   = (q_h . k_{p,g}) * hd^-0.5        p = 0 .. n_positions-1 (the causal window)
//     a     = softmax(s)                       (fp32, ref/softmax.h)
//     out_h = sum_p a_p * v_{p,g}
// The dot product is accumulated in double and rounded to fp32 before the fp32 multiply by the
// scale (HF: matmul(q, k^T) * scaling); the weighted sum of V is accumulated in double and rounded
// once. When query_bits < 16, each query head is first quantized and dequantized with the unsigned
// absmax quantizer of quant/kv_quant.h ("4-bit Q"); K and V arrive dequantized from the cache.
#pragma once

#include <cstdint>
#include <span>

namespace a48::ref {

// x: [n_heads, hd]; replaces each head by its absmax-unsigned quantize-dequantize at `bits`
// (2..8). bits == 16 leaves x unchanged.
void quantize_dequantize_heads(std::span<float> x, int64_t head_dim, int bits);

// q: [H, hd] post-RoPE; keys, values: [n_positions, H_kv, hd]; out: [H, hd].
// Throws a48::Error on shape mismatches, H % H_kv != 0 or n_positions < 1.
void attention(std::span<const float> q, std::span<const float> keys, std::span<const float> values,
               int64_t n_positions, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
               int query_bits, std::span<float> out);

}  // namespace a48::ref
