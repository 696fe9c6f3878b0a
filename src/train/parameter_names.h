// The HF tensor names of the trainable tensors, as src/format/model_files.cpp reads and writes
// them, and where each lives in a Model: one list shared by the layout and the gradient code.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace a48 {

inline constexpr std::string_view kEmbedTokensName = "model.embed_tokens.weight";
inline constexpr std::string_view kFinalNormName = "model.norm.weight";
inline constexpr std::string_view kLmHeadName = "lm_head.weight";

// The tensors of one layer, in layout order.
enum class LayerTensor {
  attn_norm,
  q_proj,
  k_proj,
  v_proj,
  attn_sub_norm,
  o_proj,
  ffn_norm,
  gate_proj,
  up_proj,
  ffn_sub_norm,
  down_proj,
};
inline constexpr std::size_t kLayerTensorCount = 11;

// "model.layers.{layer}." followed by the tensor's HF suffix.
std::string layer_tensor_name(int64_t layer, LayerTensor tensor);

}  // namespace a48
