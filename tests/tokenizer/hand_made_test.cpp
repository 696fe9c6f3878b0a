// Small hand-made tokenizer.json and tiktoken files with hand-worked encodings: merge order,
// ignore_merges, both merge syntaxes, added-token options, unk, holes in the ids.
#include <gtest/gtest.h>

#include "tokenizer_test_util.h"

namespace a48::test {
namespace {

using Ids = std::vector<int32_t>;
using nlohmann::json;

// Vocabulary: a b c d Ġ(space) and merges ranked
//   0: "b c" -> bc(6)   1: "a b" -> ab(5)   2: "ab c" -> abc(7)   3: "Ġ a" -> Ġa(8)   4: "c d" ->
//   cd(9) 5: "a a" -> aa(11); id 10 has no token.
json hand_made(bool merges_as_arrays = false) {
  json vocab = {{"a", 0},
                {"b", 1},
                {"c", 2},
                {"d", 3},
                {"\xC4\xA0", 4},
                {"ab", 5},
                {"bc", 6},
                {"abc", 7},
                {"\xC4\xA0"
                 "a",
                 8},
                {"cd", 9},
                {"aa", 11}};
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"b", "c"}, {"a", "b"}, {"ab", "c"}, {"\xC4\xA0", "a"}, {"c", "d"}, {"a", "a"}};
  json merges = json::array();
  for (const auto& [l, r] : pairs)
    merges.push_back(merges_as_arrays ? json::array({l, r}) : json(l + " " + r));
  return {
      {"version", "1.0"},
      {"added_tokens", json::array()},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"ignore_merges", false}}}};
}

Tokenizer load(const json& doc, const std::string& name) {
  return Tokenizer::from_hf_json(write_temp_file(name, doc.dump()));
}

TEST(HandMade, MergesByRankNotPosition) {
  for (bool arrays : {false, true}) {
    const Tokenizer tok = load(hand_made(arrays), arrays ? "arrays.json" : "strings.json");
    // "abc": pairs (a,b) rank 1 and (b,c) rank 0 -> b+c first -> [a, bc]; (a, bc) has no merge.
    EXPECT_EQ(tok.encode("abc"), (Ids{0, 6}));
    // "abcd": b+c first -> [a, bc, d]; neither (a,bc) nor (bc,d) merges, so c+d never happens.
    EXPECT_EQ(tok.encode("abcd"), (Ids{0, 6, 3}));
    // "abab": (a,b) at 0 and 2, same rank: both merge -> [ab, ab].
    EXPECT_EQ(tok.encode("abab"), (Ids{5, 5}));
    // "aaa": (a,a) at 0 and at 1, same rank: the leftmost merges -> [aa, a], not [a, aa].
    EXPECT_EQ(tok.encode("aaa"), (Ids{11, 0}));
    // " abc" is one GPT-2 piece: Ġ a b c -> b+c (0) -> Ġ+a (3) -> [Ġa, bc].
    EXPECT_EQ(tok.encode(" abc"), (Ids{8, 6}));
    // "cd ab": GPT-2 pieces "cd", " ab" -> [cd]; Ġ a b: a+b (1) beats Ġ+a (3) -> [Ġ, ab].
    EXPECT_EQ(tok.encode("cd ab"), (Ids{9, 4, 5}));
    EXPECT_EQ(tok.decode(Ids{8, 6, 9}), " abccd");
    EXPECT_EQ(tok.vocab_size(), 12);
    EXPECT_THROW(tok.token_bytes(10), Error);  // the hole
    EXPECT_FALSE(tok.bos_id().has_value());
    EXPECT_FALSE(tok.eos_id().has_value());
  }
}

TEST(HandMade, IgnoreMergesTakesWholeTokens) {
  json doc = hand_made();
  doc["model"]["ignore_merges"] = true;
  const Tokenizer tok = load(doc, "ignore_merges.json");
  EXPECT_EQ(tok.encode("abc"), (Ids{7}));         // "abc" is a token: no merging at all
  EXPECT_EQ(tok.encode("abcd"), (Ids{0, 6, 3}));  // "abcd" is not: merges as before
}

