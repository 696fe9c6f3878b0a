#include "ref/glu.h"

#include <cmath>

#include "core/error.h"

namespace a48::ref {

namespace {

void check_sizes(const char* who, std::size_t gate, std::size_t up, std::size_t out) {
  check(gate == up && gate == out, "{}: sizes differ (gate {}, up {}, out {})", who, gate, up, out);
}

}  // namespace

float relu2(float gate) {
  const float r = gate > 0.0f ? gate : 0.0f;
  return r * r;
}

float silu(float gate) { return gate / (1.0f + std::exp(-gate)); }

void relu2_glu(std::span<const float> gate, std::span<const float> up, std::span<float> out) {
  check_sizes("relu2_glu", gate.size(), up.size(), out.size());
  for (std::size_t i = 0; i < gate.size(); ++i) out[i] = relu2(gate[i]) * up[i];
}

void silu_glu(std::span<const float> gate, std::span<const float> up, std::span<float> out) {
  check_sizes("silu_glu", gate.size(), up.size(), out.size());
  for (std::size_t i = 0; i < gate.size(); ++i) out[i] = silu(gate[i]) * up[i];
}

}  // namespace a48::ref
