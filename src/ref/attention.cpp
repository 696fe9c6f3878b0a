#include "ref/attention.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "quant/kv_quant.h"
#include "ref/softmax.h"

namespace a48::ref {

void quantize_dequantize_heads(std::span<float> x, int64_t head_dim, int bits) {
  if (bits == 16) return;
  check(bits >= 2 && bits <= 8, "attention: query bits {} not in [2, 8] or 16", bits);
  check(head_dim > 0 && static_cast<int64_t>(x.size()) % head_dim == 0,
        "attention: {} values are not whole heads of {}", x.size(), head_dim);
  const auto hd = static_cast<std::size_t>(head_dim);
  std::vector<uint8_t> codes(hd);  // [hd]
  for (std::size_t start = 0; start < x.size(); start += hd) {
    const std::span<float> head = x.subspan(start, hd);
    const float gamma = quantize_absmax_unsigned(head, bits, codes);
    dequantize_absmax_unsigned(codes, bits, gamma, head);
  }
}

void attention(std::span<const float> q, std::span<const float> keys, std::span<const float> values,
               int64_t n_positions, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
               int query_bits, std::span<float> out) {
  check(n_heads > 0 && n_kv_heads > 0 && head_dim > 0 && n_heads % n_kv_heads == 0,
        "attention: bad heads (H {}, H_kv {}, hd {}): H must be a multiple of H_kv", n_heads,
        n_kv_heads, head_dim);
  check(n_positions >= 1, "attention: needs at least one position, got {}", n_positions);
  const int64_t kv_row = n_kv_heads * head_dim;
  check(static_cast<int64_t>(q.size()) == n_heads * head_dim &&
            static_cast<int64_t>(out.size()) == n_heads * head_dim,
        "attention: q has {} and out {} values, expected H {} * hd {}", q.size(), out.size(),
        n_heads, head_dim);
  check(static_cast<int64_t>(keys.size()) == n_positions * kv_row &&
            static_cast<int64_t>(values.size()) == n_positions * kv_row,
        "attention: keys have {} and values {} values, expected [{}, {}, {}]", keys.size(),
        values.size(), n_positions, n_kv_heads, head_dim);

  std::vector<float> query(q.begin(), q.end());  // [H, hd]
  quantize_dequantize_heads(query, head_dim, query_bits);

  const int64_t group = n_heads / n_kv_heads;  // query heads per kv head
  const float scale = static_cast<float>(std::pow(static_cast<double>(head_dim), -0.5));
  std::vector<float> scores(static_cast<std::size_t>(n_positions));  // [n_positions]
  for (int64_t h = 0; h < n_heads; ++h) {
    const int64_t g = h / group;
    const float* qh = query.data() + h * head_dim;  // [hd]
    for (int64_t p = 0; p < n_positions; ++p) {
      const float* k = keys.data() + p * kv_row + g * head_dim;  // [hd]
      double dot = 0.0;
      for (int64_t i = 0; i < head_dim; ++i) dot += static_cast<double>(qh[i]) * k[i];
      scores[static_cast<std::size_t>(p)] = static_cast<float>(dot) * scale;
    }
    softmax(scores, scores);
    for (int64_t i = 0; i < head_dim; ++i) {
      double sum = 0.0;
      for (int64_t p = 0; p < n_positions; ++p) {
        sum += static_cast<double>(scores[static_cast<std::size_t>(p)]) *
               values[static_cast<std::size_t>(p * kv_row + g * head_dim + i)];
      }
      out[static_cast<std::size_t>(h * head_dim + i)] = static_cast<float>(sum);
    }
  }
}

}  // namespace a48::ref
