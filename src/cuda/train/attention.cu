// Causal GQA attention: batched fp32 GEMMs over kv heads plus warp-per-row softmax kernels.
#include "cuda/train/attention.cuh"

#include <cmath>

#include "cuda/common/check.h"

namespace a48::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

__device__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}
__device__ double warp_sum(double v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// s: [rows, T] raw scores, rows = B*H*T with row (b, h, t) -> probabilities in place, as
// ref::attention: float(score) * scale, max, exp in fp32, sum in double, p = float(e / sum).
// One warp per row.
__global__ void causal_softmax_kernel(float* s, int64_t rows, int T, float scale) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (row >= rows) return;
  const int lane = threadIdx.x & 31;
  const int t = static_cast<int>(row % T);  // the query's position: keys 0..t are visible
  float* x = s + row * T;
  float m = -INFINITY;
  // __fmul_rn/__fsub_rn: the score is rounded before the max is subtracted, no FMA contraction.
  for (int j = lane; j <= t; j += 32) m = fmaxf(m, __fmul_rn(x[j], scale));
  m = warp_max(m);
  double sum = 0.0;
  for (int j = lane; j <= t; j += 32) sum += expf(__fsub_rn(__fmul_rn(x[j], scale), m));
  sum = warp_sum(sum);
  for (int j = lane; j < T; j += 32) {
    const float e = j <= t ? expf(__fsub_rn(__fmul_rn(x[j], scale), m)) : 0.0f;
    x[j] = static_cast<float>(static_cast<double>(e) / sum);
  }
}

// dp: [rows, T] d loss / d probs -> d loss / d scores / scale in place: p (dp - sum_j p_j dp_j).
__global__ void softmax_backward_kernel(const float* __restrict__ p, float* __restrict__ dp,
                                        int64_t rows, int T) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (row >= rows) return;
  const int lane = threadIdx.x & 31;
  const float* pr = p + row * T;
  float* dr = dp + row * T;
  double weighted = 0.0;
  for (int j = lane; j < T; j += 32) weighted += static_cast<double>(pr[j]) * dr[j];
  weighted = warp_sum(weighted);
  for (int j = lane; j < T; j += 32) {
    dr[j] = static_cast<float>(static_cast<double>(pr[j]) * (static_cast<double>(dr[j]) - weighted));
  }
}

// Element (b, t, h, i) of the token-major tensor and its head-major twin.
__global__ void permute_heads_kernel(const float* __restrict__ in, AttentionShape s, int64_t n,
                                     bool to_tokens, float* __restrict__ out) {
  const int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= n) return;
  const int64_t i = index % s.head_dim, h = (index / s.head_dim) % s.n_heads;
  const int64_t t = (index / (s.head_dim * s.n_heads)) % s.seq_len;
  const int64_t b = index / (s.head_dim * s.n_heads * s.seq_len);
  const int64_t heads = ((b * s.n_heads + h) * s.seq_len + t) * s.head_dim + i;
  if (to_tokens) {
    out[index] = in[heads];
  } else {
    out[heads] = in[index];
  }
}

void check_shape(const AttentionShape& s, const char* who) {
  check(s.batch > 0 && s.seq_len > 0 && s.n_heads > 0 && s.n_kv_heads > 0 && s.head_dim > 0 &&
            s.n_heads % s.n_kv_heads == 0 && s.seq_len <= 0x7fffffff,
        "{}: bad shape (B {}, T {}, H {}, H_kv {}, hd {})", who, s.batch, s.seq_len, s.n_heads,
        s.n_kv_heads, s.head_dim);
}

float attention_scale(int64_t head_dim) {
  return static_cast<float>(std::pow(static_cast<double>(head_dim), -0.5));  // as ref::attention
}

unsigned row_blocks(int64_t rows) { return static_cast<unsigned>((rows + kWarps - 1) / kWarps); }

