#include "ref/glu_backward.h"

#include <cmath>

#include "core/error.h"

namespace a48::ref {

namespace {

void check_sizes(const char* who, std::span<const float> gate, std::span<const float> up,
                 std::span<const float> dout, std::span<float> dgate, std::span<float> dup) {
  const std::size_t n = gate.size();
  check(up.size() == n && dout.size() == n && dgate.size() == n && dup.size() == n,
        "{}: sizes differ (gate {}, up {}, dout {}, dgate {}, dup {})", who, n, up.size(),
        dout.size(), dgate.size(), dup.size());
}

}  // namespace

void relu2_glu_backward(std::span<const float> gate, std::span<const float> up,
                        std::span<const float> dout, std::span<float> dgate, std::span<float> dup) {
  check_sizes("relu2_glu_backward", gate, up, dout, dgate, dup);
  for (std::size_t i = 0; i < gate.size(); ++i) {
    const double r = gate[i] > 0.0f ? static_cast<double>(gate[i]) : 0.0;
    dup[i] = static_cast<float>(static_cast<double>(dout[i]) * r * r);
    dgate[i] = static_cast<float>(static_cast<double>(dout[i]) * up[i] * 2.0 * r);
  }
}

void silu_glu_backward(std::span<const float> gate, std::span<const float> up,
                       std::span<const float> dout, std::span<float> dgate, std::span<float> dup) {
  check_sizes("silu_glu_backward", gate, up, dout, dgate, dup);
  for (std::size_t i = 0; i < gate.size(); ++i) {
    const double g = gate[i];
    const double sigmoid = 1.0 / (1.0 + std::exp(-g));
    dup[i] = static_cast<float>(static_cast<double>(dout[i]) * g * sigmoid);
    dgate[i] = static_cast<float>(static_cast<double>(dout[i]) * up[i] * sigmoid *
                                  (1.0 + g * (1.0 - sigmoid)));
  }
}

}  // namespace a48::ref
