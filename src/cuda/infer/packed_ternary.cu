// Host packing of the CUDA packed ternary format (packed_ternary.h).
#include "cuda/infer/packed_ternary.h"

#include "core/error.h"

namespace a48::cuda {

namespace {

// Word index and bit shift of element e of a line (rows order).
inline void rows_slot(int64_t e, int64_t* word, int* shift) {
  *word = e / kCodesPerWord;
  const int64_t in_word = e % kCodesPerWord;
  *shift = static_cast<int>(8 * (in_word % 4) + 2 * (in_word / 4));
}

// Word index and bit shift of output o of a column line of n_words words (columns order).
inline void columns_slot(int64_t o, int64_t n_words, int64_t* word, int* shift) {
  *word = o % n_words;
  *shift = static_cast<int>(2 * (o / n_words));
}

}  // namespace

TernaryWords pack_ternary(const LinearWeights& w, TernaryOrder order) {
  check(w.n_out > 0 && w.n_in > 0 && w.n_out <= kTernaryMaxDim && w.n_in <= kTernaryMaxDim,
        "pack_ternary: shape [{}, {}] outside [1, {}]", w.n_out, w.n_in, kTernaryMaxDim);
  check(static_cast<int64_t>(w.ternary.size()) == w.n_out * w.n_in,
        "pack_ternary: {} codes for a [{}, {}] matrix", w.ternary.size(), w.n_out, w.n_in);
  TernaryWords p;
  p.order = order;
  p.n_out = w.n_out;
  p.n_in = w.n_in;
  p.scale = w.scale;
  const bool rows = order == TernaryOrder::rows;
  p.n_lines = rows ? w.n_out : w.n_in;
  p.words_per_line = padded_codes(rows ? w.n_in : w.n_out) / kCodesPerWord;
  // Every field starts at 1 (t = 0), so the padding is code 0.
  p.words.assign(static_cast<std::size_t>(p.n_lines * p.words_per_line), 0x55555555u);
  for (int64_t o = 0; o < w.n_out; ++o) {
    for (int64_t i = 0; i < w.n_in; ++i) {
      const int8_t t = w.ternary[static_cast<std::size_t>(o * w.n_in + i)];
      check(t >= -1 && t <= 1, "pack_ternary: code {} at [{}, {}] is not in {{-1, 0, 1}}", t, o, i);
      int64_t word = 0;
      int shift = 0;
      int64_t line = 0;
      if (rows) {
        line = o;
        rows_slot(i, &word, &shift);
      } else {
        line = i;
        columns_slot(o, p.words_per_line, &word, &shift);
      }
      uint32_t& dst = p.words[static_cast<std::size_t>(line * p.words_per_line + word)];
      dst = (dst & ~(3u << shift)) | (static_cast<uint32_t>(t + 1) << shift);
    }
  }
  return p;
}

int8_t ternary_code(const TernaryWords& p, int64_t o, int64_t i) {
  check(o >= 0 && o < p.n_out && i >= 0 && i < p.n_in, "ternary_code: [{}, {}] outside [{}, {}]",
        o, i, p.n_out, p.n_in);
  int64_t word = 0, line = 0;
  int shift = 0;
  if (p.order == TernaryOrder::rows) {
    line = o;
    rows_slot(i, &word, &shift);
  } else {
    line = i;
    columns_slot(o, p.words_per_line, &word, &shift);
  }
  const uint32_t field = (p.words[static_cast<std::size_t>(line * p.words_per_line + word)] >> shift) & 3u;
  check(field != 3u, "ternary_code: field 3 at [{}, {}]", o, i);
  return static_cast<int8_t>(static_cast<int>(field) - 1);
}

DeviceTernary upload_ternary(const TernaryWords& p) {
  DeviceTernary d;
  d.order = p.order;
  d.n_out = p.n_out;
  d.n_in = p.n_in;
  d.scale = p.scale;
  d.n_lines = p.n_lines;
  d.words_per_line = p.words_per_line;
  d.words = to_device(p.words);
  return d;
}

}  // namespace a48::cuda
