#include "ref/attention_backward.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "ref/softmax.h"

namespace a48::ref {

void attention_backward(std::span<const float> q, std::span<const float> k,
                        std::span<const float> v, std::span<const float> dout, int64_t n_tokens,
                        int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, std::span<float> dq,
                        std::span<float> dk, std::span<float> dv) {
  check(n_heads > 0 && n_kv_heads > 0 && head_dim > 0 && n_heads % n_kv_heads == 0,
        "attention_backward: bad heads (H {}, H_kv {}, hd {}): H must be a multiple of H_kv",
        n_heads, n_kv_heads, head_dim);
  check(n_tokens >= 1, "attention_backward: needs at least one token, got {}", n_tokens);
  const int64_t q_row = n_heads * head_dim, kv_row = n_kv_heads * head_dim;
  const auto q_n = static_cast<std::size_t>(n_tokens * q_row);
  const auto kv_n = static_cast<std::size_t>(n_tokens * kv_row);
  check(q.size() == q_n && dout.size() == q_n && dq.size() == q_n,
        "attention_backward: q {}, dout {}, dq {} values, expected [{}, {}, {}]", q.size(),
        dout.size(), dq.size(), n_tokens, n_heads, head_dim);
  check(k.size() == kv_n && v.size() == kv_n && dk.size() == kv_n && dv.size() == kv_n,
        "attention_backward: k {}, v {}, dk {}, dv {} values, expected [{}, {}, {}]", k.size(),
        v.size(), dk.size(), dv.size(), n_tokens, n_kv_heads, head_dim);

  const int64_t group = n_heads / n_kv_heads;
  const float scale = static_cast<float>(std::pow(static_cast<double>(head_dim), -0.5));
  std::vector<double> dk_sum(kv_n, 0.0), dv_sum(kv_n, 0.0);        // [T, H_kv, hd]
  std::vector<float> probs(static_cast<std::size_t>(n_tokens));    // [t + 1]
  std::vector<double> dprobs(static_cast<std::size_t>(n_tokens));  // [t + 1]
  std::vector<double> dq_sum(static_cast<std::size_t>(head_dim));  // [hd]
  for (int64_t t = 0; t < n_tokens; ++t) {
    const auto n_positions = static_cast<std::size_t>(t + 1);
    const std::span<float> a = std::span<float>(probs).first(n_positions);
    for (int64_t h = 0; h < n_heads; ++h) {
      const int64_t g = h / group;
      const float* qh = q.data() + t * q_row + h * head_dim;      // [hd]
      const float* doh = dout.data() + t * q_row + h * head_dim;  // [hd]
      // Scores and probabilities exactly as ref::attention computes them.
      for (int64_t p = 0; p <= t; ++p) {
        const float* kp = k.data() + p * kv_row + g * head_dim;
        double dot = 0.0;
        for (int64_t i = 0; i < head_dim; ++i) dot += static_cast<double>(qh[i]) * kp[i];
        a[static_cast<std::size_t>(p)] = static_cast<float>(dot) * scale;
      }
      softmax(a, a);
      double weighted = 0.0;  // sum_j a_j da_j
      for (int64_t p = 0; p <= t; ++p) {
        const float* vp = v.data() + p * kv_row + g * head_dim;
        double da = 0.0;
        for (int64_t i = 0; i < head_dim; ++i) da += static_cast<double>(doh[i]) * vp[i];
        dprobs[static_cast<std::size_t>(p)] = da;
        weighted += static_cast<double>(a[static_cast<std::size_t>(p)]) * da;
      }
      std::fill(dq_sum.begin(), dq_sum.end(), 0.0);
      for (int64_t p = 0; p <= t; ++p) {
        const double ap = a[static_cast<std::size_t>(p)];
        const double ds = ap * (dprobs[static_cast<std::size_t>(p)] - weighted) * scale;
        const auto kv_offset = static_cast<std::size_t>(p * kv_row + g * head_dim);
        for (int64_t i = 0; i < head_dim; ++i) {
          const auto j = kv_offset + static_cast<std::size_t>(i);
          dv_sum[j] += ap * doh[i];
          dk_sum[j] += ds * qh[i];
          dq_sum[static_cast<std::size_t>(i)] += ds * k[j];
        }
      }
      for (int64_t i = 0; i < head_dim; ++i)
        dq[static_cast<std::size_t>(t * q_row + h * head_dim + i)] =
            static_cast<float>(dq_sum[static_cast<std::size_t>(i)]);
    }
  }
  for (std::size_t j = 0; j < kv_n; ++j) {
    dk[j] = static_cast<float>(dk_sum[j]);
    dv[j] = static_cast<float>(dv_sum[j]);
  }
}

}  // namespace a48::ref
