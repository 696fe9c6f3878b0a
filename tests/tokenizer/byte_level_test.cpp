// GPT-2's byte <-> character alphabet.
#include "tokenizer/byte_level.h"

#include <gtest/gtest.h>

#include <set>

namespace a48 {
namespace {

TEST(ByteLevel, AlphabetIsABijection) {
  std::set<std::string> seen;
  for (int b = 0; b < 256; ++b) {
    const std::string ch(byte_level_char(static_cast<uint8_t>(b)));
    EXPECT_TRUE(seen.insert(ch).second) << "byte " << b;
    EXPECT_EQ(byte_level_decode(ch), std::string(1, static_cast<char>(b)));
  }
}

TEST(ByteLevel, KnownCharacters) {
  // Printable bytes stand for themselves; the rest count up from U+0100 in byte order:
  // 0x00 -> U+0100 'Ā', '\n' (the 11th non-printable) -> U+010A 'Ċ', ' ' (the 33rd) -> U+0120 'Ġ'.
  EXPECT_EQ(byte_level_char('A'), "A");
  EXPECT_EQ(byte_level_char(0xE9), "\xC3\xA9");  // 'é' is printable Latin-1
  EXPECT_EQ(byte_level_char(0x00), "\xC4\x80");
  EXPECT_EQ(byte_level_char('\n'), "\xC4\x8A");
  EXPECT_EQ(byte_level_char(' '), "\xC4\xA0");
  EXPECT_EQ(byte_level_char(0xAD), "\xC5\x83");  // soft hyphen, the last one: U+0143
  EXPECT_EQ(byte_level_encode(" hi\n"), "\xC4\xA0hi\xC4\x8A");
  EXPECT_EQ(byte_level_decode("\xC4\xA0hi\xC4\x8A"), " hi\n");
}

TEST(ByteLevel, RejectsCharactersOutsideTheAlphabet) {
  EXPECT_FALSE(byte_level_decode(" ").has_value());             // raw space is not in the alphabet
  EXPECT_FALSE(byte_level_decode("\xE2\x96\x81").has_value());  // SentencePiece's '▁'
  EXPECT_FALSE(byte_level_decode("\xFF").has_value());          // not UTF-8 at all
}

}  // namespace
}  // namespace a48
