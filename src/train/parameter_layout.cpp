// The flat parameter buffer of training: layout, names, and conversion to and from a Model.
#include "train/parameter_layout.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/error.h"
#include "train/parameter_names.h"

namespace a48 {

std::string layer_tensor_name(int64_t layer, LayerTensor tensor) {
  static constexpr std::array<std::string_view, kLayerTensorCount> kSuffixes = {
      "input_layernorm.weight",
      "self_attn.q_proj.weight",
      "self_attn.k_proj.weight",
      "self_attn.v_proj.weight",
      "self_attn.attn_sub_norm.weight",
      "self_attn.o_proj.weight",
      "post_attention_layernorm.weight",
      "mlp.gate_proj.weight",
      "mlp.up_proj.weight",
      "mlp.ffn_sub_norm.weight",
      "mlp.down_proj.weight"};
  return fmt::format("model.layers.{}.{}", layer, kSuffixes[static_cast<std::size_t>(tensor)]);
}

namespace {

using Kind = ParameterTensor::Kind;

// The layer's tensors in LayerTensor order, as pointers into the model: a norm or a projection.
// LayerT is LayerWeights or const LayerWeights; the pointers carry its constness.
template <class LayerT>
auto layer_slots(LayerT& w) {
  constexpr bool kConst = std::is_const_v<LayerT>;
  using Norm = std::conditional_t<kConst, const std::vector<float>, std::vector<float>>;
  using Projection = std::conditional_t<kConst, const LinearWeights, LinearWeights>;
  struct Slot {
    Norm* norm;
    Projection* projection;
  };
  return std::array<Slot, kLayerTensorCount>{{{&w.attn_norm, nullptr},
                                              {nullptr, &w.q_proj},
                                              {nullptr, &w.k_proj},
                                              {nullptr, &w.v_proj},
                                              {&w.attn_sub_norm, nullptr},
                                              {nullptr, &w.o_proj},
                                              {&w.ffn_norm, nullptr},
                                              {nullptr, &w.gate_proj},
                                              {nullptr, &w.up_proj},
                                              {&w.ffn_sub_norm, nullptr},
                                              {nullptr, &w.down_proj}}};
}

// The shapes of one layer's tensors for `config`, in LayerTensor order.
std::array<std::vector<int64_t>, kLayerTensorCount> layer_shapes(const ModelConfig& c) {
  const int64_t d = c.hidden_size, f = c.intermediate_size, q = c.q_size(), kv = c.kv_size();
  return {{{d}, {q, d}, {kv, d}, {kv, d}, {q}, {d, q}, {d}, {f, d}, {f, d}, {f}, {d, f}}};
}

// The layout must be the one `config` gives: same names, shapes and offsets.
void check_layout(const ModelConfig& config, const ParameterLayout& layout, const char* who) {
  const ParameterLayout expected(config);
  check(layout.tensors().size() == expected.tensors().size() && layout.total() == expected.total(),
        "{}: the layout has {} tensors and {} values, the config needs {} and {}", who,
        layout.tensors().size(), layout.total(), expected.tensors().size(), expected.total());
  for (std::size_t i = 0; i < expected.tensors().size(); ++i) {
    const ParameterTensor& a = layout.tensors()[i];
    const ParameterTensor& b = expected.tensors()[i];
    check(a.name == b.name && a.shape == b.shape && a.offset == b.offset,
          "{}: layout tensor {} is '{}', the config expects '{}' at the same place", who, i, a.name,
          b.name);
  }
}

std::span<const float> slice(std::span<const float> flat, const ParameterTensor& t) {
  return flat.subspan(static_cast<std::size_t>(t.offset), static_cast<std::size_t>(t.numel));
}

}  // namespace

ParameterLayout::ParameterLayout(const ModelConfig& config) {
  config.validate();
  const auto add = [this](std::string name, Kind kind, std::vector<int64_t> shape) {
    ParameterTensor t;
    t.name = std::move(name);
    t.kind = kind;
    t.numel = 1;
    for (int64_t n : shape) t.numel *= n;
    t.shape = std::move(shape);
    t.offset = total_;
    t.weight_decay = kind != Kind::norm;  // projections, embedding and LM head decay
    total_ += t.numel;
    tensors_.push_back(std::move(t));
  };
  const int64_t d = config.hidden_size, v = config.vocab_size;
  add(std::string(kEmbedTokensName), Kind::embedding, {v, d});
  const auto shapes = layer_shapes(config);
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    for (std::size_t j = 0; j < kLayerTensorCount; ++j) {
      const bool norm = shapes[j].size() == 1;
      add(layer_tensor_name(l, static_cast<LayerTensor>(j)), norm ? Kind::norm : Kind::projection,
          shapes[j]);
    }
  }
  add(std::string(kFinalNormName), Kind::norm, {d});
  if (!config.tie_word_embeddings) add(std::string(kLmHeadName), Kind::lm_head, {v, d});
}

