// q/k/v epilogue + RoPE: one thread per rotation pair (token n, head j, i < hd/2), i fastest so
// that reads of the fused row and writes of each head are coalesced.
#include "cuda/train/rope.cuh"

#include <cmath>

#include "cuda/common/check.h"
#include "ref/rope.h"

namespace a48::cuda {

namespace {

constexpr int kThreads = 256;

struct PairIndex {
  int64_t n, b, t;  // token, its sequence and position
  int64_t j, i;     // head in the fused row (q heads, then k, then v), pair index < hd/2
};

__device__ PairIndex pair_index(int64_t index, const AttentionShape& s) {
  const int64_t half = s.head_dim / 2, heads = s.n_heads + 2 * s.n_kv_heads;
  PairIndex p;
  p.n = index / (heads * half);
  const int64_t rem = index % (heads * half);
  p.j = rem / half;
  p.i = rem % half;
  p.b = p.n / s.seq_len;
  p.t = p.n % s.seq_len;
  return p;
}

// Offset of element i of head j's row for token (b, t) in the head-major q, k or v; part 0, 1, 2.
__device__ int64_t head_major_offset(const PairIndex& p, const AttentionShape& s, int* part) {
  int64_t head = p.j, n_heads = s.n_heads;
  *part = 0;
  if (p.j >= s.n_heads) {
    *part = p.j < s.n_heads + s.n_kv_heads ? 1 : 2;
    head = p.j - s.n_heads - (*part == 2 ? s.n_kv_heads : 0);
    n_heads = s.n_kv_heads;
  }
  return ((p.b * n_heads + head) * s.seq_len + p.t) * s.head_dim + p.i;
}

__global__ void qkv_rope_forward_kernel(const float* __restrict__ raw, const float* __restrict__ step,
                                        const float* __restrict__ alpha, const float* __restrict__ cos,
                                        const float* __restrict__ sin, AttentionShape s,
                                        int64_t n_pairs, float* __restrict__ q,
                                        float* __restrict__ k, float* __restrict__ v) {
  const int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= n_pairs) return;
  const PairIndex p = pair_index(index, s);
  const int64_t half = s.head_dim / 2, width = (s.n_heads + 2 * s.n_kv_heads) * s.head_dim;
  int part = 0;
  const int64_t out = head_major_offset(p, s, &part);
  const double scale = static_cast<double>(alpha[part]) * static_cast<double>(step[p.n]);
  const int64_t in = p.n * width + p.j * s.head_dim + p.i;
  const float x1 = static_cast<float>(scale * static_cast<double>(raw[in]));
  const float x2 = static_cast<float>(scale * static_cast<double>(raw[in + half]));
  float* dst = part == 0 ? q : (part == 1 ? k : v);
  if (part == 2) {
    dst[out] = x1;
    dst[out + half] = x2;
    return;
  }
  const float c = cos[p.t * half + p.i], sn = sin[p.t * half + p.i];
  // (x * cos) + (rotate_half(x) * sin), each product and the sum rounded: no FMA contraction.
  dst[out] = __fadd_rn(__fmul_rn(x1, c), __fmul_rn(-x2, sn));
  dst[out + half] = __fadd_rn(__fmul_rn(x2, c), __fmul_rn(x1, sn));
}

__global__ void qkv_rope_backward_kernel(const float* __restrict__ dq, const float* __restrict__ dk,
                                         const float* __restrict__ dv, const float* __restrict__ cos,
                                         const float* __restrict__ sin, AttentionShape s,
                                         int64_t n_pairs, float* __restrict__ d_qkv) {
  const int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= n_pairs) return;
  const PairIndex p = pair_index(index, s);
  const int64_t half = s.head_dim / 2, width = (s.n_heads + 2 * s.n_kv_heads) * s.head_dim;
  int part = 0;
  const int64_t in = head_major_offset(p, s, &part);
  const float* src = part == 0 ? dq : (part == 1 ? dk : dv);
  const int64_t out = p.n * width + p.j * s.head_dim + p.i;
  const double g1 = src[in], g2 = src[in + half];
  if (part == 2) {
    d_qkv[out] = static_cast<float>(g1);
    d_qkv[out + half] = static_cast<float>(g2);
    return;
  }
  const double c = cos[p.t * half + p.i], sn = sin[p.t * half + p.i];  // the forward's fp32 values
  d_qkv[out] = static_cast<float>(g1 * c + g2 * sn);
  d_qkv[out + half] = static_cast<float>(g2 * c - g1 * sn);
}

void check_shape(const AttentionShape& s, const char* who) {
  check(s.batch > 0 && s.seq_len > 0 && s.n_heads > 0 && s.n_kv_heads > 0 && s.head_dim > 0 &&
            s.head_dim % 2 == 0 && s.n_heads % s.n_kv_heads == 0,
        "{}: bad shape (B {}, T {}, H {}, H_kv {}, hd {})", who, s.batch, s.seq_len, s.n_heads,
        s.n_kv_heads, s.head_dim);
}

unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

}  // namespace

RopeTables rope_tables(int64_t head_dim, double theta, int64_t n_positions) {
  const std::vector<float> inv_freq = ref::rope_inv_freq(head_dim, theta);  // [hd/2]
  const auto half = static_cast<std::size_t>(head_dim / 2);
  RopeTables tables;
  tables.cos.resize(static_cast<std::size_t>(n_positions) * half);
  tables.sin.resize(tables.cos.size());
  for (int64_t t = 0; t < n_positions; ++t) {
    const float pos = static_cast<float>(t);  // position_ids.float(), as ref::rope
    for (std::size_t i = 0; i < half; ++i) {
      const float freq = inv_freq[i] * pos;
      tables.cos[static_cast<std::size_t>(t) * half + i] = std::cos(freq);
      tables.sin[static_cast<std::size_t>(t) * half + i] = std::sin(freq);
    }
  }
  return tables;
}

void qkv_rope_forward(const float* raw, const float* step, const float* alpha, const float* cos,
                      const float* sin, const AttentionShape& shape, float* q, float* k, float* v,
                      cudaStream_t stream) {
  check_shape(shape, "qkv_rope_forward");
  const int64_t n_pairs =
      shape.tokens() * (shape.n_heads + 2 * shape.n_kv_heads) * (shape.head_dim / 2);
  qkv_rope_forward_kernel<<<blocks_for(n_pairs), kThreads, 0, stream>>>(raw, step, alpha, cos, sin,
                                                                        shape, n_pairs, q, k, v);
  CUDA_CHECK_LAUNCH();
}

void qkv_rope_backward(const float* dq, const float* dk, const float* dv, const float* cos,
                       const float* sin, const AttentionShape& shape, float* d_qkv,
                       cudaStream_t stream) {
  check_shape(shape, "qkv_rope_backward");
  const int64_t n_pairs =
      shape.tokens() * (shape.n_heads + 2 * shape.n_kv_heads) * (shape.head_dim / 2);
  qkv_rope_backward_kernel<<<blocks_for(n_pairs), kThreads, 0, stream>>>(dq, dk, dv, cos, sin,
                                                                         shape, n_pairs, d_qkv);
  CUDA_CHECK_LAUNCH();
}

}  // namespace a48::cuda
