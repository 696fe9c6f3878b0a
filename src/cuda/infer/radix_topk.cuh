// Eq. 1's top-K (quant/topk_sparsify.h) for one row held in shared memory, by radix select
// (device code; .cu files only).
//
// Keeps the `keep` entries of largest |x| and zeroes the rest; among equal |x| the lower index is
// kept, exactly as sparsify_topk's total order does. |x|'s float bits read as an unsigned integer
// order like |x|, so the keep-th largest key is found digit by digit, most significant first: 4
// passes of a 256-bin shared histogram over the keys that match the digits found so far, each
// followed by one block scan of the bins (cuda/train/topk.cuh bisects instead: 31 block-wide
// counts). Ties at the threshold are ranked by index only when some of them must be dropped.
#pragma once

#include <cstdint>

#include "cuda/common/reduce.cuh"

namespace a48::cuda {

struct RadixTopkShared {
  int hist[256];
  int digit;      // the digit chosen in the last pass
  int remaining;  // entries still to keep among those matching the prefix
  int ties;       // entries whose key equals the threshold
};

__device__ inline uint32_t radix_abs_key(float v) { return __float_as_uint(v) & 0x7fffffffu; }

// row: [n] in shared memory; 0 <= keep <= n. scratch: 32 ints. blockDim.x >= 256. Every thread
// of the block calls.
__device__ inline void radix_topk_keep_in_place(float* row, int n, int keep, RadixTopkShared& sh, int* scratch) {
  const int tid = static_cast<int>(threadIdx.x), threads = static_cast<int>(blockDim.x);
  if (keep >= n) return;
  if (keep <= 0) {
    for (int i = tid; i < n; i += threads) row[i] = 0.0f;
    __syncthreads();
    return;
  }
  uint32_t prefix = 0;  // the threshold's digits found so far
  int remaining = keep;
  int ties = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    const uint32_t high_mask = shift == 24 ? 0u : ~((1u << (shift + 8)) - 1u);
    if (tid < 256) sh.hist[tid] = 0;
    __syncthreads();
    for (int i = tid; i < n; i += threads) {
      const uint32_t key = radix_abs_key(row[i]);
      if ((key & high_mask) == prefix) atomicAdd(&sh.hist[(key >> shift) & 0xffu], 1);
    }
    __syncthreads();
    // Bins from the largest digit down: the digit where the running count reaches `remaining`.
    const int v = tid < 256 ? sh.hist[255 - tid] : 0;
    int total = 0;
    const int before = block_exclusive_scan(v, scratch, &total);
    if (tid < 256 && before < remaining && before + v >= remaining) {
      sh.digit = 255 - tid;
      sh.remaining = remaining - before;
      sh.ties = v;
    }
    __syncthreads();
    prefix |= static_cast<uint32_t>(sh.digit) << shift;
    remaining = sh.remaining;
    ties = sh.ties;
  }
  const uint32_t threshold = prefix;
  if (ties == remaining) {  // every tie is kept: one pass
    for (int i = tid; i < n; i += threads) {
      if (radix_abs_key(row[i]) < threshold) row[i] = 0.0f;
    }
    __syncthreads();
    return;
  }
  // Walk the row in index order, blockDim entries at a time, ranking the ties.
  int ties_before = 0;
  for (int base = 0; base < n; base += threads) {
    const int i = base + tid;
    const uint32_t key = i < n ? radix_abs_key(row[i]) : 0u;
    const bool tie = i < n && key == threshold;
    int round_ties = 0;
    const int rank = ties_before + block_exclusive_scan(tie ? 1 : 0, scratch, &round_ties);
    if (i < n && !(key > threshold || (tie && rank < remaining))) row[i] = 0.0f;
    ties_before += round_ties;
  }
  __syncthreads();
}

}  // namespace a48::cuda
