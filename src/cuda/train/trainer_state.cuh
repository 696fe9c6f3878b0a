// The CUDA trainer's device state and the plan of one pass: shared by trainer.cu (API, loss,
// optimizer), trainer_forward.cu and trainer_backward.cu. Internal to the trainer.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "cuda/common/device_buffer.h"
#include "cuda/common/gemm.h"
#include "cuda/train/rope.cuh"
#include "cuda/train/ternary.cuh"
#include "cuda/train/trainer.h"
#include "model/activation_scheme.h"

namespace a48::cuda {

// A layer's projections in layout order; alpha[l * kProjections + j] is matrix j's eq. 2 scale.
enum Projection : int { kQ, kK, kV, kO, kGate, kUp, kDown, kProjections };

// Offsets of one layer's tensors in the flat buffer.
struct LayerOffsets {
  int64_t attn_norm = 0, attn_sub_norm = 0, ffn_norm = 0, ffn_sub_norm = 0;
  int64_t projection[kProjections] = {};
};

// What the forward keeps for the backward, per layer. N = B*T tokens.
struct LayerActivationsDevice {
  DeviceBuffer<float> x;        // [N, d]       residual stream entering the layer
  DeviceBuffer<float> qkv_in;   // [N, d]       x_hat of q/k/v_proj
  DeviceBuffer<float> q;        // [B, H, T, hd] post-RoPE
  DeviceBuffer<float> k, v;     // [B, H_kv, T, hd]
  DeviceBuffer<float> probs;    // [B, H, T, T]  attention probabilities
  DeviceBuffer<float> attn;     // [N, H*hd]    attention output, before attn_sub_norm
  DeviceBuffer<float> o_in;     // [N, H*hd]    x_hat of o_proj
  DeviceBuffer<float> h;        // [N, d]       residual stream after attention
  DeviceBuffer<float> ffn_in;   // [N, d]       x_hat of gate/up_proj
  DeviceBuffer<float> gate_up;  // [N, 2F]      gate | up values
  DeviceBuffer<float> glu;      // [N, F]       before ffn_sub_norm
  DeviceBuffer<float> down_in;  // [N, F]       x_hat of down_proj
};

struct TrainerState {
  TrainerState(const ModelConfig& c, const ParameterLayout& l) : config(c), layout(l) {}
  ~TrainerState();  // releases the GEMM context and the stream on the trainer's device
  TrainerState(const TrainerState&) = delete;
  TrainerState& operator=(const TrainerState&) = delete;

  ModelConfig config;
  ParameterLayout layout;
  int device = 0;
  int64_t max_seqs = 0, seq_len = 0, max_tokens = 0;
  float eps = 0;
  cudaStream_t stream = nullptr;
  std::unique_ptr<GemmContext> gemm;

  std::vector<LayerOffsets> offsets;  // [L]
  int64_t embed_offset = 0, final_norm_offset = 0, head_offset = 0;

  // Flat buffers [total + kPadding].
  DeviceBuffer<float> params, grads, m, v;
  DeviceBuffer<uint8_t> decay_mask;
  // Eq. 2 of every projection, laid out like params: codes t and alpha * t; alpha [L * 7].
  DeviceBuffer<float> w_codes, w_hat, alpha, ones;
  std::unique_ptr<TernaryMatrices> ternary;
  DeviceBuffer<float> rope_cos, rope_sin;  // [seq_len, hd/2]

  std::vector<LayerActivationsDevice> layers;      // [L]
  DeviceBuffer<float> x_final, final_normed;       // [N, d]
  DeviceBuffer<float> logits;                      // [N, V]; dlogits after the loss

