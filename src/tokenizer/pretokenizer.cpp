// PCRE2 regex splitting for the GPT-2 and LLaMA-3 pre-tokenizers. PCRE2 with PCRE2_UCP gives the
// Unicode classes (\p{L}, \p{N}, \s) that HF tokenizers (Oniguruma) and tiktoken (fancy-regex)
// use, and supports the lookahead in `\s+(?!\S)` and LLaMA-3's (?i:...) group.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretokenizer.h"

#include <pcre2.h>

#include "core/error.h"

namespace a48 {

struct RegexSplitter::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  std::string pattern;
  ~Code() { pcre2_code_free(code); }
};

namespace {

std::string pcre2_message(int error_code) {
  PCRE2_UCHAR buffer[256];
  const int n = pcre2_get_error_message(error_code, buffer, sizeof buffer);
  return n < 0 ? "unknown PCRE2 error " + std::to_string(error_code)
               : std::string(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(n));
}

// Per-call match state: match data, and a JIT stack larger than PCRE2's 32 KiB default so that
// long runs (a megabyte of spaces) cannot exhaust it.
struct MatchState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;

  MatchState(const pcre2_code* code, bool jit) {
    data = pcre2_match_data_create_from_pattern(code, nullptr);
    context = pcre2_match_context_create(nullptr);
    if (jit) jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    if (data == nullptr || context == nullptr || (jit && jit_stack == nullptr)) {
      release();
      fail("regex: out of memory creating PCRE2 match state");
    }
    if (jit) pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~MatchState() { release(); }
  MatchState(const MatchState&) = delete;
  MatchState& operator=(const MatchState&) = delete;

  void release() {
    pcre2_jit_stack_free(jit_stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
};

}  // namespace

RegexSplitter::RegexSplitter(std::string_view pattern, bool literal) : code_(new Code) {
  code_->pattern = pattern;
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  // PCRE2_LITERAL allows no PCRE2_UCP (nor needs it: there are no classes to interpret).
  const uint32_t options = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
  code_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options,
                              &error_code, &error_offset, nullptr);
  check(code_->code != nullptr, "regex {:?}: {} at offset {}", code_->pattern,
        pcre2_message(error_code), error_offset);
  // JIT is an optimisation only: without it (not built in, or no executable memory) the
  // interpreter gives the same matches.
  code_->jit = pcre2_jit_compile(code_->code, PCRE2_JIT_COMPLETE) == 0;
}

RegexSplitter::RegexSplitter(RegexSplitter&&) noexcept = default;
RegexSplitter& RegexSplitter::operator=(RegexSplitter&&) noexcept = default;
RegexSplitter::~RegexSplitter() = default;

void RegexSplitter::split(std::string_view text,
                          const std::function<void(std::string_view)>& emit) const {
  if (text.empty()) return;
  MatchState state(code_->code, code_->jit);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t gap_start = 0;  // start of the text not yet emitted
  std::size_t offset = 0;     // where the next search starts
  while (offset < text.size()) {
    // The caller validated the UTF-8 once for the whole text, so PCRE2 need not re-check it.
    const int rc = pcre2_match(code_->code, subject, text.size(), offset, PCRE2_NO_UTF_CHECK,
                               state.data, state.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    check(rc >= 0, "regex {:?}: matching failed: {}", code_->pattern, pcre2_message(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state.data);
    const std::size_t start = ovector[0], end = ovector[1];
    if (start == end) {
      // An empty match makes no piece; step over one whole character to keep the UTF-8 aligned.
      offset = start + 1;
      while (offset < text.size() && (static_cast<unsigned char>(text[offset]) & 0xC0) == 0x80)
        ++offset;
      continue;
    }
    if (start > gap_start) emit(text.substr(gap_start, start - gap_start));
    emit(text.substr(start, end - start));
    gap_start = offset = end;
  }
  if (gap_start < text.size()) emit(text.substr(gap_start));
}

bool RegexSplitter::full_match(std::string_view text) const {
  MatchState state(code_->code, code_->jit);
  const int rc = pcre2_match(code_->code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0,
                             PCRE2_NO_UTF_CHECK | PCRE2_ANCHORED | PCRE2_ENDANCHORED, state.data,
                             state.context);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  check(rc >= 0, "regex {:?}: matching failed: {}", code_->pattern, pcre2_message(rc));
  return true;
}

void PreTokenizer::split(std::string_view text,
                         const std::function<void(std::string_view)>& emit) const {
  run(0, text, emit);
}

void PreTokenizer::run(std::size_t stage, std::string_view text,
                       const std::function<void(std::string_view)>& emit) const {
  if (text.empty()) return;
  if (stage == stages_.size()) {
    emit(text);
    return;
  }
  const PreTokenizerStage& s = stages_[stage];
  if (s.add_prefix_space && text.front() != ' ') {
    std::string prefixed;
    prefixed.reserve(text.size() + 1);
    prefixed.push_back(' ');
    prefixed.append(text);
    run(stage, prefixed, emit);  // starts with ' ' now, so this recursion does not repeat
    return;
  }
  if (!s.regex) {
    run(stage + 1, text, emit);
    return;
  }
  s.regex->split(text, [&](std::string_view piece) { run(stage + 1, piece, emit); });
}

}  // namespace a48
