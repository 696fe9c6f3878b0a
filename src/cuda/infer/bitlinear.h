// BitLinear decode kernels over the CUDA packed ternary format (packed_ternary.h), host launchers:
//
//   y[t, o] = float(double(alpha) * double(step_t) * sum_i t[o, i] q[t, i])
//
// bit for bit what ref::bitlinear / cpu::bitlinear compute: the int32 sums (dp4a over the stored
// t + 1, minus sum_i q[t, i]) are exact and the rescale is the same expression.
//   rows order:    every row is read (one warp per 2 rows, lanes across the line, 16-byte loads);
//                  with a gate, rows whose activated gate is 0 for every token of a tile are not
//                  read, and (t, o) with act(gate[t, o]) == 0 are set to 0: the up projection on
//                  the non-zero gate channels (§2.1).
//   columns order: only the columns i where some token has q[t, i] != 0 are read (down_proj, and
//                  o_proj after top-K); partial sums go to an int32 accumulator with integer
//                  atomics (exact, so the result does not depend on their order), and
//                  bitlinear_finalize turns them into y.
// Plain C++ may include this header.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "cuda/infer/packed_ternary.h"
#include "model/config.h"

namespace a48::cuda {

// One batch of tokens' activation codes as the kernels read them.
struct ActivationCodes {
  const int8_t* q = nullptr;    // [n_tokens, ld] codes, 0 in the padding columns
  int64_t ld = 0;               // >= padded_codes(n_in), a multiple of 64
  const float* step = nullptr;  // [n_tokens] x_hat = step * q
  const int32_t* sum = nullptr; // [n_tokens] sum_i q[t, i]
  int64_t n_tokens = 0;
};

// One output of a rows-order product: y[t, o] at y + t * ld + o.
struct BitlinearOutput {
  const DeviceTernary* w = nullptr;
  float* y = nullptr;
  int64_t ld = 0;
};

// Up to 3 rows-order matrices of the same n_in (q/k/v) in one launch. gate: null, or
// [n_tokens, ld_gate] whose act(gate) == 0 masks rows (every output must then have the gate's
// width). Throws a48::Error on bad shapes.
void bitlinear_rows(const BitlinearOutput* outputs, int n_outputs, const ActivationCodes& a,
                    const float* gate, int64_t ld_gate, HiddenActivation act, cudaStream_t stream);

// gate_y = gate_w x and up_y = up_w x masked by act(gate_y) != 0, both [n_tokens, ld_y], in one
// launch: equal to bitlinear_rows of the gate, then of up with that gate (the up rows of inactive
// gates are not read).
void bitlinear_glu(const DeviceTernary& gate_w, const DeviceTernary& up_w, const ActivationCodes& a, float* gate_y,
                   float* up_y, int64_t ld_y, HiddenActivation act, cudaStream_t stream);

// Columns order: acc[t, o] += sum over the read columns i of (t[o, i] + 1) q[t, i]. acc: int32
// [n_tokens, ld_acc], ld_acc >= n_out; start from zeros.
void bitlinear_columns(const DeviceTernary& w, const ActivationCodes& a, int32_t* acc,
                       int64_t ld_acc, cudaStream_t stream);

// y[t, o] = float(double(alpha) double(step_t) (acc[t, o] - sum_t)) for o < n_out; when
// zero_acc, acc is reset to 0 for the next product.
void bitlinear_finalize(int32_t* acc, int64_t ld_acc, int64_t n_out, float alpha,
                        const ActivationCodes& a, float* y, int64_t ld_y, bool zero_acc,
                        cudaStream_t stream);

}  // namespace a48::cuda
