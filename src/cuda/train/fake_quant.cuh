// Fake quantization of a projection's input rows for training (§2.2): eq. 1's top-K, then the
// scheme's activation quantizer (eqs. 3, 7, 8-9), per token, exactly as
// ref::quantize_activation_row computes them (quant/quant_common.h's float32 arithmetic), so the
// integer codes equal the CPU reference's on equal inputs. Host launchers; plain C++ may include it.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "model/activation_scheme.h"

namespace a48::cuda {

// Longest row the kernel takes (it holds a row in shared memory).
inline constexpr int64_t kFakeQuantMaxRow = 48 * 1024;

// x: [rows, n] (not modified). keep: eq. 1's K (topk_keep_count), n for no top-K.
// Writes, per row r:
//   codes[r]  [n]  the integer codes q as floats (the kept values themselves for `none`)
//   x_hat[r]  [n]  step * q: what the projection multiplies (the kept values for `none`)
//   step[r]        the quantizer's step (1 for `none`; 0 for an all-zero row)
//   nonzero[r]     count of q != 0 (of values != 0 for `none`): Table 2's active inputs; may be null
// *non_finite is set to 1 when a row holds NaN or Inf (the CPU quantizers throw there); may be null.
void fake_quantize_rows(const float* x, int64_t rows, int64_t n, ActivationQuantizer quantizer,
                        int64_t keep, float* codes, float* x_hat, float* step, int* nonzero,
                        int* non_finite, cudaStream_t stream);

}  // namespace a48::cuda
