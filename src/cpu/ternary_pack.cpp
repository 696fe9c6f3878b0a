#include "cpu/ternary_pack.h"

#include <algorithm>

#include "core/error.h"

namespace a48::cpu {

namespace {

// Where element e (0..255) of a strip lives: byte e % 64, bit 2 * (e / 64).
constexpr int64_t strip_byte(int64_t e) { return e % kStripBytes; }
constexpr int strip_shift(int64_t e) { return static_cast<int>(2 * (e / kStripBytes)); }

// Element (line, position) of the packed matrix: its byte and bit offset.
struct CodeAddress {
  int64_t byte;
  int shift;
};

CodeAddress address(const PackedLinear& p, int64_t line, int64_t pos) {
  const int64_t strip = pos / kStripCodes, e = pos % kStripCodes;
  return {(line * p.strips_per_line + strip) * kStripBytes + strip_byte(e), strip_shift(e)};
}

}  // namespace

const char* to_string(PackOrder order) { return order == PackOrder::rows ? "rows" : "columns"; }

PackedLinear pack_linear(const LinearWeights& w, PackOrder order) {
  check(w.n_out >= 0 && w.n_in >= 0 && w.n_out <= kPackedMaxDim && w.n_in <= kPackedMaxDim,
        "pack_linear: weight shape [{}, {}] is invalid (each dimension at most {})", w.n_out,
        w.n_in, kPackedMaxDim);
  check(static_cast<int64_t>(w.ternary.size()) == w.n_out * w.n_in,
        "pack_linear: ternary codes hold {} values, expected [{}, {}]", w.ternary.size(), w.n_out,
        w.n_in);
  check(order == PackOrder::rows || order == PackOrder::columns, "pack_linear: unknown order {}",
        static_cast<int>(order));
  PackedLinear p;
  p.order = order;
  p.n_out = w.n_out;
  p.n_in = w.n_in;
  p.scale = w.scale;
  const bool rows = order == PackOrder::rows;
  p.n_lines = rows ? w.n_out : w.n_in;
  const int64_t line_length = rows ? w.n_in : w.n_out;
  p.strips_per_line = (line_length + kStripCodes - 1) / kStripCodes;
  p.data.resize(static_cast<std::size_t>(p.bytes()));
  // Strip by strip: line `line`, strip k holds positions 256k .. 256k+255 of that line, read from
  // the row-major codes with a stride of 1 (rows order) or n_in (columns order).
  const int64_t stride = rows ? 1 : w.n_in;
  const int64_t step_line = rows ? w.n_in : 1;
  for (int64_t line = 0; line < p.n_lines; ++line) {
    for (int64_t k = 0; k < p.strips_per_line; ++k) {
      const int64_t first = k * kStripCodes;
      const int64_t count = std::min(kStripCodes, line_length - first);
      const int8_t* codes = w.ternary.data() + line * step_line + first * stride;
      uint8_t* strip = p.data.data() + (line * p.strips_per_line + k) * kStripBytes;
      for (int64_t e = 0; e < kStripCodes; ++e) {
        const int8_t t = e < count ? codes[e * stride] : 0;  // padding: t = 0
        if (t < -1 || t > 1) {
          fail("pack_linear: code {} at [{}, {}] is not ternary", t, rows ? line : first + e,
               rows ? first + e : line);
        }
        strip[strip_byte(e)] |= static_cast<uint8_t>((t + 1) << strip_shift(e));
      }
    }
  }
  return p;
}

int8_t packed_code(const PackedLinear& p, int64_t o, int64_t i) {
  check(o >= 0 && o < p.n_out && i >= 0 && i < p.n_in,
        "packed_code: [{}, {}] outside the [{}, {}] matrix", o, i, p.n_out, p.n_in);
  const CodeAddress a = p.order == PackOrder::rows ? address(p, o, i) : address(p, i, o);
  const int field = (p.data.data()[a.byte] >> a.shift) & 3;
  check(field != 3, "packed_code: field value 3 at [{}, {}] (corrupt packed weights)", o, i);
  return static_cast<int8_t>(field - 1);
}

LinearWeights unpack_linear(const PackedLinear& p) {
  check(p.version == kPackedTernaryVersion, "unpack_linear: format version {}, expected {}",
        p.version, kPackedTernaryVersion);
  check(static_cast<int64_t>(p.data.size()) == p.bytes(),
        "unpack_linear: buffer holds {} bytes, expected {}", p.data.size(), p.bytes());
  LinearWeights w;
  w.n_out = p.n_out;
  w.n_in = p.n_in;
  w.scale = p.scale;
  w.ternary.resize(static_cast<std::size_t>(p.n_out * p.n_in));
  for (int64_t o = 0; o < p.n_out; ++o) {
    for (int64_t i = 0; i < p.n_in; ++i) w.ternary[o * p.n_in + i] = packed_code(p, o, i);
  }
  // The padding of every line must be t = 0: kernels multiply it by zero-padded activations, but
  // a non-zero pad means the buffer is not what pack_linear wrote.
  const int64_t line_length = p.order == PackOrder::rows ? p.n_in : p.n_out;
  for (int64_t line = 0; line < p.n_lines; ++line) {
    for (int64_t pos = line_length; pos < p.strips_per_line * kStripCodes; ++pos) {
      const CodeAddress a = address(p, line, pos);
      check(((p.data.data()[a.byte] >> a.shift) & 3) == 1,
            "unpack_linear: padding code at line {} position {} is not 0", line, pos);
    }
  }
  return w;
}

}  // namespace a48::cpu
