#include "model/model_shapes.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"

namespace a48 {

namespace {

struct Shape {
  std::string_view name;
  int64_t hidden, ffn, heads, kv_heads, layers, vocab, context;
  double rope_theta;
};

// 2B4T: microsoft/bitnet-b1.58-2B-4T config.json. The rest: Table 6 of the paper.
constexpr Shape kShapes[] = {
    {"2b4t", 2560, 6912, 20, 5, 30, 128256, 4096, 500000.0},
    {"700m", 1536, 4096, 24, 24, 24, 32000, 2048, 10000.0},
    {"1.3b", 2048, 5460, 32, 32, 24, 32000, 2048, 10000.0},
    {"3b", 3200, 8640, 32, 32, 26, 32000, 2048, 10000.0},
    {"7b", 4096, 11008, 32, 32, 32, 32000, 2048, 10000.0},
};

}  // namespace

std::vector<std::string_view> model_shape_names() {
  std::vector<std::string_view> names;
  for (const Shape& s : kShapes) names.push_back(s.name);
  return names;
}

ModelConfig model_shape(std::string_view name) {
  for (const Shape& s : kShapes) {
    if (s.name != name) continue;
    ModelConfig c;
    c.hidden_size = s.hidden;
    c.intermediate_size = s.ffn;
    c.num_attention_heads = s.heads;
    c.num_key_value_heads = s.kv_heads;
    c.num_hidden_layers = s.layers;
    c.vocab_size = s.vocab;
    c.max_position_embeddings = s.context;
    c.rope_theta = s.rope_theta;
    c.tie_word_embeddings = true;
    c.activation_scheme = ActivationScheme::a48;
    c.attention_bits = AttentionBits::q4_kv3;
    c.validate();
    return c;
  }
  fail("unknown model shape '{}' (known: {})", name, fmt::join(model_shape_names(), ", "));
}

}  // namespace a48
