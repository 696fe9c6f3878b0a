// Pre-tokenization: the regex splits that cut text into pieces before BPE (HF's ByteLevel and
// Split(Regex, Isolated) pre-tokenizers), through PCRE2 with Unicode properties.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace a48 {

// GPT-2's pattern (HF ByteLevel use_regex) and LLaMA-3's (tiktoken pat_str, HF Split).
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// One compiled pattern (PCRE2_UTF | PCRE2_UCP, JIT when available). Thread-safe: match state
// lives in each call.
class RegexSplitter {
 public:
  // literal: match `pattern` as plain text (HF Split {"String": ...}). Throws a48::Error with
  // PCRE2's message and offset when the pattern does not compile.
  RegexSplitter(std::string_view pattern, bool literal);
  RegexSplitter(RegexSplitter&&) noexcept;
  RegexSplitter& operator=(RegexSplitter&&) noexcept;
  ~RegexSplitter();

  // HF's "Isolated" behaviour: each match is a piece, and so is each unmatched gap; the pieces
  // cover `text` in order. Empty matches make no piece. `text` must be valid UTF-8.
  void split(std::string_view text, const std::function<void(std::string_view)>& emit) const;
  // Whether the pattern matches the whole of `text` (valid UTF-8).
  bool full_match(std::string_view text) const;

 private:
  struct Code;
  std::unique_ptr<Code> code_;
};

// One stage of the pre-tokenizer: HF Split(Regex) is {regex}; HF ByteLevel is
// {add_prefix_space, GPT-2 regex if use_regex}. The byte-level mapping itself happens in BPE.
struct PreTokenizerStage {
  bool add_prefix_space = false;  // prepend ' ' to each piece that does not start with one
  std::unique_ptr<RegexSplitter> regex;
};

class PreTokenizer {
 public:
  void add_stage(PreTokenizerStage stage) { stages_.push_back(std::move(stage)); }
  // Runs the stages in order, each on every piece of the one before, and emits the final pieces.
  void split(std::string_view text, const std::function<void(std::string_view)>& emit) const;

 private:
  void run(std::size_t stage, std::string_view text,
           const std::function<void(std::string_view)>& emit) const;
  std::vector<PreTokenizerStage> stages_;
};

}  // namespace a48
