#include "model/engine.h"

#include <set>

#include "core/error.h"

namespace a48 {

HeadPrecision parse_head_precision(std::string_view name) {
  if (name == "f32") return HeadPrecision::f32;
  if (name == "f16") return HeadPrecision::f16;
  if (name == "int8") return HeadPrecision::int8;
  fail("unknown head precision '{}' (expected f32, f16 or int8)", name);
}

std::string_view to_string(HeadPrecision precision) {
  switch (precision) {
    case HeadPrecision::f32: return "f32";
    case HeadPrecision::f16: return "f16";
    case HeadPrecision::int8: return "int8";
  }
  return "?";
}

void check_step_tokens(const ModelConfig& config, std::size_t s, std::span<const int32_t> tokens, int64_t size,
                       int64_t capacity) {
  check(!tokens.empty(), "forward: sequence {} has no tokens", s);
  const auto n = static_cast<int64_t>(tokens.size());
  check(size + n <= capacity, "forward: sequence {} needs positions up to {} but holds {}", s, size + n, capacity);
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    check(tokens[t] >= 0 && tokens[t] < config.vocab_size, "forward: sequence {} token {} has id {} outside [0, {})",
          s, t, tokens[t], config.vocab_size);
  }
}

void check_engine_batch(const ModelConfig& config, std::span<const EngineStep> batch) {
  std::set<const SequenceState*> seen;
  for (std::size_t s = 0; s < batch.size(); ++s) {
    const EngineStep& step = batch[s];
    check(step.sequence != nullptr, "forward: step {} has no sequence", s);
    check(seen.insert(step.sequence).second, "forward: step {} repeats another step's sequence", s);
    check_step_tokens(config, s, step.tokens, step.sequence->size(), step.sequence->capacity());
  }
}

}  // namespace a48
