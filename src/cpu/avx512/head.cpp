// AVX-512 LM head kernels (kernel_table.h): one 16-lane fp32 accumulator per row, weights widened
// in registers (vcvtph2ps for fp16, vpmovsxbd + vcvtdq2ps for int8); the tail is a masked load.
// Two rows at a time so that each activation load serves both.
// GCC 12 reports its own intrinsics (vcvtph2ps, vpmovsxbd: `__Y` from _mm512_undefined_*) as
// maybe-uninitialized; a known false positive of the headers, not of this code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

#include "cpu/kernel_table.h"

namespace a48::cpu {

namespace {

float sum_lanes(__m512 v) {  // pairwise, as the scalar kernel: halves, then quarters, ...
  __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v),
                            _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1);
}

__m512 load_w(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
__m512 load_w(const uint16_t* p, __mmask16 m) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

template <class W>
void head_rows(const W* w, int64_t n_in, int64_t n_rows, const float* x, float* y) {
  const int64_t full = n_in / 16 * 16;
  const auto tail = static_cast<__mmask16>((1u << (n_in - full)) - 1);
  int64_t r = 0;
  for (; r + 2 <= n_rows; r += 2) {
    const W* a = w + r * n_in;
    const W* b = a + n_in;
    __m512 acc_a = _mm512_setzero_ps(), acc_b = _mm512_setzero_ps();
    for (int64_t i = 0; i < full; i += 16) {
      const __m512 xv = _mm512_loadu_ps(x + i);
      acc_a = _mm512_fmadd_ps(xv, load_w(a + i, 0xFFFF), acc_a);
      acc_b = _mm512_fmadd_ps(xv, load_w(b + i, 0xFFFF), acc_b);
    }
    if (tail != 0) {
      const __m512 xv = _mm512_maskz_loadu_ps(tail, x + full);
      acc_a = _mm512_fmadd_ps(xv, load_w(a + full, tail), acc_a);
      acc_b = _mm512_fmadd_ps(xv, load_w(b + full, tail), acc_b);
    }
    y[r] = sum_lanes(acc_a);
    y[r + 1] = sum_lanes(acc_b);
  }
  for (; r < n_rows; ++r) {
    const W* a = w + r * n_in;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < full; i += 16) {
      acc = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), load_w(a + i, 0xFFFF), acc);
    }
    if (tail != 0) {
      acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, x + full), load_w(a + full, tail), acc);
    }
    y[r] = sum_lanes(acc);
  }
}

}  // namespace

void head_f32_avx512(const float* w, int64_t n_in, int64_t n_rows, const float* x, float* y) {
  head_rows(w, n_in, n_rows, x, y);
}
void head_f16_avx512(const uint16_t* w, int64_t n_in, int64_t n_rows, const float* x, float* y) {
  head_rows(w, n_in, n_rows, x, y);
}
// vpdpbusd multiplies unsigned by signed bytes: with u = x + 128 in [1, 255],
//   sum w*x = sum w*u - 128 * sum w,
// and sum w is one more vpdpbusd against a vector of ones. 64 products per instruction.
void head_i8_avx512(const int8_t* w, int64_t n_in, int64_t n_rows, const int8_t* x, int32_t* y) {
  const int64_t full = n_in / 64 * 64;
  const int64_t rest = n_in - full;
  const __mmask64 tail = rest == 0 ? 0 : (~uint64_t{0} >> (64 - rest));
  const __m512i offset = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i ones = _mm512_set1_epi8(1);
  for (int64_t r = 0; r < n_rows; ++r) {
    const int8_t* row = w + r * n_in;
    __m512i acc = _mm512_setzero_si512(), wsum = _mm512_setzero_si512();
    for (int64_t i = 0; i < full; i += 64) {
      const __m512i u = _mm512_xor_si512(_mm512_loadu_si512(x + i), offset);  // x + 128
      const __m512i wv = _mm512_loadu_si512(row + i);
      acc = _mm512_dpbusd_epi32(acc, u, wv);
      wsum = _mm512_dpbusd_epi32(wsum, ones, wv);
    }
    if (tail != 0) {  // masked-off weights are 0: they add nothing to either sum
      const __m512i u = _mm512_xor_si512(_mm512_maskz_loadu_epi8(tail, x + full), offset);
      const __m512i wv = _mm512_maskz_loadu_epi8(tail, row + full);
      acc = _mm512_dpbusd_epi32(acc, u, wv);
      wsum = _mm512_dpbusd_epi32(wsum, ones, wv);
    }
    y[r] = _mm512_reduce_add_epi32(acc) - 128 * _mm512_reduce_add_epi32(wsum);
  }
}

}  // namespace a48::cpu
