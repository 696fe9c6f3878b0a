// One fused per-token pass before each projection (host launcher): [residual add] -> [GLU] ->
// [RMSNorm] -> [eq. 1 top-K] -> [activation quantizer: eq. 3, 7 or 8-9] -> int8 codes padded for
// bitlinear.h, step and sum of codes. One block per token holds its row in shared memory, so the
// residual stream, the norm and the quantizer cost one read of the row instead of three passes;
// top-K is a radix select (radix_topk.cuh).
//
// Float operations are the reference's, op for op (ref/rmsnorm.cpp, quant/*.cpp; no FMA
// contraction), so codes and steps equal the CPU reference's on equal inputs, with one exception:
// the two sums the reference takes in double (RMSNorm's sum of squares, INT4's sum |x|) are summed
// here in a tree order. Their double results can differ in the last bits, which changes the float
// that is formed from them only when that double lies within ~2^-29 relative of a float rounding
// boundary; a code can then flip at a rounding tie of x * s. Tests compare codes exactly on inputs
// where that does not happen and, for random rows, bound the dequantized difference by one step.
// Plain C++ may include this header.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "model/activation_scheme.h"
#include "model/config.h"

namespace a48::cuda {

struct RowQuantArgs {
  int64_t n_tokens = 0;
  int64_t n = 0;  // row length
  // The row: x [n_tokens, ld_x]. With a residual delta, x += delta first and is written back.
  float* x = nullptr;
  int64_t ld_x = 0;
  float* x_out = nullptr;  // where x + delta goes (stride ld_x); null: back into x
  const float* delta = nullptr;  // [n_tokens, ld_delta] float delta, or null
  int64_t ld_delta = 0;
  // An int32 BitLinear accumulator as delta (bitlinear_columns): float(alpha step (acc - sum)),
  // then acc is zeroed.
  int32_t* delta_acc = nullptr;
  int64_t ld_acc = 0;
  float delta_alpha = 0;
  const float* delta_step = nullptr;
  const int32_t* delta_sum = nullptr;
  // The GLU instead of x: row = act(gate) * up (x is not read).
  const float* gate = nullptr;
  const float* up = nullptr;
  int64_t ld_glu = 0;
  HiddenActivation act = HiddenActivation::relu2;
  // RMSNorm (null: none).
  const float* norm_weight = nullptr;
  float eps = 1e-5f;
  float* normed = nullptr;  // optional copy of the row after the norm (and before top-K)
  int64_t ld_normed = 0;
  // Eq. 1: keep this many entries (n: no top-K).
  int64_t keep = 0;
  ActivationQuantizer quantizer = ActivationQuantizer::none;  // none: no codes written
  int8_t* q = nullptr;  // [n_tokens, ld_q], ld_q a multiple of 64 >= n; padding set to 0
  int64_t ld_q = 0;
  float* step = nullptr;   // [n_tokens]
  int32_t* sum = nullptr;  // [n_tokens] sum of codes
};

// Throws a48::Error on inconsistent arguments.
void quantize_rows(const RowQuantArgs& args, cudaStream_t stream);

}  // namespace a48::cuda
