#include "cpu/attention_kernel.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "quant/kv_quant.h"
#include "ref/softmax.h"

namespace a48::cpu {

namespace {

int32_t dot_codes(const uint8_t* a, const uint8_t* b, int64_t n) {
  int32_t s = 0;
  for (int64_t i = 0; i < n; ++i) s += int32_t{a[i]} * int32_t{b[i]};
  return s;
}

int64_t sum_codes(const uint8_t* a, int64_t n) {
  int64_t s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i];
  return s;
}

int64_t levels(int bits) { return (int64_t{1} << bits) - 1; }

}  // namespace

void attend(const KvCache& cache, int64_t layer, int64_t n_positions, std::span<const float> q,
            int64_t n_heads, int query_bits, int64_t head_begin, int64_t head_end,
            std::span<float> out, std::vector<float>& scratch) {
  const int64_t hd = cache.head_dim(), h_kv = cache.n_kv_heads(), row = h_kv * hd;
  check(n_heads > 0 && n_heads % h_kv == 0, "attend: {} heads are not a multiple of {} kv heads",
        n_heads, h_kv);
  check(static_cast<int64_t>(q.size()) == n_heads * hd &&
            static_cast<int64_t>(out.size()) == n_heads * hd,
        "attend: q has {} and out {} values, expected {}", q.size(), out.size(), n_heads * hd);
  check(n_positions >= 1 && n_positions <= cache.capacity(),
        "attend: {} positions outside [1, {}]", n_positions, cache.capacity());
  check(0 <= head_begin && head_begin <= head_end && head_end <= n_heads,
        "attend: heads [{}, {}) outside [0, {})", head_begin, head_end, n_heads);
  const int64_t group = n_heads / h_kv;
  const float scale = static_cast<float>(std::pow(static_cast<double>(hd), -0.5));
  const int kv_bits = cache.bits();
  const auto n = static_cast<std::size_t>(n_positions);
  scratch.resize(n + static_cast<std::size_t>(hd) * 2);
  const std::span<float> scores(scratch.data(), n);
  float* acc = scratch.data() + n;  // [hd]
  std::vector<uint8_t> uq(static_cast<std::size_t>(hd));

  for (int64_t h = head_begin; h < head_end; ++h) {
    const int64_t g = h / group;
    const float* qh = q.data() + h * hd;
    float* oh = out.data() + h * hd;
    if (kv_bits == 16) {
      // fp32 cache (and an unquantized query: the fp16 attention setting).
      const float* keys = cache.k_rows(layer) + g * hd;
      const float* values = cache.v_rows(layer) + g * hd;
      check(query_bits == 16, "attend: a {}-bit query with an unquantized cache", query_bits);
      for (int64_t p = 0; p < n_positions; ++p) {
        const float* k = keys + p * row;
        float dot = 0;
        for (int64_t i = 0; i < hd; ++i) dot += qh[i] * k[i];
        scores[static_cast<std::size_t>(p)] = dot * scale;
      }
      ref::softmax(scores, scores);
      std::fill(acc, acc + hd, 0.0f);
      for (int64_t p = 0; p < n_positions; ++p) {
        const float a = scores[static_cast<std::size_t>(p)];
        const float* v = values + p * row;
        for (int64_t i = 0; i < hd; ++i) acc[i] += a * v[i];
      }
      std::copy(acc, acc + hd, oh);
      continue;
    }
    const uint8_t* k_codes = cache.k_codes(layer) + g * hd;
    const uint8_t* v_codes = cache.v_codes(layer) + g * hd;
    const float* k_gammas = cache.k_gammas(layer) + g;
    const float* v_gammas = cache.v_gammas(layer) + g;
    // The query at query_bits, as the reference quantizes it.
    check(query_bits >= 2 && query_bits <= 8, "attend: query bits {} with a {}-bit cache",
          query_bits, kv_bits);
    const float gamma_q = quantize_absmax_unsigned(std::span<const float>(qh, hd), query_bits, uq);
    const int64_t l_q = levels(query_bits);
    const int64_t sum_uq = sum_codes(uq.data(), hd);
    for (int64_t p = 0; p < n_positions; ++p) {
      const uint8_t* u = k_codes + p * row;
      const int64_t l_p = levels(kv_bits_for_position(kv_bits, p));
      // sum (2uq - Lq)(2u - Lp) = 4 uq.u - 2 Lp sum(uq) - 2 Lq sum(u) + hd Lq Lp
      const int64_t s = 4 * int64_t{dot_codes(uq.data(), u, hd)} - 2 * l_p * sum_uq -
                        2 * l_q * sum_codes(u, hd) + hd * l_q * l_p;
      const float head_scale = (gamma_q / static_cast<float>(l_q)) *
                               (k_gammas[p * h_kv] / static_cast<float>(l_p));
      scores[static_cast<std::size_t>(p)] = head_scale * static_cast<float>(s) * scale;
    }
    ref::softmax(scores, scores);
    std::fill(acc, acc + hd, 0.0f);
    float offset = 0;  // sum_p w_p L_p, subtracted once at the end
    for (int64_t p = 0; p < n_positions; ++p) {
      const int64_t l_p = levels(kv_bits_for_position(kv_bits, p));
      const float w = scores[static_cast<std::size_t>(p)] * v_gammas[p * h_kv] /
                      static_cast<float>(l_p);
      offset += w * static_cast<float>(l_p);
      const float w2 = 2.0f * w;
      const uint8_t* u = v_codes + p * row;
      for (int64_t i = 0; i < hd; ++i) acc[i] += w2 * static_cast<float>(u[i]);
    }
    for (int64_t i = 0; i < hd; ++i) oh[i] = acc[i] - offset;
  }
}

}  // namespace a48::cpu
