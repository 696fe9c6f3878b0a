// Every token's bytes, looked up once: the model's vocabulary may be larger than the tokenizer's
// (padding rows) or skip ids, and the server must turn any id the model samples into text without
// throwing. Special tokens are shown in `logprobs` but add nothing to generated text.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace a48::serve {

class TokenTexts {
 public:
  TokenTexts(const Tokenizer& tokenizer, int64_t model_vocab_size);
  const std::string& bytes(int32_t id) const;    // "" for ids the tokenizer does not have
  const std::string& visible(int32_t id) const;  // bytes, or "" for special tokens
  bool is_special(int32_t id) const;

 private:
  std::vector<std::string> bytes_;
  std::vector<bool> special_;
  std::string empty_;
};

}  // namespace a48::serve
