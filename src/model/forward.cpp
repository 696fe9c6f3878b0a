// The reference forward pass (§2.1, Figure 1): tokens one at a time, in order, through every
// layer, with each projection's input quantized as the scheme says (model/activation_scheme.h)
// and the attention's K/V read back from the (possibly quantized) cache (§3.1).
#include "model/forward.h"

#include <set>

#include "core/error.h"
#include "model/engine.h"
#include "quant/quant_common.h"
#include "ref/attention.h"
#include "ref/embedding.h"
#include "ref/glu.h"
#include "ref/linear.h"
#include "ref/projection.h"
#include "ref/rmsnorm.h"
#include "ref/rope.h"

namespace a48 {

namespace {

// ---- validation --------------------------------------------------------------------------------

void check_norm(const std::vector<float>& v, int64_t n, std::string_view name, int64_t layer) {
  check(static_cast<int64_t>(v.size()) == n, "forward: layer {} {} has {} values, expected {}",
        layer, name, v.size(), n);
}

void check_linear(const LinearWeights& w, int64_t n_out, int64_t n_in, bool fp_scheme,
                  std::string_view name, int64_t layer) {
  const int64_t n = n_out * n_in;
  check(w.n_out == n_out && w.n_in == n_in, "forward: layer {} {} is [{}, {}], expected [{}, {}]",
        layer, name, w.n_out, w.n_in, n_out, n_in);
  check(w.latent.empty() || static_cast<int64_t>(w.latent.size()) == n,
        "forward: layer {} {} latent holds {} values, expected {}", layer, name, w.latent.size(),
        n);
  const bool has_ternary = static_cast<int64_t>(w.ternary.size()) == n;
  check(has_ternary || (w.ternary.empty() && fp_scheme && !w.latent.empty()),
        "forward: layer {} {} ternary codes hold {} values, expected {}", layer, name,
        w.ternary.size(), n);
}

void check_model(const Model& model) {
  const ModelConfig& c = model.config;
  c.validate();
  const int64_t d = c.hidden_size, f = c.intermediate_size, q = c.q_size(), kv = c.kv_size();
  check(c.head_dim() % 2 == 0, "forward: head_dim {} must be even for RoPE", c.head_dim());
  const ModelWeights& w = model.weights;
  check(static_cast<int64_t>(w.embed_tokens.size()) == c.vocab_size * d,
        "forward: embed_tokens has {} values, expected [{}, {}]", w.embed_tokens.size(),
        c.vocab_size, d);
  check(static_cast<int64_t>(w.output_matrix().size()) == c.vocab_size * d,
        "forward: lm_head has {} values, expected [{}, {}]", w.output_matrix().size(), c.vocab_size,
        d);
  check_norm(w.final_norm, d, "final norm", -1);
  check(static_cast<int64_t>(w.layers.size()) == c.num_hidden_layers,
        "forward: model has {} layers, config says {}", w.layers.size(), c.num_hidden_layers);
  const bool fp = c.activation_scheme == ActivationScheme::fp;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const LayerWeights& lw = w.layers[static_cast<std::size_t>(l)];
    check_norm(lw.attn_norm, d, "input_layernorm", l);
    check_norm(lw.attn_sub_norm, q, "attn_sub_norm", l);
    check_norm(lw.ffn_norm, d, "post_attention_layernorm", l);
    check_norm(lw.ffn_sub_norm, f, "ffn_sub_norm", l);
    check_linear(lw.q_proj, q, d, fp, "q_proj", l);
    check_linear(lw.k_proj, kv, d, fp, "k_proj", l);
    check_linear(lw.v_proj, kv, d, fp, "v_proj", l);
    check_linear(lw.o_proj, d, q, fp, "o_proj", l);
    check_linear(lw.gate_proj, f, d, fp, "gate_proj", l);
    check_linear(lw.up_proj, f, d, fp, "up_proj", l);
    check_linear(lw.down_proj, d, f, fp, "down_proj", l);
  }
}

void check_batch(const Model& model, std::span<const SequenceInput> batch) {
  const ModelConfig& c = model.config;
  std::set<const KvCache*> caches;
  for (std::size_t s = 0; s < batch.size(); ++s) {
    const SequenceInput& seq = batch[s];
    check(seq.cache != nullptr, "forward: sequence {} has no KV cache", s);
    check(caches.insert(seq.cache).second, "forward: sequence {} shares its KV cache with another",
          s);
    const KvCache& cache = *seq.cache;
    check(cache.n_layers() == c.num_hidden_layers && cache.n_kv_heads() == c.num_key_value_heads &&
              cache.head_dim() == c.head_dim() && cache.bits() == kv_cache_bits(c.attention_bits),
          "forward: sequence {}'s KV cache (L {}, H_kv {}, hd {}, {} bits) does not match the "
          "model (L {}, H_kv {}, hd {}, {} bits)",
          s, cache.n_layers(), cache.n_kv_heads(), cache.head_dim(), cache.bits(),
          c.num_hidden_layers, c.num_key_value_heads, c.head_dim(),
          kv_cache_bits(c.attention_bits));
    check_step_tokens(c, s, seq.tokens, cache.size(), cache.capacity());
  }
}

// ---- one token ---------------------------------------------------------------------------------

class TokenPass {
 public:
  TokenPass(const Model& model, const ForwardOptions& options, SparsityStats& stats)
      : m_(model),
        c_(model.config),
        options_(options),
        stats_(stats),
        eps_(static_cast<float>(model.config.rms_norm_eps)) {}

