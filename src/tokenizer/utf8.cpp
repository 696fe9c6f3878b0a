// UTF-8 validation, lossy repair (U+FFFD per maximal ill-formed subpart) and Utf8StreamDecoder.
#include "tokenizer/utf8.h"

#include "tokenizer/tokenizer.h"

namespace a48 {

Utf8Step utf8_next(std::string_view s, std::size_t pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned b0 = byte(pos);
  if (b0 < 0x80) return {Utf8Status::kValid, 1, b0};

  // Table 3-7: the lead byte fixes the length, the code point's high bits and the allowed range
  // of the second byte (which excludes overlong forms, surrogates and values above U+10FFFF).
  std::size_t length = 0;
  unsigned lo = 0x80, hi = 0xBF;
  char32_t cp = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2, cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3, cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4, cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {Utf8Status::kInvalid, 1, 0};  // 80..C1 and F5..FF never start a character
  }
  for (std::size_t k = 1; k < length; ++k) {
    if (pos + k >= s.size()) return {Utf8Status::kTruncated, k, 0};
    const unsigned b = byte(pos + k);
    const bool in_range = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!in_range) return {Utf8Status::kInvalid, k, 0};
    cp = (cp << 6) | (b & 0x3F);
  }
  return {Utf8Status::kValid, length, cp};
}

std::optional<std::size_t> utf8_find_invalid(std::string_view s) {
  std::size_t pos = 0;
  while (pos < s.size()) {
    // ASCII runs are the common case: skip them without the full classification.
    if (static_cast<unsigned char>(s[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const Utf8Step step = utf8_next(s, pos);
    if (step.status != Utf8Status::kValid) return pos;
    pos += step.length;
  }
  return std::nullopt;
}

std::string utf8_sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t pos = 0;
  while (pos < s.size()) {
    const Utf8Step step = utf8_next(s, pos);
    if (step.status == Utf8Status::kValid)
      out.append(s.substr(pos, step.length));
    else
      out.append(kUtf8Replacement);
    pos += step.length;
  }
  return out;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_unicode_whitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

std::string Utf8StreamDecoder::push(std::string_view bytes) {
  pending_.append(bytes);
  std::string out;
  std::size_t pos = 0;
  while (pos < pending_.size()) {
    const Utf8Step step = utf8_next(pending_, pos);
    if (step.status == Utf8Status::kTruncated) break;  // wait for the rest of the character
    if (step.status == Utf8Status::kValid)
      out.append(pending_, pos, step.length);
    else
      out.append(kUtf8Replacement);
    pos += step.length;
  }
  pending_.erase(0, pos);
  return out;
}

std::string Utf8StreamDecoder::flush() {
  std::string out = utf8_sanitize(pending_);
  pending_.clear();
  return out;
}

}  // namespace a48
