// The CUDA packed ternary format (docs/FORMATS.md, "CUDA packed ternary"): the codes t in
// {-1, 0, 1} of eq. 2, 2 bits each, in 32-bit words laid out for the decode kernels of
// bitlinear.h. Host-only header (plain C++ may include it).
//
// A word holds 16 codes of one line, each stored as t + 1 (0, 1 or 2; 3 never occurs). A matrix
// is stored as lines of words, padded to a multiple of 4 words (64 codes, one 16-byte load) with
// code t = 0 (stored 1), in one of two orders:
//   rows:    line o is output row o of W [n_out, n_in]; element i of the line sits in word i / 16,
//            byte (i % 4), bits 2 * ((i % 16) / 4) .. +1. So (word >> 2k) & 0x03030303 gives the
//            4 codes of elements 16w + 4k .. 16w + 4k + 3 as bytes in element order: one dp4a
//            against the 4 activation codes of those elements (a 32-bit word of int8 codes).
//   columns: line i is input column i (row i of W^T), n_words = words_per_line words; output
//            o = k * n_words + m sits in word m, bits 2k .. 2k + 1, so the thread that owns word m
//            accumulates outputs m, m + n_words, ...: neighbouring threads, neighbouring outputs.
// Since codes are stored as t + 1, a kernel computes sum (t + 1) q and subtracts sum q (one
// number per token) to get sum t q exactly.
#pragma once

#include <cstdint>
#include <vector>

#include "cuda/common/device_buffer.h"
#include "model/weights.h"

namespace a48::cuda {

enum class TernaryOrder : uint8_t { rows = 0, columns = 1 };

inline constexpr int64_t kCodesPerWord = 16;
inline constexpr int64_t kLineAlignCodes = 64;  // lines are padded to whole 16-byte loads
// Bounded so that int32 sums of (t + 1) * q stay exact: 2 * 128 * 2^22 = 2^30.
inline constexpr int64_t kTernaryMaxDim = int64_t{1} << 22;

// Codes padded to a whole number of 16-byte loads.
inline int64_t padded_codes(int64_t n) { return (n + kLineAlignCodes - 1) / kLineAlignCodes * kLineAlignCodes; }

// Host image of one packed matrix.
struct TernaryWords {
  TernaryOrder order = TernaryOrder::rows;
  int64_t n_out = 0, n_in = 0;
  float scale = 0;             // alpha of eq. 2
  int64_t n_lines = 0;         // n_out (rows) or n_in (columns)
  int64_t words_per_line = 0;  // padded_codes(line length) / 16
  std::vector<uint32_t> words;  // [n_lines, words_per_line]
};

// Packs w.ternary ([n_out, n_in], codes in {-1, 0, 1}) and w.scale. Throws a48::Error on a code
// outside {-1, 0, 1}, a size mismatch or a dimension above kTernaryMaxDim.
TernaryWords pack_ternary(const LinearWeights& w, TernaryOrder order);
// The code t[o, i] of a packed matrix (tests). Throws on a stored 3.
int8_t ternary_code(const TernaryWords& p, int64_t o, int64_t i);

// A packed matrix on the device.
struct DeviceTernary {
  TernaryOrder order = TernaryOrder::rows;
  int64_t n_out = 0, n_in = 0;
  float scale = 0;
  int64_t n_lines = 0, words_per_line = 0;
  DeviceBuffer<uint32_t> words;  // [n_lines, words_per_line]
  int64_t bytes() const { return n_lines * words_per_line * 4; }
};
DeviceTernary upload_ternary(const TernaryWords& p);

}  // namespace a48::cuda
