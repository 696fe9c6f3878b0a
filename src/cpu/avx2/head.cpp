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
float to_f(float v) { return v; }
float to_f(uint16_t v) { return f16_to_f32(v); }

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
// vpmaddubsw multiplies unsigned by signed bytes: |w| (<= 128) times sign(w) * x (|x| <= 127), so
// a pair sums to at most 2 * 128 * 127 = 32512 and never saturates int16; vpmaddwd widens.
void head_i8_avx2(const int8_t* w, int64_t n_in, int64_t n_rows, const int8_t* x, int32_t* y) {
  const int64_t full = n_in / 32 * 32;
  const __m256i ones16 = _mm256_set1_epi16(1);
  for (int64_t r = 0; r < n_rows; ++r) {
    const int8_t* row = w + r * n_in;
    __m256i acc = _mm256_setzero_si256();
    for (int64_t i = 0; i < full; i += 32) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + i));
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
      const __m256i pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(xv, wv));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones16));
    }
    const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    const __m128i s2 = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    int32_t sum = _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0xb1)));
    for (int64_t i = full; i < n_in; ++i) sum += int32_t{row[i]} * int32_t{x[i]};
    y[r] = sum;
  }
}

}  // namespace a48::cpu
