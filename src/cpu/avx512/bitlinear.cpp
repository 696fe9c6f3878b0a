// AVX-512 VNNI kernels for the packed ternary format (ternary_pack.h), built with
// -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx512vbmi and called only through dispatch.h.
//
// The product is vpdpbusd: for each int32 lane, acc += sum of 4 (unsigned byte x signed byte)
// products. The unsigned bytes are the packed fields c = t + 1 (a 64-byte strip masked and shifted
// gives 64 of them), the signed bytes the activation codes q, so |q| = 128 is exact too.
//   rows order:    lane bytes are 4 consecutive inputs of one row; q is loaded as is.
//   columns order: a strip holds 256 rows of one input column, so 4 columns' strips are
//                  interleaved byte-wise (unpacklo/hi epi8 then epi16) to put 4 inputs of one row
//                  in a lane; the 4 activations are broadcast. Lane l of interleave m then holds
//                  strip byte b(m, l) = 16 (l / 4) + 4m + l % 4, that is rows 64f + b for field f.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "cpu/kernel_table.h"

namespace a48::cpu {

namespace {

constexpr int64_t kStripCodes = 256, kStripBytes = 64;
constexpr int kGemmRows = 2, kGemmTokens = 8;    // rows-order GEMM register tile: 16 accumulators
constexpr int64_t kPrefetchQuads = 2;            // rows GEMV: prefetch the rows 2 quads ahead
constexpr auto kPrefetchHint = _MM_HINT_T1;      //   into L2 (measured better than L1 here)
constexpr int64_t kColsBlockStrips = 16;         // columns GEMV: strips per pass over the columns
constexpr int64_t kColsEpochGroups = 1 << 14;    // columns GEMV: groups between accumulator drains
constexpr int64_t kColsPrefetchGroups = 4;       // columns GEMV: prefetch the runs 4 groups ahead
constexpr auto kColsPrefetchHint = _MM_HINT_T0;  //   into L1 (without it: 3.5x slower from DRAM)
constexpr int64_t kPrefetchGroups = 8;           // columns GEMM: prefetch this many groups ahead

// Field F of every byte: strip elements 64F .. 64F+63 as bytes in {0, 1, 2}.
template <int F>
__m512i field(__m512i x) {
  const __m512i mask = _mm512_set1_epi8(3);
  if constexpr (F == 0) {
    return _mm512_and_si512(x, mask);
  } else {
    return _mm512_and_si512(_mm512_srli_epi16(x, 2 * F), mask);
  }
}

__m512i load(const void* p) { return _mm512_load_si512(p); }

// Sum of the 16 lanes. The zero-masked forms sidestep GCC 12's -Wuninitialized on the
// `_mm512_undefined_*` inside _mm512_reduce_add_epi32, _mm512_shuffle_i64x2 and the casts.
int32_t reduce_add(__m512i v) {
  v = _mm512_add_epi32(v, _mm512_maskz_shuffle_i64x2(0xff, v, v, 0x4e));  // + other 256-bit half
  v = _mm512_add_epi32(v, _mm512_maskz_shuffle_i64x2(0xff, v, v, 0xb1));  // + neighbouring lane
  __m128i s = _mm512_maskz_extracti32x4_epi32(0xf, v, 0);
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// ---- rows order ------------------------------------------------------------------------------

// One token, 4 rows at a time (4 loads of q shared by 4 rows); two accumulators per row keep the
// vpdpbusd dependency chains short.
void rows_gemv(const RowsKernelArgs& a) {
  const int64_t line_bytes = a.strips_per_line * kStripBytes;
  int64_t r = 0;
  for (; r + 4 <= a.n_rows; r += 4) {
    const uint8_t* w[4];
    const uint8_t* ahead[4];  // the rows kPrefetchQuads quads on: prefetched one strip per step
    __m512i even[4], odd[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      w[j] = a.weights + a.rows[r + j] * line_bytes;
      const int64_t r_ahead = r + 4 * kPrefetchQuads + j;
      ahead[j] = a.weights + a.rows[r_ahead < a.n_rows ? r_ahead : a.n_rows - 1] * line_bytes;
      even[j] = _mm512_setzero_si512();
      odd[j] = _mm512_setzero_si512();
    }
    for (int64_t k = 0; k < a.strips_per_line; ++k) {
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        _mm_prefetch(reinterpret_cast<const char*>(ahead[j] + k * kStripBytes), kPrefetchHint);
      }
      const int8_t* q = a.q + k * kStripCodes;
      const __m512i q0 = load(q), q1 = load(q + 64), q2 = load(q + 128), q3 = load(q + 192);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        const __m512i x = load(w[j] + k * kStripBytes);
        even[j] = _mm512_dpbusd_epi32(even[j], field<0>(x), q0);
        odd[j] = _mm512_dpbusd_epi32(odd[j], field<1>(x), q1);
        even[j] = _mm512_dpbusd_epi32(even[j], field<2>(x), q2);
        odd[j] = _mm512_dpbusd_epi32(odd[j], field<3>(x), q3);
      }
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      a.sums[a.rows[r + j]] = reduce_add(_mm512_add_epi32(even[j], odd[j]));
    }
  }
  for (; r < a.n_rows; ++r) {
    const uint8_t* w = a.weights + a.rows[r] * line_bytes;
    __m512i even = _mm512_setzero_si512(), odd = _mm512_setzero_si512();
    for (int64_t k = 0; k < a.strips_per_line; ++k) {
      const int8_t* q = a.q + k * kStripCodes;
      const __m512i x = load(w + k * kStripBytes);
      even = _mm512_dpbusd_epi32(even, field<0>(x), load(q));
      odd = _mm512_dpbusd_epi32(odd, field<1>(x), load(q + 64));
      even = _mm512_dpbusd_epi32(even, field<2>(x), load(q + 128));
      odd = _mm512_dpbusd_epi32(odd, field<3>(x), load(q + 192));
    }
    a.sums[a.rows[r]] = reduce_add(_mm512_add_epi32(even, odd));
  }
}

// R rows x T tokens: each strip's fields are extracted once and used by T tokens.
template <int R, int T>
void rows_tile(const RowsKernelArgs& a, const int32_t* rows, int64_t t0) {
  const int64_t line_bytes = a.strips_per_line * kStripBytes;
  const uint8_t* w[R];
  __m512i acc[R][T];
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
    w[i] = a.weights + rows[i] * line_bytes;
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[i][t] = _mm512_setzero_si512();
  }
  const int8_t* q_tile = a.q + t0 * a.q_stride;
  for (int64_t k = 0; k < a.strips_per_line; ++k) {
    __m512i f[R][4];
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      const __m512i x = load(w[i] + k * kStripBytes);
      f[i][0] = field<0>(x);
      f[i][1] = field<1>(x);
      f[i][2] = field<2>(x);
      f[i][3] = field<3>(x);
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const int8_t* q = q_tile + t * a.q_stride + k * kStripCodes;
#pragma GCC unroll 4
      for (int ff = 0; ff < 4; ++ff) {
        const __m512i qv = load(q + 64 * ff);
#pragma GCC unroll 8
        for (int i = 0; i < R; ++i) acc[i][t] = _mm512_dpbusd_epi32(acc[i][t], f[i][ff], qv);
      }
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      a.sums[(t0 + t) * a.sums_stride + rows[i]] = reduce_add(acc[i][t]);
    }
  }
}

