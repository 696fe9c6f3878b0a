// Every trainable tensor of a model in one flat fp32 buffer: the form the optimizer, the gradient
// all-reduce, ZeRO-1 sharding and checkpoints use. Order: embed_tokens, then per layer
// attn_norm, q, k, v, attn_sub_norm, o, ffn_norm, gate, up, ffn_sub_norm, down, then final_norm
// (and lm_head when untied). Names are the HF tensor names (model.layers.N.self_attn.q_proj.weight).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/weights.h"

namespace a48 {

struct ParameterTensor {
  enum class Kind { embedding, norm, projection, lm_head };
  std::string name;
  Kind kind;
  std::vector<int64_t> shape;
  int64_t offset = 0;  // into the flat buffer
  int64_t numel = 0;
  bool weight_decay = false;  // projections and embeddings decay; norms do not
};

class ParameterLayout {
 public:
  explicit ParameterLayout(const ModelConfig& config);
  const std::vector<ParameterTensor>& tensors() const { return tensors_; }
  int64_t total() const { return total_; }
  const ParameterTensor& at(const std::string& name) const;  // throws a48::Error naming it

 private:
  std::vector<ParameterTensor> tensors_;
  int64_t total_ = 0;
};

// Latent weights -> flat buffer (projections must have latent weights; throws otherwise).
std::vector<float> flatten_parameters(const Model& model, const ParameterLayout& layout);
// Flat buffer -> model with latent weights and their ternary codes (eq. 2) filled in.
Model unflatten_parameters(std::span<const float> flat, const ModelConfig& config,
                           const ParameterLayout& layout);

}  // namespace a48
