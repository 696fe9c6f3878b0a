// The training forward of one sequence (§2.2, Figure 1), layer-major over the whole sequence.
// Token t's values are those of model/forward.cpp's token-major pass: every op is the same call
// on the same row, and token t's attention reads the K/V rows 0..t (fp32, as the 16-bit KV cache
// stores them).
#include "train/train_forward.h"

#include <algorithm>

#include "core/error.h"
#include "quant/quant_common.h"
#include "ref/attention.h"
#include "ref/embedding.h"
#include "ref/glu.h"
#include "ref/linear.h"
#include "ref/projection.h"
#include "ref/rmsnorm.h"
#include "ref/rope.h"
#include "train/row_view.h"

namespace a48 {

namespace {

std::vector<float> weights_of(const LinearWeights& w, bool ternary, const char* name) {
  const int64_t n = w.n_out * w.n_in;
  if (!ternary) {
    check(static_cast<int64_t>(w.latent.size()) == n,
          "training: {} has {} latent weights, expected [{}, {}]", name, w.latent.size(), w.n_out,
          w.n_in);
    return w.latent;
  }
  check(static_cast<int64_t>(w.ternary.size()) == n,
        "training: {} has {} ternary codes, expected [{}, {}]", name, w.ternary.size(), w.n_out,
        w.n_in);
  std::vector<float> out(static_cast<std::size_t>(n));  // [n_out, n_in]
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = w.scale * static_cast<float>(w.ternary[i]);
  return out;
}

// x + (x0_hat - x0) elementwise, rounded once: exactly x0_hat where x == x0.
std::vector<float> add_residual(std::span<const float> x, std::span<const float> x0,
                                std::span<const float> x0_hat) {
  check(x.size() == x0.size() && x.size() == x0_hat.size(),
        "training: frozen quantization residual has {} values, input {}", x0.size(), x.size());
  std::vector<float> out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    out[i] = static_cast<float>(static_cast<double>(x[i]) +
                                (static_cast<double>(x0_hat[i]) - static_cast<double>(x0[i])));
  }
  return out;
}

using train_rows::row;
using train_rows::zeros;

class SequencePass {
 public:
  SequencePass(const Model& model, const FrozenQuantization* frozen)
      : m_(model), c_(model.config), eps_(static_cast<float>(model.config.rms_norm_eps)) {
    if (frozen == nullptr) return;
    check(frozen->model != nullptr && frozen->activations != nullptr,
          "training: frozen quantization needs a model and its activations");
    const ModelConfig& fc = frozen->model->config;
    check(fc.activation_scheme == c_.activation_scheme && fc.hidden_size == c_.hidden_size &&
              fc.intermediate_size == c_.intermediate_size &&
              fc.num_attention_heads == c_.num_attention_heads &&
              fc.num_key_value_heads == c_.num_key_value_heads &&
              fc.num_hidden_layers == c_.num_hidden_layers && fc.vocab_size == c_.vocab_size &&
              frozen->activations->layers.size() == static_cast<std::size_t>(c_.num_hidden_layers),
          "training: frozen quantization was taken on another model shape or scheme");
    frozen_ = frozen->activations;
    // W = W_latent + (W_0 - W_latent_0): the frozen point's weights plus the latent's movement.
    const std::vector<LayerProjectionWeights> w0 = projection_weights(*frozen->model);
    const std::vector<LayerProjectionWeights> latent0 = latent_weights(*frozen->model);
    const std::vector<LayerProjectionWeights> latent = latent_weights(model);
    check(w0.size() == latent.size(), "training: frozen model has {} layers, model {}", w0.size(),
          latent.size());
    surrogate_.resize(latent.size());
    for (std::size_t l = 0; l < latent.size(); ++l) {
      // add_residual(latent, latent_0, W_0) = latent + (W_0 - latent_0).
      const LayerProjectionWeights &now = latent[l], &then = latent0[l], &w = w0[l];
      surrogate_[l] = {
          add_residual(now.q, then.q, w.q),          add_residual(now.k, then.k, w.k),
          add_residual(now.v, then.v, w.v),          add_residual(now.o, then.o, w.o),
          add_residual(now.gate, then.gate, w.gate), add_residual(now.up, then.up, w.up),
          add_residual(now.down, then.down, w.down)};
    }
  }

