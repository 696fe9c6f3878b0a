// Block-wide reductions and scans for the row kernels (device code; include from .cu files only).
// The order of every reduction is fixed by blockDim alone (a warp butterfly, then the warp
// results in warp order), so results are bit-reproducible run to run.
// Preconditions: blockDim.x is a multiple of 32 and at most 1024; every thread of the block calls.
#pragma once

#include <cstdint>

namespace a48::cuda {

struct SumOp {
  template <class T>
  __device__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp {
  template <class T>
  __device__ T operator()(T a, T b) const { return a > b ? a : b; }
};

// Reduces v over the block; every thread gets the result. `shared`: 32 elements of scratch.
template <class T, class Op>
__device__ T block_reduce(T v, Op op, T identity, T* shared) {
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // the previous call's readers are done with `shared`
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < static_cast<int>(blockDim.x >> 5) ? shared[lane] : identity;
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

template <class T>
__device__ T block_sum(T v, T* shared) {
  return block_reduce(v, SumOp{}, T(0), shared);
}

// Exclusive prefix sum of v over the threads in index order; *total receives the block's sum.
// `shared`: 32 ints of scratch.
__device__ inline int block_exclusive_scan(int v, int* shared, int* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int inclusive = v;
  for (int offset = 1; offset < 32; offset <<= 1) {
    const int other = __shfl_up_sync(0xffffffffu, inclusive, offset);
    if (lane >= offset) inclusive += other;
  }
  __syncthreads();
  if (lane == 31) shared[warp] = inclusive;
  __syncthreads();
  const int n_warps = static_cast<int>(blockDim.x >> 5);
  int warp_total = lane < n_warps ? shared[lane] : 0;  // each warp scans the warp totals
  int warp_prefix = warp_total;
  for (int offset = 1; offset < 32; offset <<= 1) {
    const int other = __shfl_up_sync(0xffffffffu, warp_prefix, offset);
    if (lane >= offset) warp_prefix += other;
  }
  const int before_warp = __shfl_sync(0xffffffffu, warp_prefix - warp_total, warp);
  *total = __shfl_sync(0xffffffffu, warp_prefix, n_warps - 1);
  return before_warp + inclusive - v;
}

}  // namespace a48::cuda
