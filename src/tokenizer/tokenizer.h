// Byte-level BPE tokenizer: HF tokenizer.json (GPT-2 and LLaMA-3 pre-tokenizer regexes, through
// PCRE2 with Unicode properties), added/special tokens, and LLaMA-3's tiktoken ranks file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace a48 {

class Tokenizer {
 public:
  static Tokenizer from_hf_json(const std::filesystem::path& path);  // throws a48::Error
  // LLaMA-3's tiktoken ranks (base64 token, rank per line) with the LLaMA-3 pre-tokenizer and its
  // 256 special tokens (<|begin_of_text|> = 128000 ...) added on top, as HF's tokenizer.json has.
  static Tokenizer from_tiktoken_llama3(const std::filesystem::path& path);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // parse_special: text such as "<|endoftext|>" becomes its special token instead of plain text.
  // Does not add bos: callers decide. Throws a48::Error when text is not valid UTF-8.
  std::vector<int32_t> encode(std::string_view text, bool parse_special = true) const;
  // Concatenated token bytes; invalid UTF-8 is replaced by U+FFFD. Throws on ids out of range.
  std::string decode(std::span<const int32_t> ids) const;
  // The raw bytes of one token (may be a partial UTF-8 sequence). Throws on ids out of range.
  const std::string& token_bytes(int32_t id) const;

  int32_t vocab_size() const;  // highest id + 1
  // By name, the first token the tokenizer has of: <|begin_of_text|>, <s>, <|startoftext|>, <bos>,
  // <|endoftext|> (bos); <|end_of_text|>, </s>, <|endoftext|>, <eos> (eos). See tokenizer.cpp.
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  std::optional<int32_t> find(std::string_view token_text) const;  // by its tokenizer.json string
  bool is_special(int32_t id) const;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Streams token bytes into whole UTF-8 characters: push() returns what is complete, holding back a
// trailing partial sequence; invalid bytes become U+FFFD.
class Utf8StreamDecoder {
 public:
  std::string push(std::string_view bytes);
  std::string flush();

 private:
  std::string pending_;
};

}  // namespace a48