  SequenceActivations run(std::span<const int32_t> tokens) {
    const int64_t n = static_cast<int64_t>(tokens.size()), d = c_.hidden_size;
    const int64_t vocab = c_.vocab_size;
    check(n >= 1, "training: empty sequence");
    check(static_cast<int64_t>(m_.weights.layers.size()) == c_.num_hidden_layers,
          "training: model has {} layers, config says {}", m_.weights.layers.size(),
          c_.num_hidden_layers);
    if (frozen_ != nullptr) {
      check(
          std::equal(tokens.begin(), tokens.end(), frozen_->tokens.begin(), frozen_->tokens.end()),
          "training: frozen activations are of other tokens");
    }
    SequenceActivations acts;
    acts.tokens.assign(tokens.begin(), tokens.end());
    acts.layers.resize(static_cast<std::size_t>(c_.num_hidden_layers));
    std::vector<float> x = zeros(n * d);  // [T, d] residual stream
    for (int64_t t = 0; t < n; ++t) {
      ref::embedding(m_.weights.embed_tokens, vocab, d, tokens[static_cast<std::size_t>(t)],
                     row(x, t, d));
    }
    for (int64_t l = 0; l < c_.num_hidden_layers; ++l) {
      LayerActivations& a = acts.layers[static_cast<std::size_t>(l)];
      a.x = x;
      attention_block(l, n, a, x);
      a.h = x;
      ffn_block(l, n, a, x);
    }
    acts.x_final = x;
    acts.normed = norm_rows(x, m_.weights.final_norm, n, d);
    check_finite(acts.normed, "training forward: final hidden state");  // as forward.cpp does
    const std::vector<float>& head = m_.weights.output_matrix();        // [V, d]
    acts.logits = zeros(n * vocab);
    for (int64_t t = 0; t < n; ++t)
      ref::linear(row(acts.normed, t, d), head, vocab, d, row(acts.logits, t, vocab));
    return acts;
  }

 private:
  static std::vector<LayerProjectionWeights> latent_weights(const Model& model) {
    ModelConfig c = model.config;
    c.activation_scheme = ActivationScheme::fp;  // the fp scheme multiplies the latent weights
    return projection_weights(Model{c, model.weights});
  }

  std::vector<float> norm_rows(const std::vector<float>& x, const std::vector<float>& weight,
                               int64_t n, int64_t width) const {
    std::vector<float> out = zeros(n * width);  // [T, width]
    for (int64_t t = 0; t < n; ++t)
      ref::rmsnorm(row(x, t, width), weight, eps_, row(out, t, width));
    return out;
  }

  // Token t's input row to the projections fed from `input`: top-K and the scheme's quantizer
  // (ref::quantize_activation_row), or the frozen residual. Writes x_hat into row t of `x_hat`.
  ref::ActivationRow input_row(ProjectionInput input, int64_t l, int64_t t, int64_t width,
                               const std::vector<float>& x,
                               std::vector<float> LayerActivations::*pre,
                               std::vector<float> LayerActivations::*post,
                               std::vector<float>& x_hat) const {
    ref::ActivationRow r;
    if (frozen_ == nullptr) {
      r = ref::quantize_activation_row(quantization(input), row(x, t, width));
    } else {
      const LayerActivations& f = frozen_->layers[static_cast<std::size_t>(l)];
      r.values = add_residual(row(x, t, width), row(f.*pre, t, width), row(f.*post, t, width));
    }
    std::copy(r.values.begin(), r.values.end(), row(x_hat, t, width).begin());
    return r;
  }

  // y = the projection of `in`: ref::project as the inference forward runs it, or in frozen mode
  // the fp32 product with the surrogate weights.
  void project(ProjectionInput input, const LinearWeights& w,
               std::vector<float> LayerProjectionWeights::*which, int64_t l,
               const ref::ActivationRow& in, std::span<float> y) const {
    if (surrogate_.empty()) {
      ref::project(quantization(input), w, in, y);
    } else {
      ref::linear(in.values, surrogate_[static_cast<std::size_t>(l)].*which, w.n_out, w.n_in, y);
    }
  }

  ProjectionQuantization quantization(ProjectionInput input) const {
    return projection_quantization(c_.activation_scheme, input, c_.topk_fraction);
  }

  // x += o_proj(Q_out(sub_norm(Attention(RoPE(q), RoPE(k), v))))  with q,k,v = proj(Q_in(norm(x)))
  void attention_block(int64_t l, int64_t n, LayerActivations& a, std::vector<float>& x) const {
    using P = LayerProjectionWeights;
    using A = LayerActivations;
    const LayerWeights& lw = m_.weights.layers[static_cast<std::size_t>(l)];
    const int64_t d = c_.hidden_size, hd = c_.head_dim(), h = c_.num_attention_heads;
    const int64_t h_kv = c_.num_key_value_heads, qs = c_.q_size(), kvs = c_.kv_size();
    a.attn_normed = norm_rows(x, lw.attn_norm, n, d);
    a.attn_in = zeros(n * d);
    a.q = zeros(n * qs);
    a.k = zeros(n * kvs);
    a.v = zeros(n * kvs);
    for (int64_t t = 0; t < n; ++t) {
      const ref::ActivationRow in = input_row(ProjectionInput::qkv, l, t, d, a.attn_normed,
                                              &A::attn_normed, &A::attn_in, a.attn_in);
      project(ProjectionInput::qkv, lw.q_proj, &P::q, l, in, row(a.q, t, qs));
      project(ProjectionInput::qkv, lw.k_proj, &P::k, l, in, row(a.k, t, kvs));
      project(ProjectionInput::qkv, lw.v_proj, &P::v, l, in, row(a.v, t, kvs));
      ref::rope(row(a.q, t, qs), h, hd, t, c_.rope_theta);
      ref::rope(row(a.k, t, kvs), h_kv, hd, t, c_.rope_theta);
    }
    a.attn = zeros(n * qs);
    for (int64_t t = 0; t < n; ++t) {
      const auto visible = static_cast<std::size_t>((t + 1) * kvs);  // K/V rows 0..t
      ref::attention(row(a.q, t, qs), std::span<const float>(a.k).first(visible),
                     std::span<const float>(a.v).first(visible), t + 1, h, h_kv, hd,
                     /*query_bits=*/16, row(a.attn, t, qs));
    }
    a.attn_subnormed = norm_rows(a.attn, lw.attn_sub_norm, n, qs);
    a.o_in = zeros(n * qs);
    std::vector<float> o = zeros(d);  // [d]
    for (int64_t t = 0; t < n; ++t) {
      const ref::ActivationRow in = input_row(ProjectionInput::out, l, t, qs, a.attn_subnormed,
                                              &A::attn_subnormed, &A::o_in, a.o_in);
      project(ProjectionInput::out, lw.o_proj, &P::o, l, in, o);
      const std::span<float> xt = row(x, t, d);
      for (int64_t i = 0; i < d; ++i) xt[i] = xt[i] + o[static_cast<std::size_t>(i)];
    }
  }

