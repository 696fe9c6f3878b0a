// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes
// (controls, space, DEL, NBSP, soft hyphen ...) to U+0100 upwards in byte order.
#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace a48 {
namespace {

struct ByteLevelTables {
  std::array<std::string, 256> byte_to_text;   // byte -> UTF-8 of its character
  std::array<std::int16_t, 324> code_to_byte;  // code point (< 256 + 68) -> byte, or -1

  ByteLevelTables() {
    code_to_byte.fill(-1);
    const auto printable = [](unsigned b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    char32_t next_extra = 256;
    for (unsigned b = 0; b < 256; ++b) {
      const char32_t cp = printable(b) ? static_cast<char32_t>(b) : next_extra++;
      utf8_append(byte_to_text[b], cp);
      code_to_byte[cp] = static_cast<std::int16_t>(b);
    }
  }
};

const ByteLevelTables& tables() {
  static const ByteLevelTables t;
  return t;
}

}  // namespace

std::string_view byte_level_char(std::uint8_t byte) { return tables().byte_to_text[byte]; }

std::string byte_level_encode(std::string_view bytes) {
  const ByteLevelTables& t = tables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out.append(t.byte_to_text[static_cast<unsigned char>(c)]);
  return out;
}

std::optional<std::string> byte_level_decode(std::string_view text) {
  const ByteLevelTables& t = tables();
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    const Utf8Step step = utf8_next(text, pos);
    if (step.status != Utf8Status::kValid || step.code_point >= t.code_to_byte.size() ||
        t.code_to_byte[step.code_point] < 0)
      return std::nullopt;
    out.push_back(static_cast<char>(t.code_to_byte[step.code_point]));
    pos += step.length;
  }
  return out;
}

}  // namespace a48
