// BitLinear for many tokens (prefill) on the INT8 tensor cores, over the rows-order packed ternary
// weights of the decode kernels (packed_ternary.h), host launcher:
//
//   y[t, o] = float(double(alpha) * double(step_t) * sum_i t[o, i] q[t, i])
//
// bit for bit what bitlinear_rows (bitlinear.h) and ref::bitlinear compute. The product runs on
// mma.sync m16n8k32 with A = the int8 activation codes and B = the stored t + 1 (u8) taken from the
// packed words with a shift and a mask; the int32 sums of (t + 1) q are exact, and sum_t q is
// subtracted before the same double rescale. Plain C++ may include this header.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "cuda/infer/bitlinear.h"
#include "model/config.h"

namespace a48::cuda {

// Block tile: tokens x output rows per block (bitlinear_mma.cu describes each). automatic picks by
// the number of tokens and rows; the others are for tests and benchmarks.
enum class MmaTile : uint8_t { automatic, tokens128_rows128, tokens64_rows128, tokens32_rows128 };
const char* mma_tile_name(MmaTile tile);

// The contract of bitlinear_rows: up to 3 rows-order matrices of the same n_in (q/k/v) stacked in
// one launch; gate: null, or [n_tokens, ld_gate] whose act(gate) == 0 sets y to 0 (a single matrix,
// of the gate's width). Any number of tokens; built for tens to thousands. Throws a48::Error on bad
// shapes.
void bitlinear_rows_mma(const BitlinearOutput* outputs, int n_outputs, const ActivationCodes& a,
                        const float* gate, int64_t ld_gate, HiddenActivation act, cudaStream_t stream,
                        MmaTile tile = MmaTile::automatic);

// The tile `automatic` picks for n_tokens tokens and n_rows stacked output rows on `sm_count` SMs.
MmaTile mma_tile_for(int64_t n_tokens, int64_t n_rows, int sm_count);

}  // namespace a48::cuda
