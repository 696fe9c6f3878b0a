// The training backward (train/train_backward.h) on the device, from dlogits back to the
// embedding. Straight-through estimator: each projection's input gradient is dy W_hat (the
// quantizer and top-K are bypassed) and its weight gradient dy^T x_hat goes to the latent weights.
// Every parameter gradient is added (+=) into s.grads.
#include "cuda/train/attention.cuh"
#include "cuda/train/embedding.cuh"
#include "cuda/train/glu.cuh"
#include "cuda/train/rmsnorm.cuh"
#include "cuda/train/rope.cuh"
#include "cuda/train/trainer_state.cuh"

namespace a48::cuda {

namespace {

// dx (+)= rmsnorm'(x) dy and dweight += its weight gradient. x, dy, dx: [N, n].
void norm_backward(TrainerState& s, const float* x, int64_t weight_offset, const float* dy,
                   int64_t rows, int64_t n, float* dx, bool accumulate) {
  rmsnorm_backward(x, s.params.data() + weight_offset, dy, rows, n, s.eps, dx, accumulate,
                   s.rms_r.data(), s.stream);
  rmsnorm_backward_weight(x, dy, s.rms_r.data(), rows, n, s.grads.data() + weight_offset,
                          s.rms_scratch.data(), s.stream);
}

// A projection y = x_hat W^T backward: dx_hat = dy W_hat, dW += dy^T x_hat.
void projection_backward(TrainerState& s, const PassPlan& p, const float* dy, const float* x_hat,
                         int64_t offset, int64_t n_out, int64_t n_in, float* dx_hat) {
  matmul_dy_w(*s.gemm, dy, backward_weights(s, p, offset), p.tokens, n_out, n_in, dx_hat);
  matmul_dyt_x(*s.gemm, dy, x_hat, p.tokens, n_out, n_in, s.grads.data() + offset);
}

// s.d_res: d loss / d (layer output) -> d loss / d h.
void ffn_backward(TrainerState& s, const PassPlan& p, int64_t l) {
  const ModelConfig& c = s.config;
  const LayerActivationsDevice& a = s.layers[static_cast<std::size_t>(l)];
  const LayerOffsets& o = s.offsets[static_cast<std::size_t>(l)];
  const int64_t n = p.tokens, d = c.hidden_size, f = c.intermediate_size;
  projection_backward(s, p, s.d_res.data(), a.down_in.data(), o.projection[kDown], d, f,
                      s.d_in.data());  // d down_in [N, F]
  norm_backward(s, a.glu.data(), o.ffn_sub_norm, s.d_in.data(), n, f, s.d_mid.data(), false);
  glu_backward(a.gate_up.data(), s.d_mid.data(), n, f, c.hidden_act, s.d_gate_up.data(), s.stream);
  projection_backward(s, p, s.d_gate_up.data(), a.ffn_in.data(), o.projection[kGate], 2 * f, d,
                      s.d_in.data());  // d ffn_in [N, d]
  norm_backward(s, a.h.data(), o.ffn_norm, s.d_in.data(), n, d, s.d_res.data(), true);
}

// s.d_res: d loss / d h -> d loss / d (layer input).
void attention_backward_block(TrainerState& s, const PassPlan& p, int64_t l) {
  const ModelConfig& c = s.config;
  const LayerActivationsDevice& a = s.layers[static_cast<std::size_t>(l)];
  const LayerOffsets& o = s.offsets[static_cast<std::size_t>(l)];
  const int64_t n = p.tokens, d = c.hidden_size, qs = c.q_size(), qkv = qs + 2 * c.kv_size();
  projection_backward(s, p, s.d_res.data(), a.o_in.data(), o.projection[kO], d, qs,
                      s.d_in.data());  // d o_in [N, H*hd]
  norm_backward(s, a.attn.data(), o.attn_sub_norm, s.d_in.data(), n, qs, s.d_mid.data(), false);
  tokens_to_heads(s.d_mid.data(), p.shape, s.d_heads.data(), s.stream);
  attention_backward(*s.gemm, a.q.data(), a.k.data(), a.v.data(), a.probs.data(),
                     s.d_heads.data(), p.shape, s.dprobs.data(), s.dq.data(), s.dk.data(),
                     s.dv.data(), s.stream);
  qkv_rope_backward(s.dq.data(), s.dk.data(), s.dv.data(), s.rope_cos.data(), s.rope_sin.data(),
                    p.shape, s.d_qkv.data(), s.stream);
  projection_backward(s, p, s.d_qkv.data(), a.qkv_in.data(), o.projection[kQ], qkv, d,
                      s.d_in.data());  // d qkv_in [N, d]
  norm_backward(s, a.x.data(), o.attn_norm, s.d_in.data(), n, d, s.d_res.data(), true);
}

}  // namespace

void trainer_backward(TrainerState& s, const PassPlan& p) {
  const ModelConfig& c = s.config;
  const int64_t n = p.tokens, d = c.hidden_size, vocab = c.vocab_size;
  // logits = final_normed head^T: d final_normed = dlogits head, d head += dlogits^T final_normed.
  matmul_dy_w(*s.gemm, s.logits.data(), s.params.data() + s.head_offset, n, vocab, d,
              s.d_in.data());
  matmul_dyt_x(*s.gemm, s.logits.data(), s.final_normed.data(), n, vocab, d,
               s.grads.data() + s.head_offset);
  norm_backward(s, s.x_final.data(), s.final_norm_offset, s.d_in.data(), n, d, s.d_res.data(),
                false);
  for (int64_t l = c.num_hidden_layers - 1; l >= 0; --l) {
    ffn_backward(s, p, l);
    attention_backward_block(s, p, l);
  }
  embedding_backward(s.d_res.data(), s.bucket_unique.data(), s.bucket_starts.data(),
                     s.bucket_positions.data(), s.n_unique, d, s.grads.data() + s.embed_offset,
                     s.stream);
}

}  // namespace a48::cuda