template <int R>
void rows_tile_any(const RowsKernelArgs& a, const int32_t* rows, int64_t t0, int64_t n_tokens) {
  switch (n_tokens) {
    case 1:
      return rows_tile<R, 1>(a, rows, t0);
    case 2:
      return rows_tile<R, 2>(a, rows, t0);
    case 3:
      return rows_tile<R, 3>(a, rows, t0);
    case 4:
      return rows_tile<R, 4>(a, rows, t0);
    case 5:
      return rows_tile<R, 5>(a, rows, t0);
    case 6:
      return rows_tile<R, 6>(a, rows, t0);
    case 7:
      return rows_tile<R, 7>(a, rows, t0);
    default:
      return rows_tile<R, kGemmTokens>(a, rows, t0);
  }
}

// Several tokens: token tiles outside, row pairs inside, so that the caller's block of rows (a
// thread's task) stays in L1/L2 while every token tile streams past it.
void rows_gemm(const RowsKernelArgs& a) {
  for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kGemmTokens) {
    const int64_t n_tokens = a.n_tokens - t0 < kGemmTokens ? a.n_tokens - t0 : kGemmTokens;
    int64_t r = 0;
    for (; r + kGemmRows <= a.n_rows; r += kGemmRows) {
      rows_tile_any<kGemmRows>(a, a.rows + r, t0, n_tokens);
    }
    for (; r < a.n_rows; ++r) rows_tile_any<1>(a, a.rows + r, t0, n_tokens);
  }
}