  // x += down(Q_down(sub_norm(act(gate(Q_in(norm(x)))) * up(Q_in(norm(x))))))   (eq. 5)
  void ffn_block(int64_t l, int64_t n, LayerActivations& a, std::vector<float>& x) const {
    using P = LayerProjectionWeights;
    using A = LayerActivations;
    const LayerWeights& lw = m_.weights.layers[static_cast<std::size_t>(l)];
    const int64_t d = c_.hidden_size, f = c_.intermediate_size;
    a.ffn_normed = norm_rows(x, lw.ffn_norm, n, d);
    a.ffn_in = zeros(n * d);
    a.gate = zeros(n * f);
    a.up = zeros(n * f);
    for (int64_t t = 0; t < n; ++t) {
      const ref::ActivationRow in = input_row(ProjectionInput::gate_up, l, t, d, a.ffn_normed,
                                              &A::ffn_normed, &A::ffn_in, a.ffn_in);
      project(ProjectionInput::gate_up, lw.gate_proj, &P::gate, l, in, row(a.gate, t, f));
      // Unlike inference, up is computed on every row: where act(gate) = 0 the GLU output is 0
      // either way, but silu'(0) != 0 needs up's value for the gate's gradient.
      project(ProjectionInput::gate_up, lw.up_proj, &P::up, l, in, row(a.up, t, f));
    }
    a.glu = zeros(n * f);
    if (c_.hidden_act == HiddenActivation::relu2) {
      ref::relu2_glu(a.gate, a.up, a.glu);
    } else {
      ref::silu_glu(a.gate, a.up, a.glu);
    }
    a.glu_subnormed = norm_rows(a.glu, lw.ffn_sub_norm, n, f);
    a.down_in = zeros(n * f);
    std::vector<float> down = zeros(d);  // [d]
    for (int64_t t = 0; t < n; ++t) {
      const ref::ActivationRow in = input_row(ProjectionInput::down, l, t, f, a.glu_subnormed,
                                              &A::glu_subnormed, &A::down_in, a.down_in);
      project(ProjectionInput::down, lw.down_proj, &P::down, l, in, down);
      const std::span<float> xt = row(x, t, d);
      for (int64_t i = 0; i < d; ++i) xt[i] = xt[i] + down[static_cast<std::size_t>(i)];
    }
  }

  const Model& m_;
  const ModelConfig& c_;
  float eps_;
  const SequenceActivations* frozen_ = nullptr;
  std::vector<LayerProjectionWeights> surrogate_;  // [L], frozen mode only
};

}  // namespace

std::vector<LayerProjectionWeights> projection_weights(const Model& model) {
  const bool ternary =
      projection_quantization(model.config.activation_scheme, ProjectionInput::qkv, 1.0f)
          .ternary_weights;
  std::vector<LayerProjectionWeights> out;
  out.reserve(model.weights.layers.size());
  for (const LayerWeights& lw : model.weights.layers) {
    out.push_back(
        {weights_of(lw.q_proj, ternary, "q_proj"), weights_of(lw.k_proj, ternary, "k_proj"),
         weights_of(lw.v_proj, ternary, "v_proj"), weights_of(lw.o_proj, ternary, "o_proj"),
         weights_of(lw.gate_proj, ternary, "gate_proj"), weights_of(lw.up_proj, ternary, "up_proj"),
         weights_of(lw.down_proj, ternary, "down_proj")});
  }
  return out;
}

SequenceActivations train_forward_sequence(const Model& model, std::span<const int32_t> tokens,
                                           const FrozenQuantization* frozen) {
  return SequencePass(model, frozen).run(tokens);
}

}  // namespace a48
