// LLaMA-3's tiktoken ranks file (one "base64-token rank" per line). tiktoken's BPE merges the
// adjacent pair whose concatenation has the lowest rank; loading every split of every token into
// the pair table gives BpeModel exactly that rule. The ids are the ranks; LLaMA-3's 256 special
// tokens follow the ranks (<|begin_of_text|> = 128000), as in Meta's tokenizer.py.
#include <array>

#include "core/error.h"
#include "core/mapped_file.h"
#include "tokenizer/tokenizer_impl.h"

namespace a48 {
namespace {

// Strict base64 (RFC 4648, padded); nullopt on any other character or bad padding.
std::optional<std::string> base64_decode(std::string_view s) {
  static const std::array<int8_t, 256> table = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    const std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (std::size_t i = 0; i < alphabet.size(); ++i)
      t[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
    return t;
  }();
  if (s.empty() || s.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  while (padding < 2 && s[s.size() - 1 - padding] == '=') ++padding;
  std::string out;
  uint32_t bits = 0;
  int n_bits = 0;
  for (std::size_t i = 0; i < s.size() - padding; ++i) {
    const int8_t v = table[static_cast<unsigned char>(s[i])];
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<uint32_t>(v);
    n_bits += 6;
    if (n_bits >= 8) {
      n_bits -= 8;
      out.push_back(static_cast<char>((bits >> n_bits) & 0xFF));
    }
  }
  if ((bits & ((1u << n_bits) - 1)) != 0) return std::nullopt;  // non-canonical leftover bits
  return out;
}

std::vector<std::string> llama3_special_tokens() {
  std::vector<std::string> names = {"<|begin_of_text|>",
                                    "<|end_of_text|>",
                                    "<|reserved_special_token_0|>",
                                    "<|reserved_special_token_1|>",
                                    "<|reserved_special_token_2|>",
                                    "<|reserved_special_token_3|>",
                                    "<|start_header_id|>",
                                    "<|end_header_id|>",
                                    "<|reserved_special_token_4|>",
                                    "<|eot_id|>"};
  for (int i = 5; i < 251; ++i) names.push_back(fmt::format("<|reserved_special_token_{}|>", i));
  return names;  // 256
}

}  // namespace

Tokenizer Tokenizer::from_tiktoken_llama3(const std::filesystem::path& path) {
  const MappedFile file(path);
  const std::string_view text(reinterpret_cast<const char*>(file.bytes().data()),
                              file.bytes().size());
  const std::string name = path.string();
  auto impl = std::make_unique<Impl>();

  std::vector<std::pair<std::string, int32_t>> tokens;  // (bytes, rank) in file order
  std::size_t line_start = 0;
  for (std::size_t line_no = 1; line_start < text.size(); ++line_no) {
    std::size_t line_end = text.find('\n', line_start);
    if (line_end == std::string_view::npos) line_end = text.size();
    std::string_view line = text.substr(line_start, line_end - line_start);
    line_start = line_end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const std::size_t space = line.find(' ');
    check(space != std::string_view::npos && line.find(' ', space + 1) == std::string_view::npos,
          "{}:{}: expected \"<base64 token> <rank>\"", name, line_no);
    const auto bytes = base64_decode(line.substr(0, space));
    check(bytes.has_value(), "{}:{}: the token is not valid base64", name, line_no);
    const std::string_view rank_text = line.substr(space + 1);
    int64_t rank = 0;
    check(!rank_text.empty() && rank_text.size() <= 9, "{}:{}: bad rank {:?}", name, line_no,
          rank_text);
    for (char c : rank_text) {
      check(c >= '0' && c <= '9', "{}:{}: bad rank {:?}", name, line_no, rank_text);
      rank = rank * 10 + (c - '0');
    }
    check(rank <= kMaxTokenId, "{}:{}: rank {} is too large", name, line_no, rank);
    check(!impl->bpe.find(*bytes), "{}:{}: the token is listed twice", name, line_no);
    check(impl->set_model_token(static_cast<int32_t>(rank), *bytes),
          "{}:{}: id {} is given to two tokens", name, line_no, rank);
    tokens.emplace_back(*bytes, static_cast<int32_t>(rank));
  }
  const auto n_ranks = static_cast<int32_t>(tokens.size());
  check(n_ranks > 0, "{}: no tokens", name);
  // Ranks must be 0..n-1 so that the special tokens can follow them with no gap or overlap.
  check(static_cast<int32_t>(impl->token_bytes.size()) == n_ranks,
        "{}: the ranks are not 0..{} (the largest is {})", name, n_ranks - 1,
        impl->token_bytes.size() - 1);
  for (int b = 0; b < 256; ++b)
    check(impl->bpe.find(std::string(1, static_cast<char>(b))).has_value(),
          "{}: byte 0x{:02X} has no token", name, b);

  impl->bpe.reserve(tokens.size(), 3 * tokens.size());  // LLaMA-3: 280k pairs for 128k ranks
  for (const auto& [bytes, rank] : tokens) {
    const std::string_view whole = bytes;
    for (std::size_t i = 1; i < whole.size(); ++i) {
      const auto left = impl->bpe.find(whole.substr(0, i));
      if (!left) continue;
      if (const auto right = impl->bpe.find(whole.substr(i)))
        impl->bpe.add_merge(*left, *right, rank, rank);
    }
  }
  impl->bpe.set_ignore_merges(true);  // tiktoken looks a whole piece up before merging

  PreTokenizerStage stage;
  stage.regex = std::make_unique<RegexSplitter>(kLlama3Pattern, false);
  impl->pre_tokenizer.add_stage(std::move(stage));

  const std::vector<std::string> specials = llama3_special_tokens();
  for (std::size_t i = 0; i < specials.size(); ++i) {
    AddedToken token;
    token.content = specials[i];
    token.id = n_ranks + static_cast<int32_t>(i);
    token.special = true;
    token.normalized = false;
    check(impl->set_added_token(std::move(token)), "{}: special token id {} is taken", name,
          n_ranks + static_cast<int32_t>(i));
  }
  impl->assign_bos_eos();
  return Tokenizer(std::move(impl));
}

}  // namespace a48
