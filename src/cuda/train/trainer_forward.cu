// The training forward (train/train_forward.h) on the device, layer by layer over the whole
// batch, keeping what the backward needs (LayerActivationsDevice). Each projection:
//   normed -> fake_quantize_rows -> codes, x_hat, step -> raw = codes W_codes^T (exact) ->
//   epilogue: float(alpha * step * raw) (qkv: + RoPE; gate/up: + GLU; o/down: + residual).
#include <vector>

#include "cuda/common/check.h"
#include "cuda/train/attention.cuh"
#include "cuda/train/embedding.cuh"
#include "cuda/train/fake_quant.cuh"
#include "cuda/train/glu.cuh"
#include "cuda/train/residual.cuh"
#include "cuda/train/rmsnorm.cuh"
#include "cuda/train/rope.cuh"
#include "cuda/train/trainer_state.cuh"

namespace a48::cuda {

namespace {

// Table 2's counts, as model/forward.cpp adds them per token: a projection [n_out, n_in] reads
// n_out weights per non-zero input. Downloads per-row counts (evaluation only).
class SparsityCounter {
 public:
  SparsityCounter(TrainerState& s, int64_t rows, SparsityStats* stats)
      : s_(s), rows_(rows), stats_(stats) {}
  bool on() const { return stats_ != nullptr; }
  int* device_counts() const { return on() ? s_.nonzero.data() : nullptr; }

  std::vector<int> download(const DeviceBuffer<int>& counts) const {
    std::vector<int> host(static_cast<std::size_t>(rows_));
    CUDA_CHECK(cudaMemcpyAsync(host.data(), counts.data(), host.size() * sizeof(int),
                               cudaMemcpyDeviceToHost, s_.stream));
    CUDA_CHECK(cudaStreamSynchronize(s_.stream));
    return host;
  }
  // Adds the current nonzero counts to `entry`.
  void add(SparsityStats::Entry SparsityStats::*entry, int64_t n_out, int64_t n_in) const {
    if (!on()) return;
    add_counts(stats_->*entry, download(s_.nonzero), n_out, n_in);
  }
  static void add_counts(SparsityStats::Entry& e, const std::vector<int>& nonzero, int64_t n_out,
                         int64_t n_in) {
    for (int nz : nonzero) {
      e.active += static_cast<double>(nz) * static_cast<double>(n_out);
      e.total += static_cast<double>(n_in) * static_cast<double>(n_out);
    }
  }
  // gate and up share their input; up only reads the rows whose act(gate) != 0 (§2.1).
  void add_gate_up(const std::vector<int>& nonzero, int64_t ffn, int64_t d) const {
    add_counts(stats_->gate, nonzero, ffn, d);
    const std::vector<int> active = download(s_.active_gates);
    for (std::size_t i = 0; i < nonzero.size(); ++i) {
      stats_->up.active += static_cast<double>(nonzero[i]) * static_cast<double>(active[i]);
      stats_->up.total += static_cast<double>(ffn) * static_cast<double>(d);
    }
  }
  void add_tokens() const {
    if (on()) stats_->n_tokens += rows_;
  }

