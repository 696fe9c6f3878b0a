// Backward of one sequence, layer by layer in reverse (§2.2, Figure 1), with the ref backward ops.
#include "train/train_backward.h"

#include "core/error.h"
#include "ref/attention_backward.h"
#include "ref/embedding_backward.h"
#include "ref/glu_backward.h"
#include "ref/linear_backward.h"
#include "ref/rmsnorm_backward.h"
#include "ref/rope_backward.h"
#include "train/parameter_names.h"
#include "train/row_view.h"

namespace a48 {

namespace {

using train_rows::row;
using train_rows::zeros;

class SequenceBackward {
 public:
  SequenceBackward(const Model& model, std::span<const LayerProjectionWeights> weights,
                   const SequenceActivations& acts, const ParameterLayout& layout,
                   std::span<double> grad)
      : m_(model),
        c_(model.config),
        w_(weights),
        a_(acts),
        layout_(layout),
        grad_(grad),
        n_(acts.n_tokens()),
        eps_(static_cast<float>(model.config.rms_norm_eps)) {}

  void run(std::span<const float> dlogits) {
    const int64_t d = c_.hidden_size, vocab = c_.vocab_size;
    // logits = normed Head^T, Head = lm_head or (tied) embed_tokens.
    const std::span<double> d_head =
        tensor(c_.tie_word_embeddings ? std::string(kEmbedTokensName) : std::string(kLmHeadName));
    const std::vector<float>& head = m_.weights.output_matrix();     // [V, d]
    std::vector<float> dnormed = zeros(n_ * d), dx = zeros(n_ * d);  // [T, d]
    const std::span<double> d_final_norm = tensor(std::string(kFinalNormName));
    for (int64_t t = 0; t < n_; ++t) {
      ref::linear_backward(
          dlogits.subspan(static_cast<std::size_t>(t * vocab), static_cast<std::size_t>(vocab)),
          row(a_.normed, t, d), head, vocab, d, row(dnormed, t, d), d_head);
      ref::rmsnorm_backward(row(a_.x_final, t, d), m_.weights.final_norm, eps_, row(dnormed, t, d),
                            row(dx, t, d), d_final_norm);
    }
    for (int64_t l = c_.num_hidden_layers - 1; l >= 0; --l) {
      ffn_backward(l, dx);        // dx: d loss / d (layer output) -> d loss / d h
      attention_backward(l, dx);  // -> d loss / d (layer input)
    }
    const std::span<double> d_embed = tensor(std::string(kEmbedTokensName));
    for (int64_t t = 0; t < n_; ++t) {
      ref::embedding_backward(row(dx, t, d), vocab, d, a_.tokens[static_cast<std::size_t>(t)],
                              d_embed);
    }
  }

 private:
  std::span<double> tensor(const std::string& name) const {
    const ParameterTensor& t = layout_.at(name);
    return grad_.subspan(static_cast<std::size_t>(t.offset), static_cast<std::size_t>(t.numel));
  }
  std::span<double> tensor(int64_t l, LayerTensor which) const {
    return tensor(layer_tensor_name(l, which));
  }

  // dx += rows of rmsnorm_backward(x, weight, dy): the residual branch's gradient joins the skip.
  void norm_backward_into(const std::vector<float>& x, const std::vector<float>& weight,
                          const std::vector<float>& dy, int64_t width, std::span<double> dweight,
                          std::vector<float>& dx) const {
    std::vector<float> branch = zeros(width);  // [width]
    for (int64_t t = 0; t < n_; ++t) {
      ref::rmsnorm_backward(row(x, t, width), weight, eps_, row(dy, t, width), branch, dweight);
      const std::span<float> out = row(dx, t, width);
      for (int64_t i = 0; i < width; ++i) out[i] = out[i] + branch[static_cast<std::size_t>(i)];
    }
  }

  // Rows of a projection's backward: dx_hat[t] (+)= dy[t] W, dW += dy[t]^T x_hat[t].
  void projection_backward(const std::vector<float>& dy, const std::vector<float>& x_hat,
                           const std::vector<float>& w, int64_t n_out, int64_t n_in,
                           std::span<double> dw, std::vector<float>& dx_hat, bool add) const {
    std::vector<float> part = zeros(n_in);  // [n_in]
    for (int64_t t = 0; t < n_; ++t) {
      ref::linear_backward(row(dy, t, n_out), row(x_hat, t, n_in), w, n_out, n_in, part, dw);
      const std::span<float> out = row(dx_hat, t, n_in);
      for (int64_t i = 0; i < n_in; ++i) {
        const float p = part[static_cast<std::size_t>(i)];
        out[i] = add ? out[i] + p : p;
      }
    }
  }

