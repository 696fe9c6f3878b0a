// UTF-8 repair (U+FFFD per maximal ill-formed subpart, as Python's errors="replace") and the
// streaming decoder that holds back characters split across tokens.
#include "tokenizer/utf8.h"

#include <gtest/gtest.h>

#include <random>

#include "tokenizer/tokenizer.h"

namespace a48 {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(Utf8, NextClassifiesByTable37) {
  // "€" = E2 82 AC: (0x2 << 12) | (0x02 << 6) | 0x2C = 0x20AC.
  Utf8Step s = utf8_next("\xE2\x82\xAC", 0);
  EXPECT_EQ(s.status, Utf8Status::kValid);
  EXPECT_EQ(s.length, 3u);
  EXPECT_EQ(s.code_point, U'\u20AC');
  // "🦙" = F0 9F A6 99 = U+1F999.
  s = utf8_next("\xF0\x9F\xA6\x99", 0);
  EXPECT_EQ(s.status, Utf8Status::kValid);
  EXPECT_EQ(s.code_point, U'\U0001F999');
  EXPECT_EQ(utf8_next("\xE2\x82", 0).status, Utf8Status::kTruncated);
  EXPECT_EQ(utf8_next("\xE2\x82", 0).length, 2u);
  EXPECT_EQ(utf8_next("\xE2(", 0).status, Utf8Status::kInvalid);
  EXPECT_EQ(utf8_next("\xE2(", 0).length, 1u);
  EXPECT_EQ(utf8_next("\xC0\xAF", 0).status, Utf8Status::kInvalid);          // overlong '/'
  EXPECT_EQ(utf8_next("\xED\xA0\x80", 0).length, 1u);                        // surrogate U+D800
  EXPECT_EQ(utf8_next("\xF4\x90\x80\x80", 0).status, Utf8Status::kInvalid);  // > U+10FFFF
  EXPECT_EQ(utf8_next("\xF4\x8F\xBF\xBF", 0).status, Utf8Status::kValid);    // U+10FFFF
}

TEST(Utf8, SanitizeReplacesMaximalSubparts) {
  EXPECT_EQ(utf8_sanitize("plain ascii"), "plain ascii");
  EXPECT_EQ(utf8_sanitize("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(utf8_sanitize("\xFF"
                          "a"),
            kFffd + "a");
  EXPECT_EQ(utf8_sanitize("\xE2\x82"
                          "a"),
            kFffd + "a");                       // E2 82 is one maximal subpart
  EXPECT_EQ(utf8_sanitize("\xE2\x82"), kFffd);  // truncated at the end
  EXPECT_EQ(utf8_sanitize("\xED\xA0\x80"), kFffd + kFffd + kFffd);
  EXPECT_EQ(utf8_sanitize("\xC0\xAF"), kFffd + kFffd);
  EXPECT_EQ(utf8_sanitize("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);
  EXPECT_EQ(utf8_find_invalid("ok\xC3\xA9\xFF"), 4u);
  EXPECT_FALSE(utf8_find_invalid("ok\xC3\xA9").has_value());
}

TEST(Utf8, StreamDecoderHoldsBackSplitCharacters) {
  Utf8StreamDecoder d;
  EXPECT_EQ(d.push("a\xE2"), "a");
  EXPECT_EQ(d.push("\x82"), "");
  EXPECT_EQ(d.push("\xAC"
                   "b\xF0\x9F"),
            "\xE2\x82\xAC"
            "b");
  EXPECT_EQ(d.push("\xA6"), "");
  EXPECT_EQ(d.push("\x99"), "\xF0\x9F\xA6\x99");
  EXPECT_EQ(d.flush(), "");
}

TEST(Utf8, StreamDecoderReplacesInvalidBytes) {
  Utf8StreamDecoder d;
  EXPECT_EQ(d.push("\xFF"), kFffd);
  EXPECT_EQ(d.push("\xE2\x82"), "");
  EXPECT_EQ(d.push("a"), kFffd + "a");  // the held-back E2 82 turned out to be ill-formed
  EXPECT_EQ(d.push("\xF0\x9F"), "");
  EXPECT_EQ(d.flush(), kFffd);  // cut off for good
  EXPECT_EQ(d.flush(), "");
}

TEST(Utf8, StreamingEqualsWholeOnRandomBytes) {
  std::mt19937 rng(1234);
  // Bytes drawn mostly from UTF-8-looking values so that valid, truncated and invalid all occur.
  const unsigned char pool[] = {'a',  ' ',  0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0xA6,
                                0x99, 0x80, 0xBF, 0xC0, 0xED, 0xA0, 0xF4, 0x90, 0xFF};
  for (std::size_t n : {1u, 7u, 31u, 33u, 257u}) {
    for (int trial = 0; trial < 20; ++trial) {
      std::string bytes;
      for (std::size_t i = 0; i < n; ++i)
        bytes.push_back(static_cast<char>(pool[rng() % sizeof pool]));
      const std::string whole = utf8_sanitize(bytes);
      EXPECT_FALSE(utf8_find_invalid(whole).has_value());
      Utf8StreamDecoder d;
      std::string streamed;
      for (std::size_t pos = 0; pos < n;) {
        const std::size_t len = std::min<std::size_t>(1 + rng() % 5, n - pos);
        streamed += d.push(std::string_view(bytes).substr(pos, len));
        pos += len;
      }
      streamed += d.flush();
      EXPECT_EQ(streamed, whole) << "n=" << n << " trial=" << trial;
    }
  }
}

}  // namespace
}  // namespace a48
