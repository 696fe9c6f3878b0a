// The q/k/v projections' epilogue and RoPE (ref/rope.h, ref/rope_backward.h) for training.
//
// Forward: the fused q|k|v product's raw rows ([N, H*hd + 2*H_kv*hd], N = B*T tokens, token
// n = b*T + t at position t) become values as ref::bitlinear_row forms them,
//   y = float(double(alpha_part) * double(step[n]) * double(raw))       (raw: an exact integer)
// q and k are rotated (HF rotate_half, three fp32 roundings per element, as ref::rope), and all
// three are written head-major for the batched attention products:
//   q: [B, H, T, hd]    k, v: [B, H_kv, T, hd]
// Backward: the head-major gradients are rotated back (in double, as ref::rope_backward) and
// gathered into one token-major [N, H*hd + 2*H_kv*hd] gradient of the fused product.
// Host launchers; plain C++ may include this header.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

namespace a48::cuda {

struct AttentionShape {
  int64_t batch = 0, seq_len = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0;
  int64_t tokens() const { return batch * seq_len; }
  int64_t group() const { return n_heads / n_kv_heads; }  // query heads per kv head
};

// cos/sin of position * inv_freq for positions [0, n_positions): [n_positions, hd/2] each, with
// the C library's fp32 functions on the same fp32 arguments as ref::rope (so bit-identical).
struct RopeTables {
  std::vector<float> cos, sin;
};
RopeTables rope_tables(int64_t head_dim, double theta, int64_t n_positions);

// raw: [N, (H + 2 H_kv) hd]; step: [N]; alpha: device [3] (q, k, v). cos/sin: device tables of
// rope_tables with n_positions >= T.
void qkv_rope_forward(const float* raw, const float* step, const float* alpha, const float* cos,
                      const float* sin, const AttentionShape& shape, float* q, float* k, float* v,
                      cudaStream_t stream);

// dq: [B, H, T, hd], dk, dv: [B, H_kv, T, hd] -> d_qkv: [N, (H + 2 H_kv) hd].
void qkv_rope_backward(const float* dq, const float* dk, const float* dv, const float* cos,
                       const float* sin, const AttentionShape& shape, float* d_qkv,
                       cudaStream_t stream);

}  // namespace a48::cuda
