// Causal grouped-query attention for training, fp32 (ref/attention.h, ref/attention_backward.h).
//
// Head-major tensors make every product a strided batched GEMM over the B*H_kv kv heads: the
// `group` query heads sharing kv head g are consecutive, so for fixed (b, g) their rows form one
// [group*T, hd] matrix:
//   S  = Q_bg K_bg^T                     [group*T, T]   (scaled by hd^-0.5 in the softmax)
//   P  = causal_softmax(S * hd^-0.5)     row (h, t) sees keys 0..t; masked entries are 0
//   O  = P V_bg                          [group*T, hd]
// and the backward's sums over the group's heads (dK, dV) come out of the products themselves:
//   dP = dO V^T,  dV = P^T dO,  dS = P (dP - rowsum(P dP)),  dQ = hd^-0.5 dS K,  dK = hd^-0.5 dS^T Q
// The full T x T products are computed (the masked half is zero): simple, and at T = 512 the
// attention products are a small part of a step. All products run in plain fp32 (no TF32).
// Host launchers; plain C++ may include this header.
#pragma once

#include <cuda_runtime_api.h>

#include "cuda/common/gemm.h"
#include "cuda/train/rope.cuh"

namespace a48::cuda {

// q: [B, H, T, hd]; k, v: [B, H_kv, T, hd]; probs: [B, H, T, T] (kept for the backward);
// out: [B, H, T, hd].
void attention_forward(GemmContext& gemm, const float* q, const float* k, const float* v,
                       const AttentionShape& shape, float* probs, float* out, cudaStream_t stream);

// dout: [B, H, T, hd]; dprobs: [B, H, T, T] scratch; writes dq [B, H, T, hd], dk, dv [B, H_kv, T, hd].
void attention_backward(GemmContext& gemm, const float* q, const float* k, const float* v,
                        const float* probs, const float* dout, const AttentionShape& shape,
                        float* dprobs, float* dq, float* dk, float* dv, cudaStream_t stream);

// [B, H, T, hd] <-> [B, T, H*hd] (token-major rows, as the norms and projections read them).
void heads_to_tokens(const float* heads, const AttentionShape& shape, float* tokens,
                     cudaStream_t stream);
void tokens_to_heads(const float* tokens, const AttentionShape& shape, float* heads,
                     cudaStream_t stream);

}  // namespace a48::cuda
