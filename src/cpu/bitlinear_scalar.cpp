// The portable kernels: plain loops over the packed format (ternary_pack.h), the fallback on any
// CPU and the definition the AVX2 and AVX-512 kernels are tested against. They compute the raw
// sums S = sum_i (t_i + 1) q_i of kernel_table.h.
#include <cstring>

#include "cpu/kernel_table.h"

namespace a48::cpu {

namespace {

constexpr int64_t kStripCodes = 256, kStripBytes = 64;

// Field of element e of a strip: byte e % 64, bits 2 * (e / 64).
int32_t strip_field(const uint8_t* strip, int64_t e) {
  return (strip[e % kStripBytes] >> (2 * (e / kStripBytes))) & 3;
}

void rows_scalar(const RowsKernelArgs& a) {
  const int64_t line_bytes = a.strips_per_line * kStripBytes;
  const int64_t line_codes = a.strips_per_line * kStripCodes;
  for (int64_t r = 0; r < a.n_rows; ++r) {
    const int64_t row = a.rows[r];
    const uint8_t* w = a.weights + row * line_bytes;
    for (int64_t t = 0; t < a.n_tokens; ++t) {
      const int8_t* q = a.q + t * a.q_stride;
      int32_t sum = 0;
      for (int64_t i = 0; i < line_codes; ++i) {
        sum += strip_field(w + (i / kStripCodes) * kStripBytes, i % kStripCodes) * q[i];
      }
      a.sums[t * a.sums_stride + row] = sum;
    }
  }
}

void cols_scalar(const ColsKernelArgs& a) {
  for (int64_t s = 0; s < a.n_strips; ++s) {
    const int64_t strip = a.strips[s];
    for (int64_t t = 0; t < a.n_tokens; ++t) {
      int32_t acc[kStripCodes] = {};  // rows 256 * strip + e
      for (int64_t g = 0; g < a.n_groups; ++g) {
        const uint32_t q4 = a.q4[g * a.n_tokens + t];
        for (int j = 0; j < 4; ++j) {
          const auto q = static_cast<int8_t>(static_cast<uint8_t>(q4 >> (8 * j)));
          const uint8_t* w =
              a.weights + (a.cols[4 * g + j] * a.strips_per_line + strip) * kStripBytes;
          for (int64_t e = 0; e < kStripCodes; ++e) acc[e] += strip_field(w, e) * q;
        }
      }
      std::memcpy(a.sums + t * a.sums_stride + strip * kStripCodes, acc, sizeof(acc));
    }
  }
}

uint64_t stream_scalar(const uint8_t* data, int64_t bytes) {
  uint64_t s[8] = {};
  for (int64_t i = 0; i < bytes; i += kStripBytes) {
    for (int j = 0; j < 8; ++j) {
      uint64_t word;
      std::memcpy(&word, data + i + 8 * j, sizeof(word));
      s[j] += word;
    }
  }
  return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

// Branch-free: every index is written, the cursor advances past the non-zero ones.
int64_t nonzero_scalar(const int8_t* q, int64_t n, int32_t* out) {
  int64_t k = 0;
  for (int64_t i = 0; i < n; ++i) {
    out[k] = static_cast<int32_t>(i);
    k += q[i] != 0 ? 1 : 0;
  }
  return k;
}

}  // namespace

extern const KernelTable kScalarKernels = {"scalar", rows_scalar, cols_scalar, stream_scalar,
                                           nonzero_scalar,
    head_f32_scalar, head_f16_scalar, head_i8_scalar};

}  // namespace a48::cpu
