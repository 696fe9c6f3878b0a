// Tokenizer: encode = added-token split -> pre-tokenizer regex -> byte-level BPE per piece;
// decode = concatenated token bytes, repaired to valid UTF-8.
//
// bos/eos rule (both loaders): the first of these token names that the tokenizer has, looked up
// like find() (added tokens, then the model vocabulary):
//   bos: <|begin_of_text|>, <s>, <|startoftext|>, <bos>, then <|endoftext|>
//   eos: <|end_of_text|>, </s>, <|endoftext|>, <eos>
// so LLaMA-3 gets 128000/128001, SentencePiece-style names <s>/</s>, and GPT-2 style tokenizers
// (a48's own) use <|endoftext|> for both, as GPT-2 did. A model's config.json bos/eos ids, where
// given, override these (the CLI decides).
#include "tokenizer/tokenizer.h"

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"

namespace a48 {

bool Tokenizer::Impl::set_model_token(int32_t id, std::string bytes) {
  const auto index = static_cast<std::size_t>(id);
  if (index >= token_bytes.size()) {
    token_bytes.resize(index + 1);
    token_kind.resize(index + 1, TokenKind::kNone);
  }
  if (token_kind[index] != TokenKind::kNone) return false;
  token_bytes[index] = bytes;
  token_kind[index] = TokenKind::kModel;
  bpe.add_token(std::move(bytes), id);
  return true;
}

bool Tokenizer::Impl::set_added_token(AddedToken token) {
  const auto index = static_cast<std::size_t>(token.id);
  if (index >= token_bytes.size()) {
    token_bytes.resize(index + 1);
    token_kind.resize(index + 1, TokenKind::kNone);
  }
  if (token_kind[index] == TokenKind::kAdded || token_kind[index] == TokenKind::kSpecial)
    return false;
  // As HF decodes an added token: its content, even where the model vocabulary has the same id.
  token_bytes[index] = token.content;
  token_kind[index] = token.special ? TokenKind::kSpecial : TokenKind::kAdded;
  added.add(std::move(token));
  return true;
}

std::optional<int32_t> Tokenizer::Impl::find(std::string_view token_text) const {
  for (const AddedToken& t : added.tokens())
    if (t.content == token_text) return t.id;
  if (const auto bytes = byte_level_decode(token_text)) return bpe.find(*bytes);
  return std::nullopt;
}

void Tokenizer::Impl::assign_bos_eos() {
  const auto first_of =
      [&](std::initializer_list<std::string_view> names) -> std::optional<int32_t> {
    for (std::string_view name : names)
      if (const auto id = find(name)) return id;
    return std::nullopt;
  };
  bos_id = first_of({"<|begin_of_text|>", "<s>", "<|startoftext|>", "<bos>", "<|endoftext|>"});
  eos_id = first_of({"<|end_of_text|>", "</s>", "<|endoftext|>", "<eos>"});
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special) const {
  // The regexes need valid UTF-8; bad input is the caller's to fix, not ours to guess at.
  if (const auto bad = utf8_find_invalid(text))
    fail("tokenizer: the text to encode is not valid UTF-8 (at byte {} of {})", *bad, text.size());
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  BpeModel::Scratch scratch;
  impl_->added.split(
      text, parse_special,
      [&](std::string_view segment) {
        impl_->pre_tokenizer.split(
            segment, [&](std::string_view piece) { impl_->bpe.encode(piece, ids, scratch); });
      },
      [&](int32_t id) { ids.push_back(id); });
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string bytes;
  for (int32_t id : ids) bytes.append(token_bytes(id));
  if (!utf8_find_invalid(bytes)) return bytes;
  return utf8_sanitize(bytes);
}

const std::string& Tokenizer::token_bytes(int32_t id) const {
  check(id >= 0 && id < vocab_size(), "tokenizer: token id {} is out of range [0, {})", id,
        vocab_size());
  check(impl_->token_kind[static_cast<std::size_t>(id)] != TokenKind::kNone,
        "tokenizer: token id {} has no token (the vocabulary skips it)", id);
  return impl_->token_bytes[static_cast<std::size_t>(id)];
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->token_bytes.size()); }
std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos_id; }
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos_id; }

std::optional<int32_t> Tokenizer::find(std::string_view token_text) const {
  return impl_->find(token_text);
}

bool Tokenizer::is_special(int32_t id) const {
  token_bytes(id);  // range check
  return impl_->token_kind[static_cast<std::size_t>(id)] == TokenKind::kSpecial;
}

}  // namespace a48
