// One projection's input quantization and product, per scheme (model/activation_scheme.h):
//   x -> [eq. 1 top-K when keep_fraction < 1] -> [activation quantizer: eq. 3, 7 or 8-9] -> q, step
//   y = BitLinear(q, step) (eqs. 2, 6)      when activations are quantized and weights ternary
//   y = x W^T in fp32                       for the `fp` scheme (latent weights, or alpha * t when
//                                           the file held packed ternary codes only)
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/activation_scheme.h"
#include "model/weights.h"

namespace a48::ref {

// The input row as one projection sees it.
struct ActivationRow {
  std::vector<float> values;  // [n] after top-K; when quantized, the dequantized step * q
  std::vector<int8_t> q;      // [n] quantizer codes; empty when not quantized
  float step = 0;             // x_hat = step * q
  bool quantized = false;

  int64_t count_nonzero() const;  // of q when quantized, else of values (what skips weight reads)
};

// Applies `pq`'s top-K (if any) and quantizer to one token's activations x: [n].
ActivationRow quantize_activation_row(const ProjectionQuantization& pq, std::span<const float> x);

// y = projection of `a` by `w`. y: [n_out]. With a non-empty row_mask ([n_out]), rows whose mask is
// 0 are not computed (their weights are never read) and are set to 0: the paper's up projection,
// computed only "on the non-zero channels of the gates" (§2.1).
void project(const ProjectionQuantization& pq, const LinearWeights& w, const ActivationRow& a,
             std::span<float> y, std::span<const float> row_mask = {});

}  // namespace a48::ref