  // Runs `token` at `position` through every layer; returns the final-normed state [d].
  std::vector<float> run(KvCache& cache, int32_t token, int64_t position) {
    std::vector<float> x(static_cast<std::size_t>(c_.hidden_size));  // [d] residual stream
    ref::embedding(m_.weights.embed_tokens, c_.vocab_size, c_.hidden_size, token, x);
    emit("embed", -1, x);
    for (int64_t l = 0; l < c_.num_hidden_layers; ++l) {
      attention_block(cache, l, position, x);
      ffn_block(l, x);
      emit("l_out", l, x);
    }
    std::vector<float> normed(x.size());  // [d]
    ref::rmsnorm(x, m_.weights.final_norm, eps_, normed);
    emit("final_norm", -1, normed);
    // The quantizers reject non-finite activations; the `fp` scheme has none, so check here that a
    // corrupt weight cannot turn into silently NaN logits.
    check_finite(normed, "forward: final hidden state");
    stats_.n_tokens += 1;
    return normed;
  }

 private:
  void emit(std::string_view name, int64_t layer, std::span<const float> values) const {
    if (options_.on_intermediate) options_.on_intermediate(name, layer, values);
  }

  ProjectionQuantization quantization(ProjectionInput input) const {
    return projection_quantization(c_.activation_scheme, input, c_.topk_fraction);
  }

  static std::vector<float> zeros(int64_t n) {
    return std::vector<float>(static_cast<std::size_t>(n));
  }

  // x += o_proj(Q_out(sub_norm(Attention(RoPE(q), RoPE(k), v))))  with q,k,v = proj(Q_in(norm(x)))
  void attention_block(KvCache& cache, int64_t l, int64_t position, std::vector<float>& x) {
    const LayerWeights& lw = m_.weights.layers[static_cast<std::size_t>(l)];
    const int64_t d = c_.hidden_size, hd = c_.head_dim(), h = c_.num_attention_heads;
    const int64_t h_kv = c_.num_key_value_heads;
    std::vector<float> normed = zeros(d);  // [d]
    ref::rmsnorm(x, lw.attn_norm, eps_, normed);
    emit("attn_norm", l, normed);

    const ProjectionQuantization pq_in = quantization(ProjectionInput::qkv);
    const ref::ActivationRow in = ref::quantize_activation_row(pq_in, normed);
    std::vector<float> q = zeros(c_.q_size()), k = zeros(c_.kv_size()), v = zeros(c_.kv_size());
    ref::project(pq_in, lw.q_proj, in, q);  // [H*hd]
    ref::project(pq_in, lw.k_proj, in, k);  // [H_kv*hd]
    ref::project(pq_in, lw.v_proj, in, v);  // [H_kv*hd]
    ref::rope(q, h, hd, position, c_.rope_theta);
    ref::rope(k, h_kv, hd, position, c_.rope_theta);
    emit("q", l, q);
    emit("k", l, k);
    emit("v", l, v);
    const int64_t n_qkv = c_.q_size() + 2 * c_.kv_size();
    stats_.qkv.add_token(in.count_nonzero(), n_qkv, n_qkv, d);

    // Store first, then read every position back from the cache (this one included), so that a
    // token sees its own K/V exactly as later tokens will: post-RoPE and quantized (§3.1).
    cache.store(l, position, k, v);
    const int64_t n_positions = position + 1;
    std::vector<float> keys = zeros(n_positions * c_.kv_size());    // [n_positions, H_kv, hd]
    std::vector<float> values = zeros(n_positions * c_.kv_size());  // [n_positions, H_kv, hd]
    for (int64_t p = 0; p < n_positions; ++p) {
      for (int64_t g = 0; g < h_kv; ++g) {
        const auto offset = static_cast<std::size_t>((p * h_kv + g) * hd);
        cache.load_k(l, p, g, std::span<float>(keys).subspan(offset, static_cast<std::size_t>(hd)));
        cache.load_v(l, p, g,
                     std::span<float>(values).subspan(offset, static_cast<std::size_t>(hd)));
      }
    }
    std::vector<float> attn = zeros(c_.q_size());  // [H*hd]
    ref::attention(q, keys, values, n_positions, h, h_kv, hd, query_bits(c_.attention_bits), attn);
    emit("attn_out", l, attn);
    ref::rmsnorm(attn, lw.attn_sub_norm, eps_, attn);
    emit("attn_sub_norm", l, attn);

    const ProjectionQuantization pq_out = quantization(ProjectionInput::out);
    const ref::ActivationRow out_in = ref::quantize_activation_row(pq_out, attn);
    std::vector<float> o = zeros(d);  // [d]
    ref::project(pq_out, lw.o_proj, out_in, o);
    emit("o_proj", l, o);
    stats_.out.add_token(out_in.count_nonzero(), d, d, c_.q_size());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = x[i] + o[i];
  }

