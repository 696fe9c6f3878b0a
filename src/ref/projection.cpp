#include "ref/projection.h"

#include "core/error.h"
#include "quant/fp4_minmax.h"
#include "quant/int4_absmean.h"
#include "quant/int8_absmax.h"
#include "quant/topk_sparsify.h"
#include "ref/bitlinear.h"
#include "ref/linear.h"

namespace a48::ref {

int64_t ActivationRow::count_nonzero() const {
  int64_t n = 0;
  if (quantized) {
    for (int8_t v : q) n += v != 0;
  } else {
    for (float v : values) n += v != 0.0f;
  }
  return n;
}

ActivationRow quantize_activation_row(const ProjectionQuantization& pq, std::span<const float> x) {
  ActivationRow row;
  row.values.assign(x.begin(), x.end());  // [n]
  if (pq.topk_keep_fraction < 1.0f) sparsify_topk(row.values, pq.topk_keep_fraction);
  if (pq.quantizer == ActivationQuantizer::none) return row;

  row.quantized = true;
  row.q.assign(row.values.size(), 0);
  switch (pq.quantizer) {
    case ActivationQuantizer::int8_absmax:
      row.step = quantize_int8_absmax(row.values, row.q);
      break;
    case ActivationQuantizer::int4_absmean:
      row.step = quantize_int4_absmean(row.values, row.q);
      break;
    case ActivationQuantizer::int4_absmean_double_beta:  // §3.2: beta = 2 mean|X|
      row.step = quantize_int4_absmean(row.values, row.q, 2.0f);
      break;
    case ActivationQuantizer::fp4_e2m1:
      row.step = quantize_fp4_minmax(row.values, Fp4Format::e2m1, row.q);
      break;
    case ActivationQuantizer::none:
      break;
  }
  for (std::size_t i = 0; i < row.q.size(); ++i) row.values[i] = row.step * row.q[i];
  return row;
}

void project(const ProjectionQuantization& pq, const LinearWeights& w, const ActivationRow& a,
             std::span<float> y, std::span<const float> row_mask) {
  check(static_cast<int64_t>(a.values.size()) == w.n_in,
        "projection: input has {} values, weight expects {}", a.values.size(), w.n_in);
  check(static_cast<int64_t>(y.size()) == w.n_out, "projection: output has {} values, expected {}",
        y.size(), w.n_out);
  check(row_mask.empty() || row_mask.size() == y.size(),
        "projection: row mask has {} values, expected {}", row_mask.size(), y.size());
  const int64_t n = w.n_out * w.n_in;
  // Which weights the fp32 path multiplies: latent for the `fp` scheme when present, else alpha*t.
  const bool use_latent = !pq.ternary_weights && !w.latent.empty();
  if (use_latent) {
    check(static_cast<int64_t>(w.latent.size()) == n,
          "projection: latent weights hold {} values, expected [{}, {}]", w.latent.size(), w.n_out,
          w.n_in);
  } else {
    check(static_cast<int64_t>(w.ternary.size()) == n,
          "projection: ternary codes hold {} values, expected [{}, {}]", w.ternary.size(), w.n_out,
          w.n_in);
  }
  const auto n_in = static_cast<std::size_t>(w.n_in);
  for (int64_t o = 0; o < w.n_out; ++o) {
    const auto oi = static_cast<std::size_t>(o);
    if (!row_mask.empty() && row_mask[oi] == 0.0f) {
      y[oi] = 0.0f;
      continue;
    }
    if (a.quantized && pq.ternary_weights) {
      y[oi] = bitlinear_row(w, o, a.q, a.step);
    } else if (use_latent) {
      y[oi] = linear_row(a.values, std::span<const float>(w.latent).subspan(oi * n_in, n_in));
    } else {
      y[oi] = linear_ternary_row(
          a.values, std::span<const int8_t>(w.ternary).subspan(oi * n_in, n_in), w.scale);
    }
  }
}

}  // namespace a48::ref
