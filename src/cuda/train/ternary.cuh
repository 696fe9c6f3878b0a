// Eq. 2 on the device: ternary absmean quantization of every projection matrix of the flat
// parameter buffer, on the fly each step (§2.2), as quant/ternary_absmean.cpp computes it:
//   s = 1 / max(mean|W|, eps) (mean in double, then float),  t = clamp(rint(W * s), -1, 1),
//   alpha = 1 / s (0 for an all-zero W),  W_hat = alpha * t.
// mean|W| is a deterministic two-pass reduction (fixed chunks, fixed order).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <span>
#include <vector>

#include "cuda/common/device_buffer.h"

namespace a48::cuda {

// The matrices to quantize: their offsets and sizes in the flat buffer, on the device, plus the
// scratch their reduction needs.
class TernaryMatrices {
 public:
  TernaryMatrices(std::span<const int64_t> offsets, std::span<const int64_t> numels);
  int count() const { return static_cast<int>(offsets_.size()); }

  // params: the flat latent buffer. codes, w_hat: buffers laid out like params (only the matrices'
  // ranges are written). alpha: [count()]. *non_finite is set to 1 when a weight is NaN or Inf.
  void quantize(const float* params, float* codes, float* w_hat, float* alpha, int* non_finite,
                cudaStream_t stream);

 private:
  std::vector<int64_t> offsets_;
  DeviceBuffer<int64_t> offsets_device_, numels_device_;
  int64_t max_chunks_ = 0;
  DeviceBuffer<double> partial_;  // [count, max_chunks]
  DeviceBuffer<float> scale_;     // [count] s
};

}  // namespace a48::cuda
