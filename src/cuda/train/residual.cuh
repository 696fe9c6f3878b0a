// The o_proj / down_proj epilogue: the projection's raw product becomes its value as
// ref::bitlinear_row forms it, and joins the residual stream (Figure 1):
//   out[n, i] = x[n, i] + float(double(alpha) * double(step[n]) * double(raw[n, i]))
// Host launcher; plain C++ may include this header.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace a48::cuda {

// x, raw, out: [N, d] (out may alias x); step: [N]; alpha: device [1].
void residual_add_projection(const float* x, const float* raw, const float* step,
                             const float* alpha, int64_t n_tokens, int64_t d, float* out,
                             cudaStream_t stream);

}  // namespace a48::cuda
