// Matching of added tokens in raw text, following HF tokenizers' AddedVocabulary::find_matches:
// leftmost-longest matches, single_word filtering, lstrip/rstrip taking adjacent whitespace.
#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/utf8.h"

namespace a48 {
namespace {

// The code point that ends just before `pos` (text is valid UTF-8, pos > 0).
std::pair<char32_t, std::size_t> code_point_before(std::string_view text, std::size_t pos) {
  std::size_t start = pos - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return {utf8_next(text, start).code_point, start};
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher()
    : word_char_(std::make_unique<RegexSplitter>(R"(\w)", false)) {}
AddedTokenMatcher::AddedTokenMatcher(AddedTokenMatcher&&) noexcept = default;
AddedTokenMatcher& AddedTokenMatcher::operator=(AddedTokenMatcher&&) noexcept = default;
AddedTokenMatcher::~AddedTokenMatcher() = default;

void AddedTokenMatcher::add(AddedToken token) {
  if (token.content.empty()) return;
  const auto index = static_cast<int32_t>(tokens_.size());
  Pass& pass = token.normalized ? normalized_pass_ : raw_pass_;
  auto& bucket = pass.by_first_byte[static_cast<unsigned char>(token.content[0])];
  // Longest first, so that the first hit in a bucket is the longest match.
  const auto at = std::upper_bound(
      bucket.begin(), bucket.end(), token.content.size(),
      [&](std::size_t size, int32_t other) { return size > tokens_[other].content.size(); });
  bucket.insert(at, index);
  tokens_.push_back(std::move(token));
  pass.any = true;
}

void AddedTokenMatcher::split(std::string_view text, bool parse_special,
                              const std::function<void(std::string_view)>& on_text,
                              const std::function<void(int32_t)>& on_token) const {
  split_pass(
      raw_pass_, text, parse_special,
      [&](std::string_view rest) {
        split_pass(normalized_pass_, rest, parse_special, on_text, on_token);
      },
      on_token);
}

bool AddedTokenMatcher::is_single_word_match(std::string_view text, std::size_t start,
                                             std::size_t end) const {
  // HF: no \w character may touch either end of the match.
  if (start > 0) {
    const std::size_t char_start = code_point_before(text, start).second;
    if (word_char_->full_match(text.substr(char_start, start - char_start))) return false;
  }
  if (end < text.size()) {
    const Utf8Step next = utf8_next(text, end);
    if (word_char_->full_match(text.substr(end, next.length))) return false;
  }
  return true;
}

void AddedTokenMatcher::split_pass(const Pass& pass, std::string_view text, bool parse_special,
                                   const std::function<void(std::string_view)>& on_text,
                                   const std::function<void(int32_t)>& on_token) const {
  if (!pass.any) {
    if (!text.empty()) on_text(text);
    return;
  }
  std::size_t emitted = 0;  // text before this offset has been handed on
  std::size_t pos = 0;
  while (pos < text.size()) {
    // Longest token starting at pos (buckets are sorted longest first).
    const AddedToken* match = nullptr;
    for (int32_t index : pass.by_first_byte[static_cast<unsigned char>(text[pos])]) {
      const AddedToken& t = tokens_[index];
      if (text.compare(pos, t.content.size(), t.content) == 0) {
        match = &t;
        break;
      }
    }
    if (match == nullptr) {
      ++pos;
      continue;
    }
    std::size_t start = pos, end = pos + match->content.size();
    // A discarded match is not searched again inside, as with HF's Aho-Corasick find_iter: with
    // parse_special false a special token's text stays plain text, hiding what overlaps it.
    pos = end;
    if (match->special && !parse_special) continue;
    if (match->single_word && !is_single_word_match(text, start, end)) continue;
    if (match->lstrip) {
      while (start > emitted) {
        const auto [cp, char_start] = code_point_before(text, start);
        if (!is_unicode_whitespace(cp)) break;
        start = char_start;
      }
    }
    if (match->rstrip) {
      while (end < text.size()) {
        const Utf8Step step = utf8_next(text, end);
        if (!is_unicode_whitespace(step.code_point)) break;
        end += step.length;
      }
    }
    if (start > emitted) on_text(text.substr(emitted, start - emitted));
    on_token(match->id);
    emitted = pos = end;
  }
  if (emitted < text.size()) on_text(text.substr(emitted));
}

}  // namespace a48