  // x += down(Q_down(sub_norm(act(gate(Q_in(norm(x)))) * up(Q_in(norm(x))))))   (eq. 5)
  void ffn_block(int64_t l, std::vector<float>& x) {
    const LayerWeights& lw = m_.weights.layers[static_cast<std::size_t>(l)];
    const int64_t d = c_.hidden_size, f = c_.intermediate_size;
    std::vector<float> normed = zeros(d);  // [d]
    ref::rmsnorm(x, lw.ffn_norm, eps_, normed);
    emit("ffn_norm", l, normed);

    const ProjectionQuantization pq_in = quantization(ProjectionInput::gate_up);
    const ref::ActivationRow in = ref::quantize_activation_row(pq_in, normed);
    std::vector<float> gate = zeros(f);  // [F]
    ref::project(pq_in, lw.gate_proj, in, gate);
    emit("gate", l, gate);
    const bool relu2 = c_.hidden_act == HiddenActivation::relu2;
    std::vector<float> activated = zeros(f);  // [F] act(gate): its zeros are the rows up skips
    int64_t active_rows = 0;
    for (std::size_t i = 0; i < gate.size(); ++i) {
      activated[i] = relu2 ? ref::relu2(gate[i]) : ref::silu(gate[i]);
      active_rows += activated[i] != 0.0f;
    }
    // §2.1: "first computing the gate projection and then performing the up projection only on
    // the non-zero channels of the gates".
    std::vector<float> up = zeros(f);  // [F]
    ref::project(pq_in, lw.up_proj, in, up, activated);
    emit("up", l, up);
    const int64_t in_nonzero = in.count_nonzero();
    stats_.gate.add_token(in_nonzero, f, f, d);
    stats_.up.add_token(in_nonzero, active_rows, f, d);

    std::vector<float> glu = zeros(f);  // [F]
    if (relu2) {
      ref::relu2_glu(gate, up, glu);
    } else {
      ref::silu_glu(gate, up, glu);
    }
    emit("glu", l, glu);
    ref::rmsnorm(glu, lw.ffn_sub_norm, eps_, glu);
    emit("ffn_sub_norm", l, glu);

    const ProjectionQuantization pq_down = quantization(ProjectionInput::down);
    const ref::ActivationRow down_in = ref::quantize_activation_row(pq_down, glu);
    std::vector<float> down = zeros(d);  // [d]
    ref::project(pq_down, lw.down_proj, down_in, down);
    emit("down", l, down);
    stats_.down.add_token(down_in.count_nonzero(), d, d, f);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = x[i] + down[i];
  }

  const Model& m_;
  const ModelConfig& c_;
  const ForwardOptions& options_;
  SparsityStats& stats_;
  float eps_;
};

}  // namespace

std::vector<float> forward(const Model& model, std::span<const SequenceInput> batch,
                           const ForwardOptions& options) {
  check_model(model);
  check_batch(model, batch);  // everything is checked before any cache is written
  const int64_t vocab = model.config.vocab_size, d = model.config.hidden_size;
  const std::vector<float>& head = model.weights.output_matrix();  // [V, d]
  SparsityStats stats;
  TokenPass pass(model, options, stats);
  std::vector<float> logits;  // [rows, V]
  for (const SequenceInput& seq : batch) {
    KvCache& cache = *seq.cache;
    const int64_t start = cache.size();
    const auto n = static_cast<int64_t>(seq.tokens.size());
    for (int64_t t = 0; t < n; ++t) {
      const std::vector<float> normed =
          pass.run(cache, seq.tokens[static_cast<std::size_t>(t)], start + t);
      if (seq.all_logits || t == n - 1) {
        logits.resize(logits.size() + static_cast<std::size_t>(vocab));
        ref::linear(normed, head, vocab, d,
                    std::span<float>(logits).last(static_cast<std::size_t>(vocab)));
      }
    }
  }
  // Commit only once every sequence has run, so that a failure part-way (e.g. a quantizer meeting a
  // non-finite activation from a corrupt model) leaves every cache's size as it was.
  for (const SequenceInput& seq : batch) seq.cache->commit(static_cast<int64_t>(seq.tokens.size()));
  if (options.sparsity != nullptr) options.sparsity->add(stats);
  return logits;
}

}  // namespace a48
