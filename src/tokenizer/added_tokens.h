// Added tokens (HF AddedVocabulary): special tokens such as <|endoftext|> and user-added ones are
// found in the raw text first, leftmost-longest, and the text between them goes to the
// pre-tokenizer and BPE.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace a48 {

struct AddedToken {
  std::string content;  // matched as exact UTF-8 text
  int32_t id = -1;
  bool special = false;      // skipped when parse_special is false
  bool single_word = false;  // only where no word character touches either end
  bool lstrip = false;       // the match takes the whitespace on its left
  bool rstrip = false;       // the match takes the whitespace on its right
  bool normalized = true;    // HF: matched in the second pass (after the non-normalized tokens)
};

class RegexSplitter;

class AddedTokenMatcher {
 public:
  AddedTokenMatcher();
  AddedTokenMatcher(AddedTokenMatcher&&) noexcept;
  AddedTokenMatcher& operator=(AddedTokenMatcher&&) noexcept;
  ~AddedTokenMatcher();

  void add(AddedToken token);  // empty content is ignored, as in HF
  const std::vector<AddedToken>& tokens() const { return tokens_; }

  // Cuts `text` (valid UTF-8) into text segments and added tokens, in order: on_text gets the
  // text between matches, on_token the id of each match. HF's two passes: tokens with
  // normalized=false are found first, then those with normalized=true inside the remaining text.
  void split(std::string_view text, bool parse_special,
             const std::function<void(std::string_view)>& on_text,
             const std::function<void(int32_t)>& on_token) const;

 private:
  // One pass over the tokens of one kind, leftmost-longest as HF's Aho-Corasick matcher.
  struct Pass {
    std::array<std::vector<int32_t>, 256> by_first_byte;  // indices into tokens_, longest first
    bool any = false;
  };
  void split_pass(const Pass& pass, std::string_view text, bool parse_special,
                  const std::function<void(std::string_view)>& on_text,
                  const std::function<void(int32_t)>& on_token) const;
  bool is_single_word_match(std::string_view text, std::size_t start, std::size_t end) const;

  std::vector<AddedToken> tokens_;
  Pass raw_pass_;                             // normalized == false
  Pass normalized_pass_;                      // normalized == true
  std::unique_ptr<RegexSplitter> word_char_;  // \w, for single_word
};

}  // namespace a48
