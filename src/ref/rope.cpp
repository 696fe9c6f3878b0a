#include "ref/rope.h"

#include <cmath>

#include "core/error.h"

namespace a48::ref {

std::vector<float> rope_inv_freq(int64_t head_dim, double theta) {
  check(head_dim > 0 && head_dim % 2 == 0, "rope: head_dim {} must be even and positive", head_dim);
  check(theta > 0 && std::isfinite(theta), "rope: rope_theta {} must be positive", theta);
  const float base = static_cast<float>(theta);  // the python float becomes an fp32 operand
  std::vector<float> inv_freq(static_cast<std::size_t>(head_dim / 2));  // [hd/2]
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    inv_freq[static_cast<std::size_t>(i)] = 1.0f / std::pow(base, exponent);
  }
  return inv_freq;
}

void rope_angles(int64_t head_dim, double theta, int64_t position, std::span<float> cos_out,
                 std::span<float> sin_out) {
  check(position >= 0, "rope: negative position {}", position);
  const std::vector<float> inv_freq = rope_inv_freq(head_dim, theta);
  check(cos_out.size() == inv_freq.size() && sin_out.size() == inv_freq.size(),
        "rope: angle buffers hold {} and {} values, expected head_dim/2 = {}", cos_out.size(),
        sin_out.size(), inv_freq.size());
  const float pos = static_cast<float>(position);  // position_ids.float()
  for (std::size_t i = 0; i < inv_freq.size(); ++i) {
    const float freq = inv_freq[i] * pos;
    cos_out[i] = std::cos(freq);
    sin_out[i] = std::sin(freq);
  }
}

void rope_rotate(std::span<float> x, int64_t n_heads, int64_t head_dim,
                 std::span<const float> cos, std::span<const float> sin) {
  check(n_heads > 0, "rope: n_heads {} must be positive", n_heads);
  check(static_cast<int64_t>(x.size()) == n_heads * head_dim,
        "rope: input has {} values, expected n_heads {} * head_dim {}", x.size(), n_heads,
        head_dim);
  const int64_t half = head_dim / 2;
  check(static_cast<int64_t>(cos.size()) == half && static_cast<int64_t>(sin.size()) == half,
        "rope: angle buffers hold {} and {} values, expected {}", cos.size(), sin.size(), half);
  for (int64_t h = 0; h < n_heads; ++h) {
    float* head = x.data() + h * head_dim;  // [hd]
    for (int64_t i = 0; i < half; ++i) {
      const float c = cos[static_cast<std::size_t>(i)];
      const float s = sin[static_cast<std::size_t>(i)];
      const float x1 = head[i];         // first half
      const float x2 = head[i + half];  // second half
      // rotate_half(x) = cat(-x2, x1); the product terms are rounded before the sum, as in torch.
      const float first_cos = x1 * c;
      const float first_sin = -x2 * s;
      const float second_cos = x2 * c;
      const float second_sin = x1 * s;
      head[i] = first_cos + first_sin;
      head[i + half] = second_cos + second_sin;
    }
  }
}

void rope(std::span<float> x, int64_t n_heads, int64_t head_dim, int64_t position, double theta) {
  std::vector<float> cos(static_cast<std::size_t>(head_dim / 2)), sin(cos.size());
  rope_angles(head_dim, theta, position, cos, sin);
  rope_rotate(x, n_heads, head_dim, cos, sin);
}

}  // namespace a48::ref
