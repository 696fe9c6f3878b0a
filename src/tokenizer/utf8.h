// UTF-8 validation and lossy repair for the tokenizer: byte-level tokens are raw bytes and may end
// in the middle of a character, so decode() and streaming output must repair, never crash.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace a48 {

enum class Utf8Status {
  kValid,      // `length` bytes form one well-formed character
  kInvalid,    // `length` bytes (>= 1) are a maximal ill-formed subpart: one U+FFFD replaces them
  kTruncated,  // the remaining `length` bytes are a well-formed prefix cut off by the end of input
};

struct Utf8Step {
  Utf8Status status;
  std::size_t length;
  char32_t code_point;  // set when kValid
};

// Classifies the bytes at `pos` (< s.size()) by Unicode Table 3-7 (well-formed byte sequences).
Utf8Step utf8_next(std::string_view s, std::size_t pos);

// Byte offset of the first ill-formed or truncated sequence, or nullopt when s is valid UTF-8.
std::optional<std::size_t> utf8_find_invalid(std::string_view s);

// s with each maximal ill-formed subpart replaced by U+FFFD (as Python's errors="replace" and
// Rust's from_utf8_lossy do, so decode() agrees with HF tokenizers).
std::string utf8_sanitize(std::string_view s);

void utf8_append(std::string& out, char32_t code_point);

// Unicode White_Space (what Rust's and Oniguruma's \s match): for added tokens' lstrip/rstrip.
bool is_unicode_whitespace(char32_t code_point);

inline constexpr std::string_view kUtf8Replacement = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace a48
