// Scalar LM head kernels (kernel_table.h): 16 fp32 lanes, element i in lane i % 16, the same
// accumulation order as the AVX2 (two 8-lane registers) and AVX-512 (one 16-lane register) kernels.
#include "core/half.h"
#include "cpu/kernel_table.h"

namespace a48::cpu {

namespace {

constexpr int kLanes = 16;

float sum_lanes(const float (&acc)[kLanes]) {
  float s[kLanes];
  for (int j = 0; j < kLanes; ++j) s[j] = acc[j];
  for (int width = kLanes / 2; width >= 1; width /= 2) {
    for (int j = 0; j < width; ++j) s[j] += s[j + width];
  }
  return s[0];
}

template <class W, class ToFloat>
void head_rows(const W* w, int64_t n_in, int64_t n_rows, const float* x, float* y, ToFloat to_f) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const W* row = w + r * n_in;
    float acc[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= n_in; i += kLanes) {
      for (int j = 0; j < kLanes; ++j) acc[j] += x[i + j] * to_f(row[i + j]);
    }
    for (int j = 0; i + j < n_in; ++j) acc[j] += x[i + j] * to_f(row[i + j]);
    y[r] = sum_lanes(acc);
  }
}

}  // namespace

void head_f32_scalar(const float* w, int64_t n_in, int64_t n_rows, const float* x, float* y) {
  head_rows(w, n_in, n_rows, x, y, [](float v) { return v; });
}

void head_f16_scalar(const uint16_t* w, int64_t n_in, int64_t n_rows, const float* x, float* y) {
  head_rows(w, n_in, n_rows, x, y, [](uint16_t v) { return f16_to_f32(v); });
}

void head_i8_scalar(const int8_t* w, int64_t n_in, int64_t n_rows, const int8_t* x, int32_t* y) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const int8_t* row = w + r * n_in;
    int32_t sum = 0;
    for (int64_t i = 0; i < n_in; ++i) sum += int32_t{row[i]} * int32_t{x[i]};
    y[r] = sum;
  }
}

}  // namespace a48::cpu
