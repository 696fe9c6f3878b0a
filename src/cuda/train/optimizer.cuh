// The optimizer's device side: AdamW on a range of the flat buffers (mirroring train/adamw.cpp
// bit for bit), the gradient's sum of squares for its global norm, and scaling.
// Host launchers; plain C++ may include this header.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "train/adamw.h"

namespace a48::cuda {

// AdamW at 1-based step t on params/grad/m/v/decay_mask [count] (pointers already offset to the
// range). Each element is updated exactly as a48::adamw_update updates it given the fp32 gradient
// float(grad * grad_scale): decay first, then the bias-corrected step, in double, with every
// double operation rounded separately (no FMA), so the two agree bit for bit.
void adamw_update(float* params, const float* grad, float* m, float* v, const uint8_t* decay_mask,
                  int64_t count, const AdamWHyper& hyper, int64_t t, double grad_scale,
                  cudaStream_t stream);

// Scratch doubles sum_squares needs.
inline constexpr int64_t kSumSquaresBlocks = 1024;

// *result = sum x^2 in double, in a fixed order (fixed grid, then one block over its partials).
void sum_squares(const float* x, int64_t n, double* scratch, double* result, cudaStream_t stream);

// x *= factor.
void scale_values(float* x, int64_t n, float factor, cudaStream_t stream);

}  // namespace a48::cuda