void rows_avx512(const RowsKernelArgs& a) {
  if (a.n_tokens == 1) {
    rows_gemv(a);
  } else {
    rows_gemm(a);
  }
}

// ---- columns order ---------------------------------------------------------------------------

const uint8_t* column_strip(const ColsKernelArgs& a, int64_t g, int j, int64_t strip) {
  return a.weights + (a.cols[4 * g + j] * a.strips_per_line + strip) * kStripBytes;
}

void prefetch_group(const ColsKernelArgs& a, int64_t g, int64_t strip) {
  if (g >= a.n_groups) return;
  for (int j = 0; j < 4; ++j) {
    _mm_prefetch(reinterpret_cast<const char*>(column_strip(a, g, j, strip)), _MM_HINT_T0);
  }
}

// Interleave m (0..3) of the 4 columns' strips: lane l holds strip byte b(m, l) of each column.
template <int M>
__m512i interleave(__m512i x0, __m512i x1, __m512i x2, __m512i x3) {
  const __m512i p = M < 2 ? _mm512_unpacklo_epi8(x0, x1) : _mm512_unpackhi_epi8(x0, x1);
  const __m512i q = M < 2 ? _mm512_unpacklo_epi8(x2, x3) : _mm512_unpackhi_epi8(x2, x3);
  return M % 2 == 0 ? _mm512_unpacklo_epi16(p, q) : _mm512_unpackhi_epi16(p, q);
}

// Writes accumulator (m, f) (lane l = row 64f + 16 (l / 4) + 4m + l % 4) to out[0 .. 255]: its
// 128-bit lane L is the 4 consecutive rows 64f + 16L + 4m .. +3.
void store_interleaved(__m512i acc, int m, int f, int32_t* out) {
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(lanes, acc);
  for (int l4 = 0; l4 < 4; ++l4) {
    std::memcpy(out + 64 * f + 16 * l4 + 4 * m, lanes + 4 * l4, 4 * sizeof(int32_t));
  }
}

// Field F of every byte, left in place: the code times 4^F (0, 4^F or 2 * 4^F, at most 128, still
// an unsigned byte). Saves the shift of field<F>(); the accumulator of field F then holds 4^F times
// the sum, which an arithmetic shift undoes exactly. Each group adds at most 4 * 2 * 128 * 64 =
// 2^16 to a lane, so accumulators are drained at least every kColsEpochGroups = 2^14 groups.
template <int F>
__m512i field_scaled(__m512i x) {
  return _mm512_and_si512(x, _mm512_set1_epi8(static_cast<char>(3 << (2 * F))));
}

