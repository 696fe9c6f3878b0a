#include "cpu/lm_head.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/half.h"
#include "quant/int8_absmax.h"
#include "quant/quant_common.h"

namespace a48::cpu {

namespace {

std::size_t element_bytes(HeadPrecision p) {
  return p == HeadPrecision::f32 ? 4 : p == HeadPrecision::f16 ? 2 : 1;
}

constexpr int64_t kRowsPerTask = 64;  // ~160 KiB of fp16 rows at d = 2560: a few per thread

}  // namespace

LmHead::LmHead(std::span<const float> matrix, int64_t n_rows, int64_t n_in,
               HeadPrecision precision)
    : n_rows_(n_rows), n_in_(n_in), precision_(precision) {
  check(n_rows > 0 && n_in > 0 && static_cast<int64_t>(matrix.size()) == n_rows * n_in,
        "LM head: {} values for [{}, {}]", matrix.size(), n_rows, n_in);
  check_finite(matrix, "LM head");
  const auto n = static_cast<std::size_t>(n_in);
  data_.resize(static_cast<std::size_t>(n_rows * n_in) * element_bytes(precision));
  if (precision == HeadPrecision::int8) scale_.resize(static_cast<std::size_t>(n_rows));
  for (int64_t r = 0; r < n_rows; ++r) {
    const std::span<const float> src = matrix.subspan(static_cast<std::size_t>(r) * n, n);
    switch (precision) {
      case HeadPrecision::f32:
        std::memcpy(data_.data() + r * n_in * 4, src.data(), n * 4);
        break;
      case HeadPrecision::f16: {
        auto* dst = reinterpret_cast<uint16_t*>(data_.data()) + r * n_in;
        for (std::size_t i = 0; i < n; ++i) dst[i] = f32_to_f16(src[i]);
        break;
      }
      case HeadPrecision::int8: {
        // eq. 3's absmax quantizer, applied to a weight row: w ~ scale * q, q in [-127, 127].
        auto* dst = reinterpret_cast<int8_t*>(data_.data()) + r * n_in;
        scale_[static_cast<std::size_t>(r)] = quantize_int8_absmax(src, std::span<int8_t>(dst, n));
        break;
      }
    }
  }
}

int64_t LmHead::bytes() const {
  return static_cast<int64_t>(data_.size() + scale_.size() * sizeof(float));
}

void LmHead::row(int64_t r, std::span<float> out) const {
  check(r >= 0 && r < n_rows_, "LM head: row {} outside [0, {})", r, n_rows_);
  check(static_cast<int64_t>(out.size()) == n_in_, "LM head: row output has {} values, not {}",
        out.size(), n_in_);
  const auto n = static_cast<std::size_t>(n_in_);
  switch (precision_) {
    case HeadPrecision::f32:
      std::memcpy(out.data(), data_.data() + r * n_in_ * 4, n * 4);
      break;
    case HeadPrecision::f16: {
      const auto* src = reinterpret_cast<const uint16_t*>(data_.data()) + r * n_in_;
      for (std::size_t i = 0; i < n; ++i) out[i] = f16_to_f32(src[i]);
      break;
    }
    case HeadPrecision::int8: {
      const auto* src = reinterpret_cast<const int8_t*>(data_.data()) + r * n_in_;
      const float s = scale_[static_cast<std::size_t>(r)];
      for (std::size_t i = 0; i < n; ++i) out[i] = s * static_cast<float>(src[i]);
      break;
    }
  }
}

void LmHead::logits(std::span<const float> x, std::span<float> y, ThreadPool* pool,
                    const KernelTable& kernels) const {
  check(static_cast<int64_t>(x.size()) == n_in_ && static_cast<int64_t>(y.size()) == n_rows_,
        "LM head: x has {} and y {} values, expected {} and {}", x.size(), y.size(), n_in_,
        n_rows_);
  const int64_t n_tasks = (n_rows_ + kRowsPerTask - 1) / kRowsPerTask;
  // The int8 head is W8A8: the token's activations quantized once with eq. 3's absmax.
  std::vector<int8_t> xq;
  float x_step = 0;
  if (precision_ == HeadPrecision::int8) {
    xq.resize(x.size());
    x_step = quantize_int8_absmax(x, xq);
    for (int8_t& v : xq) v = std::max<int8_t>(v, -127);  // the kernels' contract (in practice a no-op)
  }
  auto task = [&](int64_t t) {
    const int64_t r0 = t * kRowsPerTask, rows = std::min(kRowsPerTask, n_rows_ - r0);
    float* out = y.data() + r0;
    switch (precision_) {
      case HeadPrecision::f32:
        kernels.head_f32(reinterpret_cast<const float*>(data_.data()) + r0 * n_in_, n_in_, rows,
                         x.data(), out);
        break;
      case HeadPrecision::f16:
        kernels.head_f16(reinterpret_cast<const uint16_t*>(data_.data()) + r0 * n_in_, n_in_,
                         rows, x.data(), out);
        break;
      case HeadPrecision::int8: {
        int32_t sums[kRowsPerTask];
        kernels.head_i8(reinterpret_cast<const int8_t*>(data_.data()) + r0 * n_in_, n_in_, rows,
                        xq.data(), sums);
        for (int64_t r = 0; r < rows; ++r) {
          out[r] = static_cast<float>(double{scale_[static_cast<std::size_t>(r0 + r)]} *
                                      double{x_step} * static_cast<double>(sums[r]));
        }
        break;
      }
    }
  };
  if (pool != nullptr) {
    pool->run(n_tasks, task);
  } else {
    for (int64_t t = 0; t < n_tasks; ++t) task(t);
  }
}

}  // namespace a48::cpu
