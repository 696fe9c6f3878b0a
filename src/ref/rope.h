// Rotary position embedding (RoFormer [SLP+21], as used by LLaMA and BitNet), in HF's
// "rotate_half" convention (NOT the interleaved pairs of the original paper / GPT-J): element i of
// a head is rotated together with element i + hd/2, for i < hd/2:
//   out[i]        = x[i] * cos(p*f_i) - x[i + hd/2] * sin(p*f_i)
//   out[i + hd/2] = x[i + hd/2] * cos(p*f_i) + x[i] * sin(p*f_i)
// with f_i = 1 / theta^(2i/hd). Op order and precision follow HF LlamaRotaryEmbedding in fp32:
//   inv_freq = 1.0 / (base ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
//   freqs = inv_freq * float(position);  cos, sin of freqs in fp32
//   q_embed = (q * cos) + (rotate_half(q) * sin)      (three fp32 roundings per element)
// Our cos/sin/pow are the C library's fp32 functions (glibc's are correctly rounded or within
// 1 ulp), torch's are its own vectorised ones: they may differ from HF's by an ulp.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace a48::ref {

// inv_freq: [hd/2], f_i = 1 / theta^(2i/hd) in fp32 as HF computes it. hd must be even and > 0.
std::vector<float> rope_inv_freq(int64_t head_dim, double theta);

// cos(p*f_i), sin(p*f_i) for i < hd/2 (fp32, as HF): what every head of one position rotates by.
void rope_angles(int64_t head_dim, double theta, int64_t position, std::span<float> cos_out,
                 std::span<float> sin_out);
// Rotates every head of x in place by angles from rope_angles. x: [n_heads, hd].
void rope_rotate(std::span<float> x, int64_t n_heads, int64_t head_dim,
                 std::span<const float> cos, std::span<const float> sin);
// rope_angles then rope_rotate. Rotates every head of x in place. x: [n_heads, hd] (row-major), position >= 0.
void rope(std::span<float> x, int64_t n_heads, int64_t head_dim, int64_t position, double theta);

}  // namespace a48::ref
