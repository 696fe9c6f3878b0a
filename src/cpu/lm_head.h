// The LM head (and the embedding table tied to it) as the CPU engine stores it: fp32 (as the model
// file gives it), fp16, or int8 with one absmax scale per vocabulary row (what bitnet.cpp's Q6_K
// embedding is to llama.cpp: for the 2B4T shape the fp16 head is 657 MB, more than half of a decode
// step's bytes). Logits are y[r] = scale[r] * sum_i x[i] * w[r, i], rows split over the pool; the
// int8 head also quantizes x with eq. 3's absmax (W8A8, exact int32 sums, as bitnet.cpp's Q6_K
// head meets Q8_K activations), so y[r] = scale[r] * step_x * sum_i w_q[r, i] * x_q[i].
#pragma once

#include <cstdint>
#include <span>

#include "cpu/aligned_buffer.h"
#include "cpu/kernel_table.h"
#include "cpu/thread_pool.h"
#include "model/engine.h"

namespace a48::cpu {

class LmHead {
 public:
  LmHead() = default;
  // matrix: [n_rows, n_in] fp32. Throws a48::Error on a size mismatch or a non-finite value.
  LmHead(std::span<const float> matrix, int64_t n_rows, int64_t n_in, HeadPrecision precision);

  int64_t n_rows() const { return n_rows_; }
  int64_t n_in() const { return n_in_; }
  HeadPrecision precision() const { return precision_; }
  int64_t bytes() const;  // weight bytes one logits() call reads (scales included)

  // The dequantized row r (the embedding lookup of a tied table). out: [n_in].
  void row(int64_t r, std::span<float> out) const;
  // y = W x. x: [n_in], y: [n_rows].
  void logits(std::span<const float> x, std::span<float> y, ThreadPool* pool,
              const KernelTable& kernels) const;

 private:
  int64_t n_rows_ = 0, n_in_ = 0;
  HeadPrecision precision_ = HeadPrecision::f32;
  AlignedBuffer data_;        // [n_rows, n_in] elements of the precision's size
  std::vector<float> scale_;  // [n_rows] for int8
};

}  // namespace a48::cpu
