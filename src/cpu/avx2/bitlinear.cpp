// AVX2 kernels for the packed ternary format (ternary_pack.h), built with -mavx2 -mfma -mf16c and
// called only through dispatch.h. Same data flow as avx512/bitlinear.cpp on 32-byte halves of
// each strip; the 4-products-per-lane step is vpmaddubsw (u8 x s8 -> pairs summed in int16,
// |c q + c' q'| <= 2 * 2 * 128 = 512, never saturating) then vpmaddwd with ones (-> int32).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "cpu/kernel_table.h"

namespace a48::cpu {

namespace {

constexpr int64_t kStripCodes = 256, kStripBytes = 64;
constexpr int kGemmTokens = 4;              // rows-order GEMM: one row x 4 tokens
constexpr int64_t kPrefetchRows = 8;        // rows GEMV: prefetch the row this far down the list
constexpr int64_t kColsBlockStrips = 16;    // columns GEMV: strips per pass over the columns
constexpr int64_t kColsPrefetchGroups = 2;  // columns GEMV: prefetch the runs of this group ahead

template <int F>
__m256i field(__m256i x) {
  const __m256i mask = _mm256_set1_epi8(3);
  if constexpr (F == 0) {
    return _mm256_and_si256(x, mask);
  } else {
    return _mm256_and_si256(_mm256_srli_epi16(x, 2 * F), mask);
  }
}

__m256i load(const void* p) { return _mm256_load_si256(static_cast<const __m256i*>(p)); }

// int16 pair sums -> int32 lane sums.
__m256i widen(__m256i pairs16) { return _mm256_madd_epi16(pairs16, _mm256_set1_epi16(1)); }

int32_t reduce_add(__m256i v) {
  const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  const __m128i s2 = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  return _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0xb1)));
}

// The int16 sum over one strip of x . q for T tokens' q, |value| <= 8 * 512 = 4096 per lane.
__m256i strip_pairs(__m256i x_lo, __m256i x_hi, const int8_t* q) {
  __m256i s = _mm256_maddubs_epi16(field<0>(x_lo), load(q));
  s = _mm256_add_epi16(s, _mm256_maddubs_epi16(field<0>(x_hi), load(q + 32)));
  s = _mm256_add_epi16(s, _mm256_maddubs_epi16(field<1>(x_lo), load(q + 64)));
  s = _mm256_add_epi16(s, _mm256_maddubs_epi16(field<1>(x_hi), load(q + 96)));
  s = _mm256_add_epi16(s, _mm256_maddubs_epi16(field<2>(x_lo), load(q + 128)));
  s = _mm256_add_epi16(s, _mm256_maddubs_epi16(field<2>(x_hi), load(q + 160)));
  s = _mm256_add_epi16(s, _mm256_maddubs_epi16(field<3>(x_lo), load(q + 192)));
  return _mm256_add_epi16(s, _mm256_maddubs_epi16(field<3>(x_hi), load(q + 224)));
}

// ---- rows order ------------------------------------------------------------------------------

// One row x T tokens; T = 1 is the GEMV.
template <int T>
void rows_tile(const RowsKernelArgs& a, int64_t r, int64_t t0) {
  const int64_t row = a.rows[r];
  const uint8_t* w = a.weights + row * a.strips_per_line * kStripBytes;
  const int64_t r_ahead = r + kPrefetchRows < a.n_rows ? r + kPrefetchRows : a.n_rows - 1;
  const uint8_t* ahead = a.weights + a.rows[r_ahead] * a.strips_per_line * kStripBytes;
  __m256i acc[T];
#pragma GCC unroll 4
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_si256();
  const int8_t* q_tile = a.q + t0 * a.q_stride;
  for (int64_t k = 0; k < a.strips_per_line; ++k) {
    _mm_prefetch(reinterpret_cast<const char*>(ahead + k * kStripBytes), _MM_HINT_T1);
    const __m256i x_lo = load(w + k * kStripBytes), x_hi = load(w + k * kStripBytes + 32);
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      const int8_t* q = q_tile + t * a.q_stride + k * kStripCodes;
      acc[t] = _mm256_add_epi32(acc[t], widen(strip_pairs(x_lo, x_hi, q)));
    }
  }
#pragma GCC unroll 4
  for (int t = 0; t < T; ++t) a.sums[(t0 + t) * a.sums_stride + row] = reduce_add(acc[t]);
}

void rows_avx2(const RowsKernelArgs& a) {
  for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kGemmTokens) {
    const int64_t n_tokens = a.n_tokens - t0 < kGemmTokens ? a.n_tokens - t0 : kGemmTokens;
    for (int64_t r = 0; r < a.n_rows; ++r) {
      switch (n_tokens) {
        case 1:
          rows_tile<1>(a, r, t0);
          break;
        case 2:
          rows_tile<2>(a, r, t0);
          break;
        case 3:
          rows_tile<3>(a, r, t0);
          break;
        default:
          rows_tile<kGemmTokens>(a, r, t0);
          break;
      }
    }
  }
}

// ---- columns order ---------------------------------------------------------------------------

const uint8_t* column_strip(const ColsKernelArgs& a, int64_t g, int j, int64_t strip) {
  return a.weights + (a.cols[4 * g + j] * a.strips_per_line + strip) * kStripBytes;
}

// acc (interleave m, field f, half h): its 128-bit lane L is rows 64f + 32h + 16L + 4m .. +3.
void store_interleaved(__m256i acc, int m, int f, int h, int32_t* out) {
  alignas(32) int32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), acc);
  for (int l4 = 0; l4 < 2; ++l4) {
    std::memcpy(out + 64 * f + 32 * h + 16 * l4 + 4 * m, lanes + 4 * l4, 4 * sizeof(int32_t));
  }
}

