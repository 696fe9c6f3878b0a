// AVX2 LM head kernels (kernel_table.h): 16 fp32 lanes as two 8-lane accumulators (elements
// i..i+7 and i+8..i+15), weights widened in registers (vcvtph2ps, vpmovsxbd + vcvtdq2ps); the
// tail (< 16 elements) is added lane by lane as the scalar kernel does.
#include <immintrin.h>

#include <cstdint>

#include "core/half.h"
#include "cpu/kernel_table.h"

namespace a48::cpu {

namespace {

__m256 load8(const float* p) { return _mm256_loadu_ps(p); }
__m256 load8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
__m256 load8(const int8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
float to_f(float v) { return v; }
float to_f(uint16_t v) { return f16_to_f32(v); }
float to_f(int8_t v) { return static_cast<float>(v); }

template <class W>
void head_rows(const W* w, int64_t n_in, int64_t n_rows, const float* x, float* y) {
  const int64_t full = n_in / 16 * 16;
  for (int64_t r = 0; r < n_rows; ++r) {
    const W* a = w + r * n_in;
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    for (int64_t i = 0; i < full; i += 16) {
      lo = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), load8(a + i), lo);
      hi = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), load8(a + i + 8), hi);
    }
    alignas(32) float s[16];
    _mm256_store_ps(s, lo);
    _mm256_store_ps(s + 8, hi);
    for (int64_t i = full; i < n_in; ++i) s[i - full] += x[i] * to_f(a[i]);
    for (int width = 8; width >= 1; width /= 2) {
      for (int j = 0; j < width; ++j) s[j] += s[j + width];
    }
    y[r] = s[0];
  }
}

}  // namespace

void head_f32_avx2(const float* w, int64_t n_in, int64_t n_rows, const float* x, float* y) {
  head_rows(w, n_in, n_rows, x, y);
}
void head_f16_avx2(const uint16_t* w, int64_t n_in, int64_t n_rows, const float* x, float* y) {
  head_rows(w, n_in, n_rows, x, y);
}
void head_i8_avx2(const int8_t* w, int64_t n_in, int64_t n_rows, const float* x, float* y) {
  head_rows(w, n_in, n_rows, x, y);
}

}  // namespace a48::cpu
