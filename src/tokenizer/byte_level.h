// GPT-2's byte-level alphabet: each of the 256 bytes is shown as one printable Unicode character
// ('Ġ' for the space ...), so that tokenizer.json can store any byte string as text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace a48 {

// The UTF-8 text of the character standing for `byte`.
std::string_view byte_level_char(std::uint8_t byte);

// Raw bytes -> their byte-level text ("\x20hi" -> "Ġhi").
std::string byte_level_encode(std::string_view bytes);

// Byte-level text -> raw bytes; nullopt when a character is outside the 256-character alphabet.
std::optional<std::string> byte_level_decode(std::string_view text);

}  // namespace a48