  // Forward scratch.
  DeviceBuffer<float> normed, codes;  // [N, max(d, H*hd, F)]
  DeviceBuffer<float> step;           // [N]
  DeviceBuffer<float> raw;            // [N, max((H + 2 H_kv) hd, d)]
  DeviceBuffer<float> attn_heads;     // [B, H, T, hd]
  DeviceBuffer<int> nonzero, active_gates;  // [N] (sparsity statistics)
  // Backward scratch.
  DeviceBuffer<float> d_res;      // [N, d] d loss / d residual stream
  DeviceBuffer<float> d_in;       // [N, max(d, H*hd, F)] d loss / d x_hat (= d normed, STE)
  DeviceBuffer<float> d_mid;      // [N, max(H*hd, F)] d loss / d attn or glu
  DeviceBuffer<float> d_gate_up;  // [N, 2F]
  DeviceBuffer<float> d_qkv;      // [N, (H + 2 H_kv) hd]
  DeviceBuffer<float> dq, dk, dv, d_heads;  // head-major
  DeviceBuffer<float> dprobs;               // [B, H, T, T]
  DeviceBuffer<double> rms_r, rms_scratch, row_loss, loss_sum, norm_scratch, norm_result;
  DeviceBuffer<int32_t> inputs, targets;  // [N]
  DeviceBuffer<int32_t> bucket_unique, bucket_starts, bucket_positions;
  int64_t n_unique = 0;
  DeviceBuffer<int> non_finite;  // [1] set by kernels that meet NaN/Inf
};

// How one pass runs: the batch's shape and the scheme's quantizers.
struct PassPlan {
  AttentionShape shape;
  int64_t tokens = 0;
  ProjectionQuantization qkv, out, gate_up, down;
  int64_t keep_qkv = 0, keep_out = 0, keep_gate_up = 0, keep_down = 0;  // eq. 1's K per input
  bool ternary = false;
};

// The matrix the forward multiplies (codes t, or latent for `fp`), the one the backward
// propagates through (alpha * t, or latent), and the scale applied after the forward product.
inline const float* forward_weights(const TrainerState& s, const PassPlan& p, int64_t offset) {
  return (p.ternary ? s.w_codes.data() : s.params.data()) + offset;
}
inline const float* backward_weights(const TrainerState& s, const PassPlan& p, int64_t offset) {
  return (p.ternary ? s.w_hat.data() : s.params.data()) + offset;
}
inline const float* alpha_of(const TrainerState& s, const PassPlan& p, int64_t layer, int j) {
  return (p.ternary ? s.alpha.data() : s.ones.data()) + layer * kProjections + j;
}

// y[rows, n_out] = x[rows, n_in] W[n_out, n_in]^T (TF32; exact on integer codes).
inline void matmul_x_wt(GemmContext& gemm, const float* x, const float* w, int64_t rows,
                        int64_t n_out, int64_t n_in, float* y) {
  GemmArgs g;
  g.m = rows, g.n = n_out, g.k = n_in;
  g.a = x, g.lda = n_in;
  g.b = w, g.ldb = n_in, g.trans_b = true;
  g.c = y, g.ldc = n_out;
  gemm.matmul(g);
}
// dx[rows, n_in] = dy[rows, n_out] W[n_out, n_in].
inline void matmul_dy_w(GemmContext& gemm, const float* dy, const float* w, int64_t rows,
                        int64_t n_out, int64_t n_in, float* dx) {
  GemmArgs g;
  g.m = rows, g.n = n_in, g.k = n_out;
  g.a = dy, g.lda = n_out;
  g.b = w, g.ldb = n_in;
  g.c = dx, g.ldc = n_in;
  gemm.matmul(g);
}
// dw[n_out, n_in] += dy[rows, n_out]^T x[rows, n_in].
inline void matmul_dyt_x(GemmContext& gemm, const float* dy, const float* x, int64_t rows,
                         int64_t n_out, int64_t n_in, float* dw) {
  GemmArgs g;
  g.m = n_out, g.n = n_in, g.k = rows;
  g.a = dy, g.lda = n_out, g.trans_a = true;
  g.b = x, g.ldb = n_in;
  g.c = dw, g.ldc = n_in;
  g.beta = 1.0f;
  gemm.matmul(g);
}

// Runs the forward through the logits (s.logits). With `sparsity`, adds Table 2's counts.
void trainer_forward(TrainerState& s, const PassPlan& plan, SparsityStats* sparsity);
// Runs the backward from the dlogits in s.logits, adding into s.grads.
void trainer_backward(TrainerState& s, const PassPlan& plan);

}  // namespace a48::cuda