  void ffn_backward(int64_t l, std::vector<float>& dx) const {
    const LayerActivations& a = a_.layers[static_cast<std::size_t>(l)];
    const LayerWeights& lw = m_.weights.layers[static_cast<std::size_t>(l)];
    const LayerProjectionWeights& w = w_[static_cast<std::size_t>(l)];
    const int64_t d = c_.hidden_size, f = c_.intermediate_size;
    // down_proj; STE: the gradient of glu_subnormed is that of down_in.
    std::vector<float> d_down_in = zeros(n_ * f);  // [T, F]
    projection_backward(dx, a.down_in, w.down, d, f, tensor(l, LayerTensor::down_proj), d_down_in,
                        false);
    std::vector<float> dglu = zeros(n_ * f);  // [T, F]
    const std::span<double> d_sub_norm = tensor(l, LayerTensor::ffn_sub_norm);
    for (int64_t t = 0; t < n_; ++t) {
      ref::rmsnorm_backward(row(a.glu, t, f), lw.ffn_sub_norm, eps_, row(d_down_in, t, f),
                            row(dglu, t, f), d_sub_norm);
    }
    std::vector<float> dgate = zeros(n_ * f), dup = zeros(n_ * f);  // [T, F]
    if (c_.hidden_act == HiddenActivation::relu2) {
      ref::relu2_glu_backward(a.gate, a.up, dglu, dgate, dup);
    } else {
      ref::silu_glu_backward(a.gate, a.up, dglu, dgate, dup);
    }
    // gate_proj and up_proj share their input; STE: d ffn_normed = d ffn_in.
    std::vector<float> d_ffn_in = zeros(n_ * d);  // [T, d]
    projection_backward(dgate, a.ffn_in, w.gate, f, d, tensor(l, LayerTensor::gate_proj), d_ffn_in,
                        false);
    projection_backward(dup, a.ffn_in, w.up, f, d, tensor(l, LayerTensor::up_proj), d_ffn_in, true);
    norm_backward_into(a.h, lw.ffn_norm, d_ffn_in, d, tensor(l, LayerTensor::ffn_norm), dx);
  }

  void attention_backward(int64_t l, std::vector<float>& dx) const {
    const LayerActivations& a = a_.layers[static_cast<std::size_t>(l)];
    const LayerWeights& lw = m_.weights.layers[static_cast<std::size_t>(l)];
    const LayerProjectionWeights& w = w_[static_cast<std::size_t>(l)];
    const int64_t d = c_.hidden_size, hd = c_.head_dim(), h = c_.num_attention_heads;
    const int64_t h_kv = c_.num_key_value_heads, qs = c_.q_size(), kvs = c_.kv_size();
    // o_proj; STE: the gradient of attn_subnormed is that of o_in (top-K and quantizer bypassed).
    std::vector<float> d_o_in = zeros(n_ * qs);  // [T, H*hd]
    projection_backward(dx, a.o_in, w.o, d, qs, tensor(l, LayerTensor::o_proj), d_o_in, false);
    std::vector<float> dattn = zeros(n_ * qs);  // [T, H*hd]
    const std::span<double> d_sub_norm = tensor(l, LayerTensor::attn_sub_norm);
    for (int64_t t = 0; t < n_; ++t) {
      ref::rmsnorm_backward(row(a.attn, t, qs), lw.attn_sub_norm, eps_, row(d_o_in, t, qs),
                            row(dattn, t, qs), d_sub_norm);
    }
    std::vector<float> dq = zeros(n_ * qs), dk = zeros(n_ * kvs), dv = zeros(n_ * kvs);
    ref::attention_backward(a.q, a.k, a.v, dattn, n_, h, h_kv, hd, dq, dk, dv);
    for (int64_t t = 0; t < n_; ++t) {
      ref::rope_backward(row(dq, t, qs), h, hd, t, c_.rope_theta);
      ref::rope_backward(row(dk, t, kvs), h_kv, hd, t, c_.rope_theta);
    }
    // q/k/v_proj share their input; STE: d attn_normed = d attn_in.
    std::vector<float> d_attn_in = zeros(n_ * d);  // [T, d]
    projection_backward(dq, a.attn_in, w.q, qs, d, tensor(l, LayerTensor::q_proj), d_attn_in,
                        false);
    projection_backward(dk, a.attn_in, w.k, kvs, d, tensor(l, LayerTensor::k_proj), d_attn_in,
                        true);
    projection_backward(dv, a.attn_in, w.v, kvs, d, tensor(l, LayerTensor::v_proj), d_attn_in,
                        true);
    norm_backward_into(a.x, lw.attn_norm, d_attn_in, d, tensor(l, LayerTensor::attn_norm), dx);
  }

  const Model& m_;
  const ModelConfig& c_;
  std::span<const LayerProjectionWeights> w_;
  const SequenceActivations& a_;
  const ParameterLayout& layout_;
  std::span<double> grad_;
  int64_t n_;
  float eps_;
};

}  // namespace

void train_backward_sequence(const Model& model, std::span<const LayerProjectionWeights> weights,
                             const SequenceActivations& acts, std::span<const float> dlogits,
                             const ParameterLayout& layout, std::span<double> grad) {
  const ModelConfig& c = model.config;
  check(static_cast<int64_t>(grad.size()) == layout.total(),
        "train_backward: gradient has {} values, the layout {}", grad.size(), layout.total());
  check(static_cast<int64_t>(weights.size()) == c.num_hidden_layers &&
            static_cast<int64_t>(acts.layers.size()) == c.num_hidden_layers,
        "train_backward: {} projection weights and {} layer activations for {} layers",
        weights.size(), acts.layers.size(), c.num_hidden_layers);
  check(static_cast<int64_t>(dlogits.size()) == acts.n_tokens() * c.vocab_size &&
            static_cast<int64_t>(acts.logits.size()) == acts.n_tokens() * c.vocab_size,
        "train_backward: dlogits has {} values, expected [{}, {}]", dlogits.size(), acts.n_tokens(),
        c.vocab_size);
  SequenceBackward(model, weights, acts, layout, grad).run(dlogits);
}

}  // namespace a48
