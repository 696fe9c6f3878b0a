// decode(encode(s)) == s on random text, long runs that stress the regexes and BPE, byte tokens
// that split characters, and the encoding speed (reported, not asserted).
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"
#include "tokenizer_test_util.h"

namespace a48::test {
namespace {

using Ids = std::vector<int32_t>;
const std::string kFffd = "\xEF\xBF\xBD";

std::vector<const Tokenizer*> committed_tokenizers() {
  return {&gpt2_tokenizer(), &llama3_style_tokenizer(), &a48_tokenizer()};
}

int32_t byte_token(const Tokenizer& tok, uint8_t byte) {
  const auto id = tok.find(byte_level_char(byte));
  EXPECT_TRUE(id.has_value());
  return id.value_or(0);
}

TEST(RoundTrip, ByteTokensSplittingCharacters) {
  for (const Tokenizer* tok : committed_tokenizers()) {
    const auto b = [&](uint8_t x) { return byte_token(*tok, x); };
    EXPECT_EQ(tok->decode(Ids{b(0xE2), b(0x82), b(0xAC)}), "\xE2\x82\xAC");  // "€" from 3 tokens
    EXPECT_EQ(tok->decode(Ids{b(0xE2), b(0x82), b('a')}), kFffd + "a");      // cut short
    EXPECT_EQ(tok->decode(Ids{b(0xFF), b(0xC0), b(0xAF)}), kFffd + kFffd + kFffd);
    EXPECT_EQ(tok->decode(Ids{b(0xF0), b(0x9F), b(0xA6)}), kFffd);  // 🦙 missing its last byte
    EXPECT_EQ(tok->token_bytes(b(0xE2)), "\xE2");
    // The stream decoder gives "€" once all three tokens are in.
    Utf8StreamDecoder stream;
    EXPECT_EQ(stream.push(tok->token_bytes(b(0xE2))), "");
    EXPECT_EQ(stream.push(tok->token_bytes(b(0x82))), "");
    EXPECT_EQ(stream.push(tok->token_bytes(b(0xAC))), "\xE2\x82\xAC");
  }
}

// Random valid UTF-8 from scripts that exercise every regex branch.
std::string random_text(std::mt19937& rng, std::size_t n_chars) {
  static const std::vector<std::pair<char32_t, char32_t>> ranges = {
      {'a', 'z'},         {'A', 'Z'},       {'0', '9'},         {' ', ' '},       {' ', ' '},
      {'\n', '\n'},       {'\t', '\r'},     {'!', '/'},         {'\'', '\''},     {0xC0, 0x17F},
      {0x300, 0x36F},     {0x400, 0x4FF},   {0x4E00, 0x4FFF},   {0x3000, 0x3003}, {0x2000, 0x200F},
      {0x1F300, 0x1F64F}, {0xE000, 0xE00F}, {0x10000, 0x10FFFF}};
  std::string out;
  for (std::size_t i = 0; i < n_chars; ++i) {
    const auto& [lo, hi] = ranges[rng() % ranges.size()];
    char32_t cp = lo + static_cast<char32_t>(rng() % (hi - lo + 1));
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';  // no surrogates in UTF-8
    utf8_append(out, cp);
  }
  return out;
}

TEST(RoundTrip, RandomUnicode) {
  std::mt19937 rng(42);
  for (std::size_t n : {1u, 7u, 31u, 33u, 257u, 1000u}) {
    const std::string text = random_text(rng, n);
    for (const Tokenizer* tok : committed_tokenizers()) {
      for (bool parse_special : {true, false}) {
        const Ids ids = tok->encode(text, parse_special);
        EXPECT_EQ(tok->decode(ids), text) << "n=" << n;
        EXPECT_LE(ids.size(), text.size());  // at most one token per byte
      }
    }
  }
}

TEST(RoundTrip, LongRuns) {
  // 50 KB runs: a single huge pre-token for BPE and long backtracking for `\s+(?!\S)`.
  const std::size_t n = 50'000;
  std::string emoji;
  for (std::size_t i = 0; i < n / 4; ++i) emoji += "\xF0\x9F\xA6\x99";
  for (const std::string& text : {std::string(n, ' '), std::string(n, 'a'), std::string(n, '7'),
                                  std::string(n, '\n'), emoji, std::string(n, ' ') + "x"}) {
    for (const Tokenizer* tok : committed_tokenizers()) {
      const Ids ids = tok->encode(text);
      EXPECT_EQ(tok->decode(ids), text);
      EXPECT_LE(ids.size(), text.size());
    }
  }
}

TEST(RoundTrip, EncodeSpeedOneMegabyte) {
  A48_REQUIRE_SHARED_DATA();
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "timings under AddressSanitizer mean nothing";
#endif
  const std::string all =
      read_text_file(shared_data_dir() / "small-corpora" / "tinyshakespeare.txt");
  const std::string text = all.substr(0, 1'000'000);
  std::vector<std::pair<const char*, const Tokenizer*>> tokenizers = {
      {"gpt2", &gpt2_tokenizer()}, {"a48_8k", &a48_tokenizer()}, {"llama3", &llama3_tokenizer()}};
  for (const auto& [name, tok] : tokenizers) {
    const auto start = std::chrono::steady_clock::now();
    const Ids ids = tok->encode(text);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(tok->decode(ids), text);
    const double mb_per_s = static_cast<double>(text.size()) / 1e6 / seconds;
    RecordProperty(std::string(name) + "_encode_MB_per_s", std::to_string(mb_per_s));
    std::printf("[ speed    ] %s: 1 MB -> %zu tokens in %.3f s (%.1f MB/s)\n", name, ids.size(),
                seconds, mb_per_s);
  }
}

}  // namespace
}  // namespace a48::test