// One token: column by column (4 at a time), each column's strips read in a row as one run, the
// next groups' runs prefetched; 32 accumulators per strip (2 halves x 4 interleaves x 4 fields)
// kept in L1. Half h (32 bytes) of 4 strips, unpacked byte- then word-wise, gives interleave m
// whose lane l holds strip byte 32h + 16 (l / 4) + 4m + l % 4 of each column.
void cols_token(const ColsKernelArgs& a, int64_t t) {
  for (int64_t b = 0; b < a.n_strips; b += kColsBlockStrips) {
    const int32_t* strips = a.strips + b;
    const int64_t n_strips = a.n_strips - b < kColsBlockStrips ? a.n_strips - b : kColsBlockStrips;
    __m256i acc[kColsBlockStrips][2][16];
    for (int64_t i = 0; i < n_strips; ++i) {
      for (int h = 0; h < 2; ++h) {
        for (int k = 0; k < 16; ++k) acc[i][h][k] = _mm256_setzero_si256();
      }
    }
    for (int64_t g = 0; g < a.n_groups; ++g) {
      if (g + kColsPrefetchGroups < a.n_groups) {
        for (int j = 0; j < 4; ++j) {
          const uint8_t* ahead = column_strip(a, g + kColsPrefetchGroups, j, 0);
          for (int64_t i = 0; i < n_strips; ++i) {
            _mm_prefetch(reinterpret_cast<const char*>(ahead + strips[i] * kStripBytes),
                         _MM_HINT_T0);
          }
        }
      }
      const __m256i qd = _mm256_set1_epi32(static_cast<int>(a.q4[g * a.n_tokens + t]));
      const uint8_t* c[4] = {column_strip(a, g, 0, 0), column_strip(a, g, 1, 0),
                             column_strip(a, g, 2, 0), column_strip(a, g, 3, 0)};
      for (int64_t i = 0; i < n_strips; ++i) {
        const int64_t offset = strips[i] * kStripBytes;
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
          const __m256i x0 = load(c[0] + offset + 32 * h), x1 = load(c[1] + offset + 32 * h);
          const __m256i x2 = load(c[2] + offset + 32 * h), x3 = load(c[3] + offset + 32 * h);
          const __m256i u_lo = _mm256_unpacklo_epi8(x0, x1), u_hi = _mm256_unpackhi_epi8(x0, x1);
          const __m256i v_lo = _mm256_unpacklo_epi8(x2, x3), v_hi = _mm256_unpackhi_epi8(x2, x3);
          const __m256i y[4] = {
              _mm256_unpacklo_epi16(u_lo, v_lo), _mm256_unpackhi_epi16(u_lo, v_lo),
              _mm256_unpacklo_epi16(u_hi, v_hi), _mm256_unpackhi_epi16(u_hi, v_hi)};
          __m256i* acc_ih = acc[i][h];
#pragma GCC unroll 4
          for (int m = 0; m < 4; ++m) {
            acc_ih[4 * m + 0] = _mm256_add_epi32(acc_ih[4 * m + 0],
                                                 widen(_mm256_maddubs_epi16(field<0>(y[m]), qd)));
            acc_ih[4 * m + 1] = _mm256_add_epi32(acc_ih[4 * m + 1],
                                                 widen(_mm256_maddubs_epi16(field<1>(y[m]), qd)));
            acc_ih[4 * m + 2] = _mm256_add_epi32(acc_ih[4 * m + 2],
                                                 widen(_mm256_maddubs_epi16(field<2>(y[m]), qd)));
            acc_ih[4 * m + 3] = _mm256_add_epi32(acc_ih[4 * m + 3],
                                                 widen(_mm256_maddubs_epi16(field<3>(y[m]), qd)));
          }
        }
      }
    }
    for (int64_t i = 0; i < n_strips; ++i) {
      int32_t* out = a.sums + t * a.sums_stride + strips[i] * kStripCodes;
      for (int h = 0; h < 2; ++h) {
        for (int m = 0; m < 4; ++m) {
          for (int f = 0; f < 4; ++f) store_interleaved(acc[i][h][4 * m + f], m, f, h, out);
        }
      }
    }
  }
}

// Tokens one at a time: a prefill tile's tokens re-read the same strips from L1/L2.
void cols_avx2(const ColsKernelArgs& a) {
  for (int64_t t = 0; t < a.n_tokens; ++t) cols_token(a, t);
}

uint64_t stream_avx2(const uint8_t* data, int64_t bytes) {
  __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
  for (int64_t i = 0; i < bytes; i += kStripBytes) {
    s0 = _mm256_add_epi64(s0, load(data + i));
    s1 = _mm256_add_epi64(s1, load(data + i + 32));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi64(s0, s1));
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

int64_t nonzero_avx2(const int8_t* q, int64_t n, int32_t* out) {
  int64_t k = 0, i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + i));
    auto mask =
        ~static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(x, _mm256_setzero_si256())));
    for (; mask != 0; mask &= mask - 1) out[k++] = static_cast<int32_t>(i + __builtin_ctz(mask));
  }
  for (; i < n; ++i) {
    out[k] = static_cast<int32_t>(i);
    k += q[i] != 0 ? 1 : 0;
  }
  return k;
}

}  // namespace

extern const KernelTable kAvx2Kernels = {"avx2", rows_avx2, cols_avx2, stream_avx2, nonzero_avx2,
    head_f32_avx2, head_f16_avx2, head_i8_avx2};

}  // namespace a48::cpu
