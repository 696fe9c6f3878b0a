// The CUDA training engine (§2.2): the fake-quantized model of train/cpu_reference_grad.h on one
// GPU, llm.c style (own forward/backward kernels, fp32 GEMMs through cuBLASLt).
//
// Per layer, as the CPU reference: attn_norm -> top-K/quantizer (qkv) -> q,k,v with eq. 2's
// ternary weights -> RoPE -> causal attention (fp32) -> attn_sub_norm -> top-K/quantizer (out) ->
// o_proj -> residual; ffn_norm -> quantizer (gate_up) -> gate, up -> act(gate)*up -> ffn_sub_norm
// -> quantizer (down) -> down_proj -> residual; then final_norm -> LM head -> cross-entropy.
// Backward: the straight-through estimator, dx = dx_hat through every quantizer and top-K, and
// dW_latent = dW_hat (train/train_backward.h).
//
// Precision: the forward projections multiply integer codes (activation codes x ternary codes)
// exactly on TF32 tensor cores and rescale in double, so their outputs equal the CPU reference's
// integer BitLinear; attention and norms run in fp32/double. The backward products and the `fp`
// scheme's projections run in TF32 (relative error ~1e-3). See cuda/common/gemm.h.
//
// Buffers: parameters, gradients and the AdamW moments are flat fp32 arrays in the layout of
// train/parameter_layout.h, followed by kPadding zero floats so that ZeRO-1 shards
// (cuda/train/nccl_group.h shard_of: padded_size <= total + world - 1) can work in place for
// world <= kPadding + 1. All work runs on the trainer's own stream; host calls that return data
// synchronize it.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <span>

#include "model/config.h"
#include "model/forward.h"
#include "train/adamw.h"
#include "train/batch.h"
#include "train/parameter_layout.h"

namespace a48::cuda {

struct TrainerState;  // cuda/train/trainer_state.cuh

class Trainer {
 public:
  static constexpr int64_t kPadding = 1024;

  // Allocates everything for batches of up to max_seqs sequences of up to seq_len tokens on
  // `device`. Parameters, gradients and moments start at zero. Throws a48::Error on a bad config,
  // a layout that is not `config`'s, or a CUDA failure (e.g. out of memory).
  Trainer(const ModelConfig& config, const ParameterLayout& layout, int64_t max_seqs,
          int64_t seq_len, int device);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  int64_t parameter_count() const;  // layout.total()
  int device() const;

  // [layout.total()] latent parameters in; out.
  void upload_parameters(std::span<const float> params);
  void download_parameters(std::span<float> params) const;

  // Forward and backward of one micro-batch under `scheme`: adds loss_scale * d(mean loss)/d
  // params to the gradient buffer and returns the batch's mean loss over scored targets. Throws
  // a48::Error on a batch that does not fit or has bad ids, or when the forward meets NaN/Inf.
  double forward_backward(const Batch& batch, ActivationScheme scheme, float loss_scale);
  // The same forward, loss only. With `sparsity`, adds Table 2's counts of the quantized inputs
  // as model/forward.cpp counts them (SparsityStats::add semantics).
  double evaluate(const Batch& batch, ActivationScheme scheme, SparsityStats* sparsity = nullptr);

  void zero_gradients();
  void download_gradients(std::span<float> grad) const;  // [layout.total()]
  void upload_gradients(std::span<const float> grad);    // [layout.total()]
  // sqrt(sum grad^2) in double over the whole gradient, a fixed-order reduction.
  double gradient_norm();
  void scale_gradients(float factor);
  // AdamW (train/adamw.h) at 1-based step t on [offset, offset + count) of the buffers, with the
  // gradient taken as float(grad * grad_scale) (e.g. 1/accumulation steps times the clip factor).
  void adamw_step(const AdamWHyper& hyper, int64_t t, double grad_scale, int64_t offset,
                  int64_t count);
  void download_optimizer_state(std::span<float> m, std::span<float> v) const;
  void upload_optimizer_state(std::span<const float> m, std::span<const float> v);

  // Device buffers of layout.total() + kPadding floats, for the NCCL collectives.
  float* parameters_device();
  float* gradients_device();
  cudaStream_t stream() const;
  void synchronize() const;

  // For benchmarks: time the GEMMs with events (GemmContext::set_timing).
  void set_gemm_timing(bool on);
  double gemm_elapsed_ms();

 private:
  std::unique_ptr<TrainerState> s_;
};

}  // namespace a48::cuda