// One batched product over the B*H_kv kv heads (see attention.cuh); strides from the shapes.
struct HeadProducts {
  GemmContext& gemm;
  const AttentionShape& s;
  int64_t gt() const { return s.group() * s.seq_len; }  // rows of a group's query block
  void run(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, bool trans_a,
           int64_t stride_a, const float* b, int64_t ldb, bool trans_b, int64_t stride_b, float* c,
           int64_t ldc, int64_t stride_c, float alpha) const {
    GemmArgs g;
    g.m = m, g.n = n, g.k = k;
    g.a = a, g.lda = lda, g.trans_a = trans_a, g.stride_a = stride_a;
    g.b = b, g.ldb = ldb, g.trans_b = trans_b, g.stride_b = stride_b;
    g.c = c, g.ldc = ldc, g.stride_c = stride_c;
    g.alpha = alpha;
    g.precision = GemmPrecision::fp32;
    g.batch = s.batch * s.n_kv_heads;
    gemm.matmul(g);
  }
};

}  // namespace

void attention_forward(GemmContext& gemm, const float* q, const float* k, const float* v,
                       const AttentionShape& s, float* probs, float* out, cudaStream_t stream) {
  check_shape(s, "attention_forward");
  const HeadProducts hp{gemm, s};
  const int64_t T = s.seq_len, hd = s.head_dim, gt = hp.gt();
  // S = Q K^T: [G*T, hd] x [T, hd]^T per kv head.
  hp.run(gt, T, hd, q, hd, false, gt * hd, k, hd, true, T * hd, probs, T, gt * T, 1.0f);
  const int64_t rows = s.batch * s.n_heads * T;
  causal_softmax_kernel<<<row_blocks(rows), kThreads, 0, stream>>>(probs, rows, static_cast<int>(T),
                                                                   attention_scale(hd));
  CUDA_CHECK_LAUNCH();
  // O = P V: [G*T, T] x [T, hd].
  hp.run(gt, hd, T, probs, T, false, gt * T, v, hd, false, T * hd, out, hd, gt * hd, 1.0f);
}

void attention_backward(GemmContext& gemm, const float* q, const float* k, const float* v,
                        const float* probs, const float* dout, const AttentionShape& s,
                        float* dprobs, float* dq, float* dk, float* dv, cudaStream_t stream) {
  check_shape(s, "attention_backward");
  const HeadProducts hp{gemm, s};
  const int64_t T = s.seq_len, hd = s.head_dim, gt = hp.gt();
  const float scale = attention_scale(hd);
  // dP = dO V^T: [G*T, hd] x [T, hd]^T.
  hp.run(gt, T, hd, dout, hd, false, gt * hd, v, hd, true, T * hd, dprobs, T, gt * T, 1.0f);
  // dV = P^T dO: [G*T, T]^T x [G*T, hd], summing the group's heads.
  hp.run(T, hd, gt, probs, T, true, gt * T, dout, hd, false, gt * hd, dv, hd, T * hd, 1.0f);
  const int64_t rows = s.batch * s.n_heads * T;
  softmax_backward_kernel<<<row_blocks(rows), kThreads, 0, stream>>>(probs, dprobs, rows,
                                                                     static_cast<int>(T));
  CUDA_CHECK_LAUNCH();
  // dQ = scale dS K: [G*T, T] x [T, hd].  dK = scale dS^T Q: [G*T, T]^T x [G*T, hd].
  hp.run(gt, hd, T, dprobs, T, false, gt * T, k, hd, false, T * hd, dq, hd, gt * hd, scale);
  hp.run(T, hd, gt, dprobs, T, true, gt * T, q, hd, false, gt * hd, dk, hd, T * hd, scale);
}

void heads_to_tokens(const float* heads, const AttentionShape& s, float* tokens,
                     cudaStream_t stream) {
  check_shape(s, "heads_to_tokens");
  const int64_t n = s.tokens() * s.n_heads * s.head_dim;
  permute_heads_kernel<<<static_cast<unsigned>((n + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
      heads, s, n, true, tokens);
  CUDA_CHECK_LAUNCH();
}

void tokens_to_heads(const float* tokens, const AttentionShape& s, float* heads,
                     cudaStream_t stream) {
  check_shape(s, "tokens_to_heads");
  const int64_t n = s.tokens() * s.n_heads * s.head_dim;
  permute_heads_kernel<<<static_cast<unsigned>((n + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
      tokens, s, n, false, heads);
  CUDA_CHECK_LAUNCH();
}

}  // namespace a48::cuda
