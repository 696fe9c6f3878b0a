#include "serve/token_texts.h"

#include "core/error.h"

namespace a48::serve {

TokenTexts::TokenTexts(const Tokenizer& tokenizer, int64_t model_vocab_size)
    : bytes_(static_cast<std::size_t>(model_vocab_size)),
      special_(static_cast<std::size_t>(model_vocab_size), false) {
  const int32_t known = std::min<int32_t>(tokenizer.vocab_size(), static_cast<int32_t>(model_vocab_size));
  for (int32_t id = 0; id < known; ++id) {
    try {
      bytes_[id] = tokenizer.token_bytes(id);
      special_[id] = tokenizer.is_special(id);
    } catch (const Error&) {  // an id the vocabulary skips: no text
    }
  }
}

const std::string& TokenTexts::bytes(int32_t id) const {
  return id >= 0 && static_cast<std::size_t>(id) < bytes_.size() ? bytes_[id] : empty_;
}

const std::string& TokenTexts::visible(int32_t id) const {
  return is_special(id) ? empty_ : bytes(id);
}

bool TokenTexts::is_special(int32_t id) const {
  return id >= 0 && static_cast<std::size_t>(id) < special_.size() && special_[id];
}

}  // namespace a48::serve
