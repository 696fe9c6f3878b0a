// Fused softmax cross-entropy over the vocabulary (ref/cross_entropy.h), the training loss:
//   loss_r = log(sum_j exp(z_rj)) - z_r,target        (max subtracted; exp, sum and log in double)
//   dz_rj  = scale * (softmax(z_r)_j - [j == target])  written over the logits
// Rows whose target is -1 are not scored: loss 0 and zero gradient.
// Host launchers; plain C++ may include this header.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace a48::cuda {

// logits: [rows, V] (overwritten by the gradient when write_gradient); targets: [rows] in
// [-1, V) (checked by the caller); row_loss: [rows]. *non_finite is set to 1 when a scored row
// holds a NaN or Inf logit.
void cross_entropy(float* logits, const int32_t* targets, int64_t rows, int64_t vocab,
                   double scale, bool write_gradient, double* row_loss, int* non_finite,
                   cudaStream_t stream);

// *total = sum of values[0 .. n), in a fixed order (one block).
void sum_in_order(const double* values, int64_t n, double* total, cudaStream_t stream);

}  // namespace a48::cuda
