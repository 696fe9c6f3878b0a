// The packed ternary layout of HF's BitNet b1.58 2B4T checkpoint: weight W [n_out, n_in] with codes
// t in {-1, 0, 1} is stored as U8 [n_out/4, n_in]; byte (j, i) holds, in bits 2k..2k+1, the value
// t[k*(n_out/4) + j, i] + 1 (k = 0..3): four rows packed along the output dimension, strided by
// n_out/4. The scale convention is documented in docs/FORMATS.md.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace a48 {

// n_out must be a multiple of 4 (throws a48::Error otherwise).
std::vector<uint8_t> pack_ternary_hf(std::span<const int8_t> codes, int64_t n_out, int64_t n_in);
// Throws a48::Error on a 2-bit field of 3 (not a ternary code).
std::vector<int8_t> unpack_ternary_hf(std::span<const uint8_t> packed, int64_t n_out, int64_t n_in);

}  // namespace a48