 private:
  TrainerState& s_;
  int64_t rows_;
  SparsityStats* stats_;
};

// x += o_proj(Q_out(sub_norm(Attention(RoPE(q), RoPE(k), v)))),  q,k,v = proj(Q_in(norm(x)))
void attention_block(TrainerState& s, const PassPlan& p, int64_t l, const SparsityCounter& stats) {
  const ModelConfig& c = s.config;
  LayerActivationsDevice& a = s.layers[static_cast<std::size_t>(l)];
  const LayerOffsets& o = s.offsets[static_cast<std::size_t>(l)];
  const int64_t n = p.tokens, d = c.hidden_size, qs = c.q_size(), qkv = qs + 2 * c.kv_size();
  const float* params = s.params.data();
  rmsnorm_forward(a.x.data(), params + o.attn_norm, n, d, s.eps, s.normed.data(), s.stream);
  fake_quantize_rows(s.normed.data(), n, d, p.qkv.quantizer, p.keep_qkv, s.codes.data(),
                     a.qkv_in.data(), s.step.data(), stats.device_counts(), s.non_finite.data(),
                     s.stream);
  stats.add(&SparsityStats::qkv, qkv, d);
  matmul_x_wt(*s.gemm, s.codes.data(), forward_weights(s, p, o.projection[kQ]), n, qkv, d,
              s.raw.data());  // [N, (H + 2 H_kv) hd]
  qkv_rope_forward(s.raw.data(), s.step.data(), alpha_of(s, p, l, kQ), s.rope_cos.data(),
                   s.rope_sin.data(), p.shape, a.q.data(), a.k.data(), a.v.data(), s.stream);
  attention_forward(*s.gemm, a.q.data(), a.k.data(), a.v.data(), p.shape, a.probs.data(),
                    s.attn_heads.data(), s.stream);
  heads_to_tokens(s.attn_heads.data(), p.shape, a.attn.data(), s.stream);
  rmsnorm_forward(a.attn.data(), params + o.attn_sub_norm, n, qs, s.eps, s.normed.data(),
                  s.stream);
  fake_quantize_rows(s.normed.data(), n, qs, p.out.quantizer, p.keep_out, s.codes.data(),
                     a.o_in.data(), s.step.data(), stats.device_counts(), s.non_finite.data(),
                     s.stream);
  stats.add(&SparsityStats::out, d, qs);
  matmul_x_wt(*s.gemm, s.codes.data(), forward_weights(s, p, o.projection[kO]), n, d, qs,
              s.raw.data());  // [N, d]
  residual_add_projection(a.x.data(), s.raw.data(), s.step.data(), alpha_of(s, p, l, kO), n, d,
                          a.h.data(), s.stream);
}

// x' = h + down(Q_down(sub_norm(act(gate(Q_in(norm(h)))) * up(Q_in(norm(h))))))   (eq. 5)
void ffn_block(TrainerState& s, const PassPlan& p, int64_t l, float* x_out,
               const SparsityCounter& stats) {
  const ModelConfig& c = s.config;
  LayerActivationsDevice& a = s.layers[static_cast<std::size_t>(l)];
  const LayerOffsets& o = s.offsets[static_cast<std::size_t>(l)];
  const int64_t n = p.tokens, d = c.hidden_size, f = c.intermediate_size;
  const float* params = s.params.data();
  rmsnorm_forward(a.h.data(), params + o.ffn_norm, n, d, s.eps, s.normed.data(), s.stream);
  fake_quantize_rows(s.normed.data(), n, d, p.gate_up.quantizer, p.keep_gate_up, s.codes.data(),
                     a.ffn_in.data(), s.step.data(), stats.device_counts(), s.non_finite.data(),
                     s.stream);
  const std::vector<int> gate_up_nonzero = stats.on() ? stats.download(s.nonzero) : std::vector<int>{};
  matmul_x_wt(*s.gemm, s.codes.data(), forward_weights(s, p, o.projection[kGate]), n, 2 * f, d,
              a.gate_up.data());  // [N, 2F]
  glu_forward(a.gate_up.data(), s.step.data(), alpha_of(s, p, l, kGate), n, f, c.hidden_act,
              a.glu.data(), s.stream);
  if (stats.on()) {
    count_active_gates(a.gate_up.data(), n, f, c.hidden_act, s.active_gates.data(), s.stream);
    stats.add_gate_up(gate_up_nonzero, f, d);
  }
  rmsnorm_forward(a.glu.data(), params + o.ffn_sub_norm, n, f, s.eps, s.normed.data(), s.stream);
  fake_quantize_rows(s.normed.data(), n, f, p.down.quantizer, p.keep_down, s.codes.data(),
                     a.down_in.data(), s.step.data(), stats.device_counts(), s.non_finite.data(),
                     s.stream);
  stats.add(&SparsityStats::down, d, f);
  matmul_x_wt(*s.gemm, s.codes.data(), forward_weights(s, p, o.projection[kDown]), n, d, f,
              s.raw.data());  // [N, d]
  residual_add_projection(a.h.data(), s.raw.data(), s.step.data(), alpha_of(s, p, l, kDown), n, d,
                          x_out, s.stream);
}

}  // namespace

void trainer_forward(TrainerState& s, const PassPlan& p, SparsityStats* sparsity) {
  const ModelConfig& c = s.config;
  const int64_t n = p.tokens, d = c.hidden_size, layers = c.num_hidden_layers;
  const SparsityCounter stats(s, n, sparsity);
  embedding_forward(s.params.data() + s.embed_offset, s.inputs.data(), n, d, s.layers[0].x.data(),
                    s.stream);
  for (int64_t l = 0; l < layers; ++l) {
    float* x_out = l + 1 < layers ? s.layers[static_cast<std::size_t>(l + 1)].x.data()
                                  : s.x_final.data();
    attention_block(s, p, l, stats);
    ffn_block(s, p, l, x_out, stats);
  }
  stats.add_tokens();
  rmsnorm_forward(s.x_final.data(), s.params.data() + s.final_norm_offset, n, d, s.eps,
                  s.final_normed.data(), s.stream);
  matmul_x_wt(*s.gemm, s.final_normed.data(), s.params.data() + s.head_offset, n, c.vocab_size, d,
              s.logits.data());  // [N, V], TF32
}

}  // namespace a48::cuda
