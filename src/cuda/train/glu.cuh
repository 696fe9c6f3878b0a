// The gate/up projections' epilogue and the gated linear unit (eq. 5; ref/glu.h,
// ref/glu_backward.h) for training.
//   gate_up: [N, 2F], row n = gate (F values) then up (F values): the fused product's raw rows,
//            turned into values in place as ref::bitlinear_row forms them:
//            y = float(double(alpha_part) * double(step[n]) * double(raw))
//   glu = act(gate) * up: [N, F], act = ReLU^2 (HF ReLUSquaredActivation) or SiLU, fp32 op order.
// Backward in double, as the reference: d up = dglu act(g), d gate = dglu up act'(g).
// Host launchers; plain C++ may include this header.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "model/config.h"

namespace a48::cuda {

// alpha: device [2] (gate, up); step: [N].
void glu_forward(float* gate_up, const float* step, const float* alpha, int64_t n_tokens,
                 int64_t ffn, HiddenActivation act, float* glu, cudaStream_t stream);

// gate_up: [N, 2F] values; dglu: [N, F] -> d_gate_up: [N, 2F].
void glu_backward(const float* gate_up, const float* dglu, int64_t n_tokens, int64_t ffn,
                  HiddenActivation act, float* d_gate_up, cudaStream_t stream);

// counts[n] = number of i with act(gate[n, i]) != 0: the up rows §2.1 computes (Table 2's "up").
void count_active_gates(const float* gate_up, int64_t n_tokens, int64_t ffn, HiddenActivation act,
                        int* counts, cudaStream_t stream);

}  // namespace a48::cuda
