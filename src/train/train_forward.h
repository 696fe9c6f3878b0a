// The training forward (§2.2) of one sequence, causal from position 0: the reference forward of
// model/forward.h with the same ops in the same order (so its logits equal `forward`'s with
// attention_bits 16), run layer by layer over the whole sequence, keeping what the backward needs.
// Projections see the scheme's fake-quantized inputs (eqs. 1, 3, 7, 8-9) and ternary weights
// (eq. 2) quantized on the fly from the latent weights; attention is full precision.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/weights.h"

namespace a48 {

// The matrices each projection's forward multiplies, in fp32: alpha * t (eq. 2) for the ternary
// schemes, the latent weights for `fp`. The backward propagates through these: by the
// straight-through estimator, d loss / d W_latent = d loss / d (alpha * t).
struct LayerProjectionWeights {
  std::vector<float> q, k, v, o, gate, up, down;  // [n_out, n_in] each, as in LayerWeights
};
// For model.config.activation_scheme. Throws a48::Error when a projection has no latent weights.
std::vector<LayerProjectionWeights> projection_weights(const Model& model);  // [L]

// One layer's activations for a sequence of T tokens. "x_hat" rows are a projection's input after
// top-K and the quantizer (dequantized): what it multiplies.
struct LayerActivations {
  std::vector<float> x;               // [T, d]       residual stream entering the layer
  std::vector<float> attn_normed;     // [T, d]       input_layernorm output
  std::vector<float> attn_in;         // [T, d]       x_hat of q/k/v_proj
  std::vector<float> q;               // [T, H*hd]    post-RoPE
  std::vector<float> k;               // [T, H_kv*hd] post-RoPE
  std::vector<float> v;               // [T, H_kv*hd]
  std::vector<float> attn;            // [T, H*hd]    attention output, before attn_sub_norm
  std::vector<float> attn_subnormed;  // [T, H*hd]
  std::vector<float> o_in;            // [T, H*hd]    x_hat of o_proj
  std::vector<float> h;               // [T, d]       residual stream after attention
  std::vector<float> ffn_normed;      // [T, d]       post_attention_layernorm output
  std::vector<float> ffn_in;          // [T, d]       x_hat of gate/up_proj
  std::vector<float> gate;            // [T, F]
  std::vector<float> up;              // [T, F]       every row (no gate-zero skipping)
  std::vector<float> glu;             // [T, F]       before ffn_sub_norm
  std::vector<float> glu_subnormed;   // [T, F]
  std::vector<float> down_in;         // [T, F]       x_hat of down_proj
};

struct SequenceActivations {
  std::vector<int32_t> tokens;           // [T]
  std::vector<LayerActivations> layers;  // [L]
  std::vector<float> x_final;            // [T, d] residual stream after the last layer
  std::vector<float> normed;             // [T, d] final norm output: the LM head's input
  std::vector<float> logits;             // [T, V]
  int64_t n_tokens() const { return static_cast<int64_t>(tokens.size()); }
};

// The straight-through estimator written as a function (PyTorch's x + (Q(x) - x).detach()):
// every quantized value is its input plus the quantization residual frozen at a reference point,
// x_hat = x + (x_hat_0 - x_0) and W = W_latent + (alpha_0 t_0 - W_latent_0), all in fp32
// arithmetic. At that point it computes the same values as the quantized forward (up to rounding),
// and its exact gradient there is the STE gradient: tests check the backward of a quantized
// scheme against its finite differences.
struct FrozenQuantization {
  const Model* model = nullptr;                      // the reference point's weights and scheme
  const SequenceActivations* activations = nullptr;  // its forward of the same tokens
};

// Runs `tokens` (ids in [0, V), at positions 0..T-1) through `model` under
// model.config.activation_scheme. Throws a48::Error on bad ids, shapes, or a non-finite state.
SequenceActivations train_forward_sequence(const Model& model, std::span<const int32_t> tokens,
                                           const FrozenQuantization* frozen = nullptr);

}  // namespace a48