// One token: column by column (4 at a time), each column's strips read in a row as one contiguous
// run (what the hardware prefetchers serve best), into 16 accumulators per strip kept in L1.
// Accumulator (m, f) of a strip: interleave m, field f (scaled by 4^f).
void cols_gemv(const ColsKernelArgs& a) {
  for (int64_t b = 0; b < a.n_strips; b += kColsBlockStrips) {
    const int32_t* strips = a.strips + b;
    const int64_t n_strips = a.n_strips - b < kColsBlockStrips ? a.n_strips - b : kColsBlockStrips;
    __m512i acc[kColsBlockStrips][16], total[kColsBlockStrips][16];
    for (int64_t i = 0; i < n_strips; ++i) {
      for (int k = 0; k < 16; ++k) total[i][k] = acc[i][k] = _mm512_setzero_si512();
    }
    for (int64_t g0 = 0; g0 < a.n_groups; g0 += kColsEpochGroups) {
      const int64_t g1 = a.n_groups - g0 < kColsEpochGroups ? a.n_groups : g0 + kColsEpochGroups;
      for (int64_t g = g0; g < g1; ++g) {
        const __m512i qd = _mm512_set1_epi32(static_cast<int>(a.q4[g]));
        const uint8_t* c0 = column_strip(a, g, 0, 0);
        const uint8_t* c1 = column_strip(a, g, 1, 0);
        const uint8_t* c2 = column_strip(a, g, 2, 0);
        const uint8_t* c3 = column_strip(a, g, 3, 0);
        if (g + kColsPrefetchGroups < a.n_groups) {
          for (int j = 0; j < 4; ++j) {
            const uint8_t* ahead = column_strip(a, g + kColsPrefetchGroups, j, 0);
            for (int64_t i = 0; i < n_strips; ++i) {
              _mm_prefetch(reinterpret_cast<const char*>(ahead + strips[i] * kStripBytes),
                           kColsPrefetchHint);
            }
          }
        }
        for (int64_t i = 0; i < n_strips; ++i) {
          const int64_t offset = strips[i] * kStripBytes;
          const __m512i x0 = load(c0 + offset), x1 = load(c1 + offset);
          const __m512i x2 = load(c2 + offset), x3 = load(c3 + offset);
          const __m512i y[4] = {interleave<0>(x0, x1, x2, x3), interleave<1>(x0, x1, x2, x3),
                                interleave<2>(x0, x1, x2, x3), interleave<3>(x0, x1, x2, x3)};
          __m512i* acc_i = acc[i];
#pragma GCC unroll 4
          for (int m = 0; m < 4; ++m) {
            acc_i[4 * m + 0] = _mm512_dpbusd_epi32(acc_i[4 * m + 0], field_scaled<0>(y[m]), qd);
            acc_i[4 * m + 1] = _mm512_dpbusd_epi32(acc_i[4 * m + 1], field_scaled<1>(y[m]), qd);
            acc_i[4 * m + 2] = _mm512_dpbusd_epi32(acc_i[4 * m + 2], field_scaled<2>(y[m]), qd);
            acc_i[4 * m + 3] = _mm512_dpbusd_epi32(acc_i[4 * m + 3], field_scaled<3>(y[m]), qd);
          }
        }
      }
      for (int64_t i = 0; i < n_strips; ++i) {  // drain: total += acc / 4^f
        for (int m = 0; m < 4; ++m) {
          for (int f = 0; f < 4; ++f) {
            __m512i& t = total[i][4 * m + f];
            t = _mm512_add_epi32(t, _mm512_maskz_srai_epi32(0xffff, acc[i][4 * m + f], 2 * f));
            acc[i][4 * m + f] = _mm512_setzero_si512();
          }
        }
      }
    }
    for (int64_t i = 0; i < n_strips; ++i) {
      int32_t* out = a.sums + strips[i] * kStripCodes;
      for (int m = 0; m < 4; ++m) {
        for (int f = 0; f < 4; ++f) store_interleaved(total[i][4 * m + f], m, f, out);
      }
    }
  }
}

