// Tokenizer::Impl: what both loaders (tokenizer.json, tiktoken) fill in and encode/decode use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace a48 {

// Hostile files must not make us allocate gigabytes for one huge id: 16M tokens is 60x LLaMA-3's.
inline constexpr int64_t kMaxTokenId = (int64_t{1} << 24) - 1;

enum class TokenKind : uint8_t { kNone, kModel, kAdded, kSpecial };

struct Tokenizer::Impl {
  std::vector<std::string> token_bytes;  // [vocab_size] raw bytes of each id ("" for kNone)
  std::vector<TokenKind> token_kind;     // [vocab_size]; kNone marks an id no token has
  BpeModel bpe;
  PreTokenizer pre_tokenizer;
  AddedTokenMatcher added;
  std::optional<int32_t> bos_id;
  std::optional<int32_t> eos_id;

  // Records the bytes of model token `id` (in [0, kMaxTokenId]: the loaders check), growing the
  // tables. Returns false, changing nothing, when another model token has the id.
  [[nodiscard]] bool set_model_token(int32_t id, std::string bytes);
  // Adds an added token (its bytes are its content); it may take a model token's id. Returns
  // false, changing nothing, when another added token has the id.
  [[nodiscard]] bool set_added_token(AddedToken token);
  // The bos/eos rule (see tokenizer.cpp), run once by each loader after the tokens are in.
  void assign_bos_eos();
  std::optional<int32_t> find(std::string_view token_text) const;
};

}  // namespace a48
