#include "ref/rope_backward.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "ref/rope.h"

namespace a48::ref {

void rope_backward(std::span<float> dy, int64_t n_heads, int64_t head_dim, int64_t position,
                   double theta) {
  check(n_heads > 0, "rope_backward: n_heads {} must be positive", n_heads);
  check(static_cast<int64_t>(dy.size()) == n_heads * head_dim,
        "rope_backward: gradient has {} values, expected n_heads {} * head_dim {}", dy.size(),
        n_heads, head_dim);
  check(position >= 0, "rope_backward: negative position {}", position);
  const std::vector<float> inv_freq = rope_inv_freq(head_dim, theta);
  const int64_t half = head_dim / 2;
  const float pos = static_cast<float>(position);
  for (int64_t h = 0; h < n_heads; ++h) {
    float* head = dy.data() + h * head_dim;  // [hd]
    for (int64_t i = 0; i < half; ++i) {
      const float freq = inv_freq[static_cast<std::size_t>(i)] * pos;  // as in the forward
      const double c = std::cos(freq);
      const double s = std::sin(freq);
      const double g1 = head[i], g2 = head[i + half];
      head[i] = static_cast<float>(g1 * c + g2 * s);
      head[i + half] = static_cast<float>(g2 * c - g1 * s);
    }
  }
}

}  // namespace a48::ref
