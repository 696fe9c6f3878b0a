// Eq. 1's top-K (quant/topk_sparsify.h) for one row held in shared memory, device code.
//
// Keeps the `keep` entries of largest |x| and zeroes the rest; among equal |x| the lower index is
// kept, exactly as sparsify_topk's total order does. Method: |x|'s float bits, read as an
// unsigned integer, order like |x| itself, so the keep-th largest key is found by bisection on its
// bits (31 block-wide counts, each one __syncthreads_count per blockDim entries), then the ties
// at that key are ranked by index with a block scan.
#pragma once

#include <cstdint>

#include "cuda/common/reduce.cuh"

namespace a48::cuda {

__device__ inline uint32_t abs_key(float v) { return __float_as_uint(v) & 0x7fffffffu; }

// Number of entries whose key is >= t (> t when `strictly`): one counting barrier per blockDim
// entries, the cheapest block-wide count there is.
__device__ inline int count_keys(const float* row, int n, uint32_t t, bool strictly) {
  int total = 0;
  for (int base = 0; base < n; base += blockDim.x) {
    const int i = base + threadIdx.x;
    const uint32_t key = i < n ? abs_key(row[i]) : 0u;
    total += __syncthreads_count(i < n && (strictly ? key > t : key >= t));
  }
  return total;
}

// row: [n] in shared memory; 0 <= keep <= n. `scratch`: 32 ints. Every thread of the block calls.
__device__ inline void topk_keep_in_place(float* row, int n, int keep, int* scratch) {
  if (keep >= n) return;
  if (keep <= 0) {
    for (int i = threadIdx.x; i < n; i += blockDim.x) row[i] = 0.0f;
    __syncthreads();
    return;
  }
  // threshold = the largest key t with count(key >= t) >= keep, i.e. the keep-th largest key.
  uint32_t threshold = 0;
  for (int bit = 30; bit >= 0; --bit) {
    const uint32_t candidate = threshold | (1u << bit);
    if (count_keys(row, n, candidate, false) >= keep) threshold = candidate;
  }
  const int ties_kept = keep - count_keys(row, n, threshold, true);  // >= 1 by the choice above

  // Walk the row in index order, blockDim entries at a time, ranking the ties.
  int ties_before = 0;
  for (int base = 0; base < n; base += blockDim.x) {
    const int i = base + threadIdx.x;
    const uint32_t key = i < n ? abs_key(row[i]) : 0u;
    const bool tie = i < n && key == threshold;
    int round_ties = 0;
    const int rank = ties_before + block_exclusive_scan(tie ? 1 : 0, scratch, &round_ties);
    if (i < n && !(key > threshold || (tie && rank < ties_kept))) row[i] = 0.0f;
    ties_before += round_ties;
  }
  __syncthreads();
}

}  // namespace a48::cuda
