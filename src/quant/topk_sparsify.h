// Eq. 1: top-K sparsification (Q-Sparse [WMWW24]) of the attention output projection's input:
//   Y = (Q_INT8(X) (.) M) W^T,  M = Top_k(|X|)
// Keeping the K largest magnitudes before or after INT8 quantization is the same (max|X| is always
// kept, so gamma is unchanged); we sparsify first, then quantize.
#pragma once

#include <cstdint>
#include <span>

namespace a48 {

// Number of entries kept for a vector of n: ceil(keep_fraction * n), clamped to [0, n]; 0.5 keeps
// exactly half of an even n. keep_fraction must be in [0, 1].
int64_t topk_keep_count(int64_t n, float keep_fraction);

// Zeroes all but the topk_keep_count(x.size(), keep_fraction) entries of largest |x| in place.
// Ties in |x| are broken deterministically: the lower index is kept. Throws on non-finite input.
void sparsify_topk(std::span<float> x, float keep_fraction);

}  // namespace a48
