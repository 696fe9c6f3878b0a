// The CPU packed ternary format (docs/FORMATS.md, "CPU packed ternary"), version 1: the codes
// t in {-1, 0, 1} of eq. 2, 2 bits each, laid out for the x86 kernels of src/cpu/ and identical
// on every ISA (the scalar kernels read the very same bytes).
//
// The unit is a *strip*: 256 consecutive codes of one line in 64 bytes (one cache line). Element
// e of a strip sits in byte e % 64, bits 2*(e / 64) .. 2*(e / 64) + 1, and holds t + 1 (0, 1 or 2;
// 3 never occurs). So one 64-byte load, masked and shifted four ways, gives the codes of elements
// 0..63, 64..127, 128..191, 192..255 as bytes, each group ready for a 64-lane byte product.
//
// A matrix is stored as lines of strips, in one of two orders chosen per projection:
//   rows:    a line is an output row of W [n_out, n_in]: n_out lines of ceil(n_in / 256) strips.
//            Dense GEMV/GEMM read it front to back; the row-masked GEMV (up projection on the
//            non-zero gate channels, §2.1) reads only the rows it needs, each a contiguous run.
//   columns: a line is an input column (a row of W^T): n_in lines of ceil(n_out / 256) strips.
//            The sparse-input GEMV (down projection, o_proj after top-K) reads only the lines of
//            the non-zero activations, each a contiguous run of whole cache lines.
// Lines are padded to whole strips with code 0 (t = 0, stored as 1).
#pragma once

#include <cstdint>

#include "cpu/aligned_buffer.h"
#include "model/weights.h"

namespace a48::cpu {

inline constexpr uint32_t kPackedTernaryVersion = 1;
inline constexpr int64_t kStripCodes = 256;  // codes per strip
inline constexpr int64_t kStripBytes = 64;   // bytes per strip
// Dimensions are bounded so that every kernel's int32 lane sums are exact (|sum| <= 256 * 2^20).
inline constexpr int64_t kPackedMaxDim = int64_t{1} << 20;

enum class PackOrder : uint8_t { rows = 0, columns = 1 };

// One packed BitLinear weight: y = scale * (t q) * step.
struct PackedLinear {
  uint32_t version = kPackedTernaryVersion;
  PackOrder order = PackOrder::rows;
  int64_t n_out = 0, n_in = 0;
  float scale = 0;              // alpha of eq. 2
  int64_t n_lines = 0;          // n_out (rows order) or n_in (columns order)
  int64_t strips_per_line = 0;  // ceil(line length / 256); line length = n_in (rows) or n_out
  AlignedBuffer data;           // [n_lines, strips_per_line, 64] bytes

  const uint8_t* line(int64_t i) const { return data.data() + i * strips_per_line * kStripBytes; }
  int64_t bytes() const { return n_lines * strips_per_line * kStripBytes; }
  int64_t line_bytes() const { return strips_per_line * kStripBytes; }
};

// Packs w.ternary (codes in {-1, 0, 1}, [n_out, n_in]) and w.scale. Throws a48::Error on a code
// outside {-1, 0, 1}, a size mismatch, or a dimension above kPackedMaxDim.
PackedLinear pack_linear(const LinearWeights& w, PackOrder order);

// The code t[o, i] of a packed matrix (for tests and debugging). Throws on a field value of 3.
int8_t packed_code(const PackedLinear& p, int64_t o, int64_t i);

// Back to LinearWeights (ternary codes and scale; latent stays empty). Throws a48::Error if a
// field holds 3 or a padding code is not 0 (a corrupt buffer).
LinearWeights unpack_linear(const PackedLinear& p);

const char* to_string(PackOrder order);

}  // namespace a48::cpu
