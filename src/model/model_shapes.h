// Named model shapes for benchmarks and `a48 init`: BitNet b1.58 2B4T (HF config) and the sizes of
// the paper's Table 6 (700M, 1.3B, 3B, 7B; LLaMA's 32000-token vocabulary, no GQA).
#pragma once

#include <string_view>
#include <vector>

#include "model/config.h"

namespace a48 {

// "2b4t", "700m", "1.3b", "3b", "7b"; throws a48::Error naming the known shapes otherwise.
// The activation scheme is a4.8 with 4-bit Q and a 3-bit KV cache; callers override.
ModelConfig model_shape(std::string_view name);
std::vector<std::string_view> model_shape_names();

}  // namespace a48