// T tokens, one interleave m per pass (4 accumulators per token): the 4 strips are re-read from L1
// per pass, and each extracted field serves T tokens.
template <int M, int T>
void cols_gemm_pass(const ColsKernelArgs& a, int64_t strip) {
  __m512i acc[T][4];
#pragma GCC unroll 4
  for (int t = 0; t < T; ++t) {
#pragma GCC unroll 4
    for (int f = 0; f < 4; ++f) acc[t][f] = _mm512_setzero_si512();
  }
  for (int64_t g = 0; g < a.n_groups; ++g) {
    if constexpr (M == 0) prefetch_group(a, g + kPrefetchGroups, strip);
    const __m512i y =
        interleave<M>(load(column_strip(a, g, 0, strip)), load(column_strip(a, g, 1, strip)),
                      load(column_strip(a, g, 2, strip)), load(column_strip(a, g, 3, strip)));
    const __m512i f0 = field<0>(y), f1 = field<1>(y), f2 = field<2>(y), f3 = field<3>(y);
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      const __m512i qd = _mm512_set1_epi32(static_cast<int>(a.q4[g * T + t]));
      acc[t][0] = _mm512_dpbusd_epi32(acc[t][0], f0, qd);
      acc[t][1] = _mm512_dpbusd_epi32(acc[t][1], f1, qd);
      acc[t][2] = _mm512_dpbusd_epi32(acc[t][2], f2, qd);
      acc[t][3] = _mm512_dpbusd_epi32(acc[t][3], f3, qd);
    }
  }
  for (int t = 0; t < T; ++t) {
    int32_t* out = a.sums + t * a.sums_stride + strip * kStripCodes;
    for (int f = 0; f < 4; ++f) store_interleaved(acc[t][f], M, f, out);
  }
}

template <int T>
void cols_gemm(const ColsKernelArgs& a) {
  for (int64_t s = 0; s < a.n_strips; ++s) {
    const int64_t strip = a.strips[s];
    cols_gemm_pass<0, T>(a, strip);
    cols_gemm_pass<1, T>(a, strip);
    cols_gemm_pass<2, T>(a, strip);
    cols_gemm_pass<3, T>(a, strip);
  }
}

void cols_avx512(const ColsKernelArgs& a) {
  static_assert(kColsMaxTokens == 4, "cols_avx512 instantiates 1 to 4 tokens");
  switch (a.n_tokens) {
    case 1:
      return cols_gemv(a);
    case 2:
      return cols_gemm<2>(a);
    case 3:
      return cols_gemm<3>(a);
    default:
      return cols_gemm<4>(a);
  }
}

uint64_t stream_avx512(const uint8_t* data, int64_t bytes) {
  __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
  int64_t i = 0;
  for (; i + 2 * kStripBytes <= bytes; i += 2 * kStripBytes) {
    s0 = _mm512_add_epi64(s0, load(data + i));
    s1 = _mm512_add_epi64(s1, load(data + i + kStripBytes));
  }
  if (i < bytes) s0 = _mm512_add_epi64(s0, load(data + i));
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, _mm512_add_epi64(s0, s1));
  uint64_t sum = 0;
  for (uint64_t v : lanes) sum += v;
  return sum;
}

// 64 inputs per step: a byte test gives the non-zero mask, vpcompressd packs the matching indices.
int64_t nonzero_avx512(const int8_t* q, int64_t n, int32_t* out) {
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  int64_t k = 0, i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512i x = _mm512_loadu_si512(q + i);
    const __mmask64 nonzero = _mm512_test_epi8_mask(x, x);
    for (int part = 0; part < 4; ++part) {
      const auto m = static_cast<__mmask16>(nonzero >> (16 * part));
      const __m512i index =
          _mm512_add_epi32(lanes, _mm512_set1_epi32(static_cast<int>(i) + 16 * part));
      _mm512_storeu_si512(out + k, _mm512_maskz_compress_epi32(m, index));
      k += __builtin_popcount(m);
    }
  }
  for (; i < n; ++i) {
    out[k] = static_cast<int32_t>(i);
    k += q[i] != 0 ? 1 : 0;
  }
  return k;
}

}  // namespace

extern const KernelTable kAvx512Kernels = {"avx512", rows_avx512, cols_avx512, stream_avx512,
                                           nonzero_avx512,
    head_f32_avx512, head_f16_avx512, head_i8_avx512};

}  // namespace a48::cpu