TEST(HandMade, AddedTokenOptions) {
  json doc = hand_made();
  doc["added_tokens"] = json::array({{{"id", 20},
                                      {"content", "<m>"},
                                      {"special", true},
                                      {"lstrip", true},
                                      {"rstrip", true},
                                      {"single_word", false},
                                      {"normalized", false}},
                                     {{"id", 21},
                                      {"content", "dd"},
                                      {"special", false},
                                      {"lstrip", false},
                                      {"rstrip", false},
                                      {"single_word", true},
                                      {"normalized", true}}});
  const Tokenizer tok = load(doc, "added.json");
  EXPECT_EQ(tok.vocab_size(), 22);  // highest id + 1; ids 10, 12..19 have no token
  // lstrip/rstrip: "<m>" takes the spaces on both sides -> "ab" <m> "c".
  EXPECT_EQ(tok.encode("ab <m> c"), (Ids{5, 20, 2}));
  EXPECT_EQ(tok.decode(Ids{5, 20, 2}), "ab<m>c");
  // parse_special false: "<m>" is text, and '<' has no token in this vocabulary.
  EXPECT_THROW(tok.encode("ab <m> c", false), Error);
  // single_word: "dd" only where no word character touches it.
  EXPECT_EQ(tok.encode("ab dd a"), (Ids{5, 4, 21, 8}));  // "ab", " " | dd | " a" -> Ġa
  EXPECT_EQ(tok.encode("add"), (Ids{0, 3, 3}));          // 'a' touches it: plain BPE
  EXPECT_EQ(tok.encode("ddc"), (Ids{3, 3, 2}));          // 'c' touches it
  EXPECT_TRUE(tok.is_special(20));
  EXPECT_FALSE(tok.is_special(21));
  EXPECT_FALSE(tok.is_special(5));
  EXPECT_THROW(tok.token_bytes(15), Error);  // a hole in the ids
  EXPECT_THROW(tok.is_special(15), Error);
  EXPECT_THROW(tok.decode(Ids{5, 15}), Error);
}

TEST(HandMade, UnkToken) {
  json doc = hand_made();
  doc["model"]["vocab"]["<unk>"] = 10;
  doc["model"]["unk_token"] = "<unk>";
  const Tokenizer tok = load(doc, "unk.json");
  EXPECT_EQ(tok.encode("axxb"), (Ids{0, 10, 10, 1}));  // 'x' has no token: one unk per byte
  doc["model"]["fuse_unk"] = true;
  const Tokenizer fused = load(doc, "unk_fused.json");
  EXPECT_EQ(fused.encode("axxb"), (Ids{0, 10, 1}));
}

TEST(HandMade, PrefixSpaceAndSplitSequence) {
  json doc = hand_made();
  doc["pre_tokenizer"]["add_prefix_space"] = true;
  EXPECT_EQ(load(doc, "prefix.json").encode("abc"), (Ids{8, 6}));  // as " abc"
  // Split on "c" (literal String pattern), Isolated, then ByteLevel without its regex:
  // "abcab" -> "ab" "c" "ab" -> [ab] [c] [ab].
  doc["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       json::array({{{"type", "Split"},
                     {"pattern", {{"String", "c"}}},
                     {"behavior", "Isolated"},
                     {"invert", false}},
                    {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}};
  EXPECT_EQ(load(doc, "split.json").encode("abcab"), (Ids{5, 2, 5}));
}

TEST(HandMade, TiktokenRanks) {
  // Ranks 0..255 are the bytes; then ab=256 bc=257 abc=258 cd=259 aa=260; specials from 261.
  const std::string file = tiny_tiktoken_file({"ab", "bc", "abc", "cd", "aa"});
  const Tokenizer tok = Tokenizer::from_tiktoken_llama3(write_temp_file("tiny.tiktoken", file));
  EXPECT_EQ(tok.vocab_size(), 261 + 256);
  // "abcd": (a,b)->ab 256 beats (b,c)->bc 257 -> [ab c d]; (ab,c)->abc 258 beats (c,d) 259 -> [abc
  // d].
  EXPECT_EQ(tok.encode("abcd"), (Ids{258, 'd'}));
  // LLaMA-3 pre-tokenizer: "abcd abcd" -> "abcd" " abcd"; " a" is no token.
  EXPECT_EQ(tok.encode("abcd abcd"), (Ids{258, 'd', ' ', 258, 'd'}));
  // Equal ranks: the leftmost pair merges first ("aaa" -> [aa a]).
  EXPECT_EQ(tok.encode("aaa"), (Ids{260, 'a'}));
  EXPECT_EQ(tok.encode("<|begin_of_text|>ab<|eot_id|>"), (Ids{261, 256, 270}));
  EXPECT_EQ(tok.bos_id(), 261);
  EXPECT_EQ(tok.eos_id(), 262);
  EXPECT_EQ(tok.find("<|reserved_special_token_250|>"), 261 + 255);
  EXPECT_EQ(tok.decode(Ids{261, 258, 'd'}), "<|begin_of_text|>abcd");
}

}  // namespace
}  // namespace a48::test
