// HF BitNet packed ternary weights (transformers/integrations/bitnet.py, pack_weights and
// unpack_weights): four output rows per byte, the k-th 2-bit field of byte (j, i) holding
// t[k*(n_out/4) + j, i] + 1. docs/FORMATS.md has a worked byte.
#include "format/hf_ternary_pack.h"

#include "core/error.h"

namespace a48 {
namespace {

// n_out/4 packed rows; checks the shape and that `elements` matches it.
int64_t packed_rows(int64_t n_out, int64_t n_in, std::size_t elements, int64_t per_element,
                    const char* what) {
  check(n_out >= 0 && n_in >= 0, "{}: negative shape [{}, {}]", what, n_out, n_in);
  check(n_out % 4 == 0, "{}: n_out = {} is not a multiple of 4 (HF packs four rows per byte)", what,
        n_out);
  int64_t expected = 0;
  check(!__builtin_mul_overflow(n_out / per_element, n_in, &expected) &&
            static_cast<uint64_t>(expected) == elements,
        "{}: got {} elements for shape [{}, {}]", what, elements, n_out, n_in);
  return n_out / 4;
}

}  // namespace

std::vector<uint8_t> pack_ternary_hf(std::span<const int8_t> codes, int64_t n_out, int64_t n_in) {
  const int64_t rows = packed_rows(n_out, n_in, codes.size(), 1, "pack_ternary_hf");
  std::vector<uint8_t> packed(static_cast<std::size_t>(rows * n_in), 0);  // [n_out/4, n_in]
  for (int64_t k = 0; k < 4; ++k) {
    for (int64_t j = 0; j < rows; ++j) {
      const int64_t row = k * rows + j;
      for (int64_t i = 0; i < n_in; ++i) {
        const int8_t code = codes[static_cast<std::size_t>(row * n_in + i)];
        check(code >= -1 && code <= 1,
              "pack_ternary_hf: code {} at [{}, {}] is not in {{-1, 0, 1}}", code, row, i);
        packed[static_cast<std::size_t>(j * n_in + i)] |=
            static_cast<uint8_t>((code + 1) << (2 * k));
      }
    }
  }
  return packed;
}

std::vector<int8_t> unpack_ternary_hf(std::span<const uint8_t> packed, int64_t n_out,
                                      int64_t n_in) {
  const int64_t rows = packed_rows(n_out, n_in, packed.size(), 4, "unpack_ternary_hf");
  std::vector<int8_t> codes(static_cast<std::size_t>(n_out * n_in));  // [n_out, n_in]
  for (int64_t k = 0; k < 4; ++k) {
    for (int64_t j = 0; j < rows; ++j) {
      const int64_t row = k * rows + j;
      for (int64_t i = 0; i < n_in; ++i) {
        const int field = (packed[static_cast<std::size_t>(j * n_in + i)] >> (2 * k)) & 3;
        // HF would turn 3 into a weight of +2; no ternary file holds it, so it means corruption.
        check(field != 3,
              "unpack_ternary_hf: byte [{}, {}] holds the 2-bit value 3 (field {}, row {})", j, i,
              k, row);
        codes[static_cast<std::size_t>(row * n_in + i)] = static_cast<int8_t>(field - 1);
      }
    }
  }
  return codes;
}

}  // namespace a48
