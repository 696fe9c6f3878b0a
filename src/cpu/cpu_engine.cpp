#include "cpu/cpu_engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <thread>

#include "core/error.h"
#include "cpu/attention_kernel.h"
#include "cpu/bitlinear.h"
#include "cpu/dispatch.h"
#include "model/reference_engine.h"
#include "quant/quant_common.h"
#include "ref/glu.h"
#include "ref/projection.h"
#include "ref/rmsnorm.h"
#include "ref/rope.h"

namespace a48::cpu {

// Per-call buffers, kept between calls so that decode allocates (almost) nothing.
struct CpuEngine::Scratch {
  std::vector<KvCache*> token_cache;   // [N]
  std::vector<int64_t> token_position;  // [N]
  std::vector<float> x, normed;         // [N, d]
  std::vector<int8_t> codes;            // [N, max(d, q, F)]
  std::vector<float> steps;             // [N]
  std::vector<int64_t> nonzero;         // [N] non-zero codes per token (Table 2 counters)
  std::vector<float> q, k, v, attn;     // [N, q], [N, kv], [N, kv], [N, q]
  std::vector<float> proj;              // [N, d] o_proj / down outputs
  std::vector<float> gate, active, up;  // [N, F]
  std::vector<float> rope_cos, rope_sin;  // [N, hd/2]: each token's angles, once per call
};

namespace {

template <class T>
void fit(std::vector<T>& v, int64_t n) {
  v.resize(static_cast<std::size_t>(n));
}

template <class T>
std::span<T> row_of(std::vector<T>& v, int64_t t, int64_t width) {
  return std::span<T>(v).subspan(static_cast<std::size_t>(t * width),
                                 static_cast<std::size_t>(width));
}

}  // namespace

CpuEngine::CpuEngine(const Model& model, const CpuEngineOptions& options)
    : config_(model.config),
      kernels_(options.kernels != nullptr ? options.kernels : &active_kernels()),
      scratch_(std::make_unique<Scratch>()) {
  config_.validate();
  const ModelConfig& c = config_;
  check(projection_quantization(c.activation_scheme, ProjectionInput::qkv, c.topk_fraction)
            .ternary_weights,
        "cpu engine: scheme '{}' has full-precision weights and no ternary kernels; run it with "
        "--device reference",
        to_string(c.activation_scheme));
  check(c.head_dim() % 2 == 0, "cpu engine: head_dim {} must be even for RoPE", c.head_dim());
  const ModelWeights& w = model.weights;
  check(static_cast<int64_t>(w.layers.size()) == c.num_hidden_layers,
        "cpu engine: model has {} layers, config says {}", w.layers.size(), c.num_hidden_layers);
  auto norm = [](const std::vector<float>& v, int64_t n, const char* name, std::size_t l) {
    check(static_cast<int64_t>(v.size()) == n, "cpu engine: layer {} {} has {} values, not {}", l,
          name, v.size(), n);
    return v;
  };
  const int64_t d = c.hidden_size, f = c.intermediate_size;
  for (std::size_t l = 0; l < w.layers.size(); ++l) {
    const LayerWeights& lw = w.layers[l];
    Layer layer;
    layer.attn_norm = norm(lw.attn_norm, d, "input_layernorm", l);
    layer.attn_sub_norm = norm(lw.attn_sub_norm, c.q_size(), "attn_sub_norm", l);
    layer.ffn_norm = norm(lw.ffn_norm, d, "post_attention_layernorm", l);
    layer.ffn_sub_norm = norm(lw.ffn_sub_norm, f, "ffn_sub_norm", l);
    auto pack = [&](const LinearWeights& lin, int64_t n_out, int64_t n_in, PackOrder order,
                    const char* name) {
      check(lin.n_out == n_out && lin.n_in == n_in, "cpu engine: layer {} {} is [{}, {}], not [{}, {}]",
            l, name, lin.n_out, lin.n_in, n_out, n_in);
      return pack_linear(lin, order);
    };
    layer.q_proj = pack(lw.q_proj, c.q_size(), d, PackOrder::rows, "q_proj");
    layer.k_proj = pack(lw.k_proj, c.kv_size(), d, PackOrder::rows, "k_proj");
    layer.v_proj = pack(lw.v_proj, c.kv_size(), d, PackOrder::rows, "v_proj");
    layer.o_proj = pack(lw.o_proj, d, c.q_size(), PackOrder::columns, "o_proj");
    layer.gate_proj = pack(lw.gate_proj, f, d, PackOrder::rows, "gate_proj");
    layer.up_proj = pack(lw.up_proj, f, d, PackOrder::rows, "up_proj");
    layer.down_proj = pack(lw.down_proj, d, f, PackOrder::columns, "down_proj");
    layers_.push_back(std::move(layer));
  }
  final_norm_ = norm(w.final_norm, d, "final norm", 0);
  check(static_cast<int64_t>(w.embed_tokens.size()) == c.vocab_size * d,
        "cpu engine: embed_tokens has {} values, expected [{}, {}]", w.embed_tokens.size(),
        c.vocab_size, d);
  head_ = LmHead(w.output_matrix(), c.vocab_size, d, options.head);
  if (!w.lm_head.empty()) embed_ = w.embed_tokens;
  const int threads =
      options.threads > 0 ? options.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  pool_ = std::make_unique<ThreadPool>(threads);
}

CpuEngine::~CpuEngine() = default;

std::string CpuEngine::describe() const {
  return fmt::format("cpu {}, {} thread{}, head {}", kernels_->name, pool_->size(),
                     pool_->size() == 1 ? "" : "s", to_string(head_.precision()));
}

CpuEngine::ProjectionBytes CpuEngine::projection_bytes() const {
  ProjectionBytes bytes;
  for (const Layer& l : layers_) {
    bytes.qkv += l.q_proj.bytes() + l.k_proj.bytes() + l.v_proj.bytes();
    bytes.out += l.o_proj.bytes();
    bytes.gate += l.gate_proj.bytes();
    bytes.up += l.up_proj.bytes();
    bytes.down += l.down_proj.bytes();
  }
  return bytes;
}

std::unique_ptr<SequenceState> CpuEngine::new_sequence(int64_t capacity_tokens) {
  check(capacity_tokens > 0 && capacity_tokens <= config_.max_position_embeddings,
        "a sequence of {} positions does not fit the model's context of {}", capacity_tokens,
        config_.max_position_embeddings);
  return std::make_unique<HostSequence>(config_, capacity_tokens, this);
}

std::vector<float> CpuEngine::forward(std::span<const EngineStep> batch,
                                      SparsityStats* sparsity) {
  check_engine_batch(config_, batch);
  const std::vector<KvCache*> caches = host_caches(batch, this, "cpu");
  const ModelConfig& c = config_;
  const int64_t d = c.hidden_size, f = c.intermediate_size, nq = c.q_size(), nkv = c.kv_size();
  const int64_t h = c.num_attention_heads, h_kv = c.num_key_value_heads, hd = c.head_dim();
  const auto eps = static_cast<float>(c.rms_norm_eps);
  const int qbits = query_bits(c.attention_bits);
  Scratch& s = *scratch_;
  ThreadPool* pool = pool_.get();

  // Flatten the batch: token t belongs to caches[seq] at position.
  s.token_cache.clear();
  s.token_position.clear();
  std::vector<int32_t> ids;
  std::vector<int64_t> logit_tokens;  // the tokens whose logits are returned, in order
  for (std::size_t b = 0; b < batch.size(); ++b) {
    const int64_t start = caches[b]->size();
    const auto n = static_cast<int64_t>(batch[b].tokens.size());
    for (int64_t i = 0; i < n; ++i) {
      if (batch[b].all_logits || i == n - 1) {
        logit_tokens.push_back(static_cast<int64_t>(ids.size()));
      }
      ids.push_back(batch[b].tokens[static_cast<std::size_t>(i)]);
      s.token_cache.push_back(caches[b]);
      s.token_position.push_back(start + i);
    }
  }
  const auto n_tokens = static_cast<int64_t>(ids.size());
  auto for_tokens = [&](auto&& fn) {
    if (n_tokens == 1) {
      fn(int64_t{0});
    } else {
      pool->run(n_tokens, fn);
    }
  };
  const int64_t widest = std::max({d, nq, f});
  fit(s.x, n_tokens * d);
  fit(s.normed, n_tokens * d);
  fit(s.codes, n_tokens * widest);
  fit(s.steps, n_tokens);
  fit(s.nonzero, n_tokens);
  fit(s.q, n_tokens * nq);
  fit(s.k, n_tokens * nkv);
  fit(s.v, n_tokens * nkv);
  fit(s.attn, n_tokens * nq);
  fit(s.proj, n_tokens * d);
  fit(s.gate, n_tokens * f);
  fit(s.active, n_tokens * f);
  fit(s.up, n_tokens * f);
  fit(s.rope_cos, n_tokens * hd / 2);
  fit(s.rope_sin, n_tokens * hd / 2);

  for_tokens([&](int64_t t) {
    ref::rope_angles(hd, c.rope_theta, s.token_position[static_cast<std::size_t>(t)],
                     row_of(s.rope_cos, t, hd / 2), row_of(s.rope_sin, t, hd / 2));
    const auto token = ids[static_cast<std::size_t>(t)];
    if (embed_.empty()) {
      head_.row(token, row_of(s.x, t, d));
    } else {
      std::copy_n(embed_.begin() + static_cast<std::ptrdiff_t>(token * d), d,
                  s.x.begin() + static_cast<std::ptrdiff_t>(t * d));
    }
  });

  SparsityStats stats;
  // Quantizes rows of `src` ([N, width]) for `input` into s.codes ([N, width]) and s.steps.
  auto quantize = [&](std::vector<float>& src, int64_t width, ProjectionInput input) {
    const ProjectionQuantization pq = projection_quantization(c.activation_scheme, input,
                                                              c.topk_fraction);
    for_tokens([&](int64_t t) {
      const ref::ActivationRow a = ref::quantize_activation_row(pq, row_of(src, t, width));
      std::copy(a.q.begin(), a.q.end(), s.codes.begin() + static_cast<std::ptrdiff_t>(t * width));
      s.steps[static_cast<std::size_t>(t)] = a.step;
      s.nonzero[static_cast<std::size_t>(t)] = a.count_nonzero();
    });
  };
  auto project = [&](const PackedLinear& w, int64_t width, std::vector<float>& out,
                     std::span<const float> row_mask = {}) {
    bitlinear_tokens(w, n_tokens,
                     std::span<const int8_t>(s.codes).first(static_cast<std::size_t>(n_tokens * width)),
                     s.steps, std::span<float>(out).first(static_cast<std::size_t>(n_tokens * w.n_out)),
                     row_mask, pool, kernels_);
  };
  auto count = [&](SparsityStats::Entry& e, int64_t n_out, int64_t n_in) {
    for (int64_t t = 0; t < n_tokens; ++t) {
      e.add_token(s.nonzero[static_cast<std::size_t>(t)], n_out, n_out, n_in);
    }
  };

  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const Layer& w = layers_[l];
    const auto layer = static_cast<int64_t>(l);
    // ---- attention block: x += o_proj(Q_out(sub_norm(Attention(RoPE(q), RoPE(k), v))))
    for_tokens([&](int64_t t) {
      ref::rmsnorm(row_of(s.x, t, d), w.attn_norm, eps, row_of(s.normed, t, d));
    });
    quantize(s.normed, d, ProjectionInput::qkv);
    project(w.q_proj, d, s.q);
    project(w.k_proj, d, s.k);
    project(w.v_proj, d, s.v);
    count(stats.qkv, nq + 2 * nkv, d);
    // RoPE and the K/V write, in token order (a cache stores its positions in order).
    for (int64_t t = 0; t < n_tokens; ++t) {
      const int64_t position = s.token_position[static_cast<std::size_t>(t)];
      const std::span<const float> cos = row_of(s.rope_cos, t, hd / 2);
      const std::span<const float> sin = row_of(s.rope_sin, t, hd / 2);
      ref::rope_rotate(row_of(s.q, t, nq), h, hd, cos, sin);
      ref::rope_rotate(row_of(s.k, t, nkv), h_kv, hd, cos, sin);
      s.token_cache[static_cast<std::size_t>(t)]->store(layer, position, row_of(s.k, t, nkv),
                                                        row_of(s.v, t, nkv));
    }
    pool->run(n_tokens * h, [&](int64_t task) {
      thread_local std::vector<float> attention_scratch;
      const int64_t t = task / h, head = task % h;
      const int64_t position = s.token_position[static_cast<std::size_t>(t)];
      attend(*s.token_cache[static_cast<std::size_t>(t)], layer, position + 1, row_of(s.q, t, nq),
             h, qbits, head, head + 1, row_of(s.attn, t, nq), attention_scratch);
    });
    for_tokens([&](int64_t t) {
      ref::rmsnorm(row_of(s.attn, t, nq), w.attn_sub_norm, eps, row_of(s.attn, t, nq));
    });
    quantize(s.attn, nq, ProjectionInput::out);
    project(w.o_proj, nq, s.proj);
    count(stats.out, d, nq);
    for (std::size_t i = 0; i < s.x.size(); ++i) s.x[i] += s.proj[i];

    // ---- FFN block: x += down(Q_down(sub_norm(act(gate(Q_in(norm(x)))) * up(Q_in(norm(x))))))
    for_tokens([&](int64_t t) {
      ref::rmsnorm(row_of(s.x, t, d), w.ffn_norm, eps, row_of(s.normed, t, d));
    });
    quantize(s.normed, d, ProjectionInput::gate_up);
    project(w.gate_proj, d, s.gate);
    const bool relu2 = c.hidden_act == HiddenActivation::relu2;
    for (std::size_t i = 0; i < s.gate.size(); ++i) {
      s.active[i] = relu2 ? ref::relu2(s.gate[i]) : ref::silu(s.gate[i]);
    }
    project(w.up_proj, d, s.up, s.active);  // only the rows of non-zero gate channels
    for (int64_t t = 0; t < n_tokens; ++t) {
      const auto active_rows = static_cast<int64_t>(
          std::count_if(s.active.begin() + static_cast<std::ptrdiff_t>(t * f),
                        s.active.begin() + static_cast<std::ptrdiff_t>((t + 1) * f),
                        [](float a) { return a != 0.0f; }));
      const int64_t nz = s.nonzero[static_cast<std::size_t>(t)];
      stats.gate.add_token(nz, f, f, d);
      stats.up.add_token(nz, active_rows, f, d);
    }
    for_tokens([&](int64_t t) {
      const std::span<float> glu = row_of(s.up, t, f);  // glu overwrites up, then the sub-norm
      if (relu2) {
        ref::relu2_glu(row_of(s.gate, t, f), glu, glu);
      } else {
        ref::silu_glu(row_of(s.gate, t, f), glu, glu);
      }
      ref::rmsnorm(glu, w.ffn_sub_norm, eps, glu);
    });
    quantize(s.up, f, ProjectionInput::down);
    project(w.down_proj, f, s.proj);
    count(stats.down, d, f);
    for (std::size_t i = 0; i < s.x.size(); ++i) s.x[i] += s.proj[i];
  }

  const int64_t vocab = c.vocab_size;
  std::vector<float> logits(logit_tokens.size() * static_cast<std::size_t>(vocab));
  std::vector<float> normed(static_cast<std::size_t>(d));
  for (std::size_t r = 0; r < logit_tokens.size(); ++r) {
    ref::rmsnorm(row_of(s.x, logit_tokens[r], d), final_norm_, eps, normed);
    // As the reference: a corrupt weight must not turn into silently NaN logits.
    check_finite(normed, "forward: final hidden state");
    head_.logits(normed, std::span<float>(logits).subspan(r * static_cast<std::size_t>(vocab),
                                                          static_cast<std::size_t>(vocab)),
                 pool, *kernels_);
  }
  // Commit only once everything ran, so that a throw leaves every cache as it was.
  for (std::size_t b = 0; b < batch.size(); ++b) {
    caches[b]->commit(static_cast<int64_t>(batch[b].tokens.size()));
  }
  stats.n_tokens += n_tokens;
  if (sparsity != nullptr) sparsity->add(stats);
  return logits;
}

}  // namespace a48::cpu