const ParameterTensor& ParameterLayout::at(const std::string& name) const {
  for (const ParameterTensor& t : tensors_) {
    if (t.name == name) return t;
  }
  fail("parameter layout: no tensor named '{}'", name);
}

std::vector<float> flatten_parameters(const Model& model, const ParameterLayout& layout) {
  check_layout(model.config, layout, "flatten_parameters");
  std::vector<float> flat(static_cast<std::size_t>(layout.total()));
  std::size_t index = 0;
  const auto put = [&](const std::vector<float>& values, const ParameterTensor& t) {
    check(static_cast<int64_t>(values.size()) == t.numel,
          "flatten_parameters: '{}' has {} values, expected {}", t.name, values.size(), t.numel);
    std::copy(values.begin(), values.end(), flat.begin() + t.offset);
  };
  const auto& tensors = layout.tensors();
  put(model.weights.embed_tokens, tensors[index++]);
  check(static_cast<int64_t>(model.weights.layers.size()) == model.config.num_hidden_layers,
        "flatten_parameters: model has {} layers, config says {}", model.weights.layers.size(),
        model.config.num_hidden_layers);
  for (const LayerWeights& layer : model.weights.layers) {
    for (const auto& slot : layer_slots(layer)) {
      const ParameterTensor& t = tensors[index++];
      if (slot.norm != nullptr) {
        put(*slot.norm, t);
      } else {
        check(!slot.projection->latent.empty(),
              "flatten_parameters: '{}' has no latent weights (a packed ternary model cannot be "
              "trained)",
              t.name);
        put(slot.projection->latent, t);
      }
    }
  }
  put(model.weights.final_norm, tensors[index++]);
  if (!model.config.tie_word_embeddings) put(model.weights.lm_head, tensors[index++]);
  return flat;
}

Model unflatten_parameters(std::span<const float> flat, const ModelConfig& config,
                           const ParameterLayout& layout) {
  check_layout(config, layout, "unflatten_parameters");
  check(static_cast<int64_t>(flat.size()) == layout.total(),
        "unflatten_parameters: buffer has {} values, the layout {}", flat.size(), layout.total());
  const auto& tensors = layout.tensors();
  const auto take = [&](const ParameterTensor& t) {
    const std::span<const float> values = slice(flat, t);
    for (std::size_t i = 0; i < values.size(); ++i) {
      check(std::isfinite(values[i]), "unflatten_parameters: '{}' value {} is {}", t.name, i,
            values[i]);
    }
    return std::vector<float>(values.begin(), values.end());
  };
  Model model;
  model.config = config;
  std::size_t index = 0;
  model.weights.embed_tokens = take(tensors[index++]);
  model.weights.layers.resize(static_cast<std::size_t>(config.num_hidden_layers));
  for (LayerWeights& layer : model.weights.layers) {
    for (const auto& slot : layer_slots(layer)) {
      const ParameterTensor& t = tensors[index++];
      if (slot.norm != nullptr) {
        *slot.norm = take(t);
      } else {
        LinearWeights& w = *slot.projection;
        w.n_out = t.shape[0];
        w.n_in = t.shape[1];
        w.latent = take(t);
        w.quantize_from_latent();  // eq. 2, on the fly from the latent weights (§2.2)
      }
    }
  }
  model.weights.final_norm = take(tensors[index++]);
  if (!config.tie_word_embeddings) model.weights.lm_head = take(tensors[index++]);
  return model;
}

}  // namespace a48
