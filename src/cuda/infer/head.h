// The embedding lookup and the LM head on the device (host launchers). The head is stored in fp32
// (the reference's values; float sums per lane, so logits differ from the reference's double
// sums by ~1e-6 relative) or in int8 with one absmax scale per vocab row (w ~ scale * w8, scale =
// max|w_row| / 127; logits differ by the rounding of the weights, ~0.4% of a row's scale).
// Plain C++ may include this header.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "cuda/common/device_buffer.h"

namespace a48::cuda {

// x[t] = table[tokens[t]]. table: [V, d], tokens: device [n_tokens], x: [n_tokens, ld_x].
void embed_rows(const float* table, int64_t d, const int32_t* tokens, int64_t n_tokens, float* x,
                int64_t ld_x, cudaStream_t stream);

struct DeviceHead {
  int64_t vocab = 0, d = 0;
  bool int8 = false;
  DeviceBuffer<float> f32;     // [V, d] when !int8
  DeviceBuffer<int8_t> w8;     // [V, d] when int8
  DeviceBuffer<float> scale;   // [V] when int8
  int64_t bytes() const { return int8 ? vocab * d + vocab * 4 : vocab * d * 4; }
};
// w: [V, d] fp32. int8 needs d % 4 == 0.
DeviceHead upload_head(const std::vector<float>& w, int64_t vocab, int64_t d, bool int8);

// logits[r, :] = head . normed[rows[r], :] for r < n_rows. rows: device [n_rows] row indices.
void head_logits(const DeviceHead& head, const float* normed, int64_t ld, const int32_t* rows, int64_t n_rows,
                 float* logits, cudaStream_t stream);

}  // namespace a48::cuda
