// Exact ids against HF tokenizers (tests/tokenizer/data/*.expected.json, from
// tools/make_tokenizer_vectors.py) and llama.cpp's test vectors; decode(encode(s)) == s.
#include <gtest/gtest.h>

#include "tokenizer_test_util.h"

namespace a48::test {
namespace {

using Ids = std::vector<int32_t>;

void check_against_expected(const Tokenizer& tok, const std::string& name) {
  const std::vector<VectorCase> cases = load_expected(name);
  ASSERT_GE(cases.size(), 60u);
  for (const VectorCase& c : cases) {
    SCOPED_TRACE(name + ": " + nlohmann::json(c.text).dump());
    EXPECT_EQ(tok.encode(c.text, true), c.ids);
    EXPECT_EQ(tok.encode(c.text, false), c.ids_plain);
    EXPECT_EQ(tok.decode(c.ids), c.decoded);
    // Every test string is valid UTF-8, so both encodings must give the text back exactly.
    EXPECT_EQ(tok.decode(c.ids), c.text);
    EXPECT_EQ(tok.decode(c.ids_plain), c.text);
  }
}

// llama.cpp's <name>.inp (strings separated by "\n__ggml_vocab_test__\n") and .out (ids per line).
void check_against_llama_cpp(const Tokenizer& tok, const std::string& stem) {
  const std::string inp = read_text_file(shared_tokenizers_dir() / (stem + ".inp"));
  const std::string out = read_text_file(shared_tokenizers_dir() / (stem + ".out"));
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (std::size_t pos = 0, next; (next = inp.find(separator, pos)) != std::string::npos;
       pos = next + separator.size())
    texts.push_back(inp.substr(pos, next - pos));
  std::istringstream lines(out);
  std::size_t n = 0;
  for (std::string line; n < texts.size() && std::getline(lines, line); ++n) {
    Ids want;
    std::istringstream numbers(line);
    for (int32_t id; numbers >> id;) want.push_back(id);
    SCOPED_TRACE(stem + ": " + nlohmann::json(texts[n]).dump());
    EXPECT_EQ(tok.encode(texts[n], true), want);
    EXPECT_EQ(tok.decode(want), texts[n]);
  }
  EXPECT_EQ(n, 46u);
}

TEST(TokenizerVectors, Gpt2MatchesHf) { check_against_expected(gpt2_tokenizer(), "gpt2"); }
TEST(TokenizerVectors, Llama3StyleJsonMatchesHf) {
  check_against_expected(llama3_style_tokenizer(), "llama3_style");
}
TEST(TokenizerVectors, A48DefaultMatchesHf) { check_against_expected(a48_tokenizer(), "a48_8k"); }

// One test for both sets: each test runs in its own process, and LLaMA-3 takes a while to load.
TEST(TokenizerVectors, Llama3TiktokenMatchesHfAndLlamaCpp) {
  A48_REQUIRE_SHARED_DATA();
  check_against_expected(llama3_tokenizer(), "llama3");
  check_against_llama_cpp(llama3_tokenizer(), "ggml-vocab-llama-bpe.gguf");
}

TEST(TokenizerVectors, Gpt2MatchesLlamaCpp) {
  A48_REQUIRE_SHARED_DATA();
  check_against_llama_cpp(gpt2_tokenizer(), "ggml-vocab-gpt-2.gguf");
}

TEST(TokenizerVectors, Llama3SpecialTokens) {
  A48_REQUIRE_SHARED_DATA();
  const Tokenizer& tok = llama3_tokenizer();
  EXPECT_EQ(tok.vocab_size(), 128256);
  EXPECT_EQ(tok.find("<|begin_of_text|>"), 128000);
  EXPECT_EQ(tok.find("<|end_of_text|>"), 128001);
  EXPECT_EQ(tok.find("<|start_header_id|>"), 128006);
  EXPECT_EQ(tok.find("<|end_header_id|>"), 128007);
  EXPECT_EQ(tok.find("<|reserved_special_token_4|>"), 128008);
  EXPECT_EQ(tok.find("<|eot_id|>"), 128009);
  EXPECT_EQ(tok.find("<|reserved_special_token_5|>"), 128010);
  EXPECT_EQ(tok.find("<|reserved_special_token_250|>"), 128255);
  EXPECT_EQ(tok.bos_id(), 128000);
  EXPECT_EQ(tok.eos_id(), 128001);
  EXPECT_TRUE(tok.is_special(128009));
  EXPECT_FALSE(tok.is_special(9906));
  EXPECT_EQ(tok.token_bytes(128009), "<|eot_id|>");
  // find() takes tokenizer.json's byte-level text: "ĠHello" is " Hello" (id 22691).
  EXPECT_EQ(tok.find("\xC4\xA0Hello"), 22691);
  EXPECT_EQ(tok.token_bytes(22691), " Hello");
}

TEST(TokenizerVectors, BosEosRule) {
  // GPT-2 style: <|endoftext|> is both (a48's own tokenizer has it as id 0).
  EXPECT_EQ(gpt2_tokenizer().bos_id(), 50256);
  EXPECT_EQ(gpt2_tokenizer().eos_id(), 50256);
  EXPECT_EQ(a48_tokenizer().bos_id(), 0);
  EXPECT_EQ(a48_tokenizer().eos_id(), 0);
  EXPECT_EQ(a48_tokenizer().vocab_size(), 8192);
  // LLaMA-3 names in a tokenizer.json.
  EXPECT_EQ(llama3_style_tokenizer().bos_id(), llama3_style_tokenizer().find("<|begin_of_text|>"));
  EXPECT_EQ(llama3_style_tokenizer().eos_id(), llama3_style_tokenizer().find("<|end_of_text|>"));
  EXPECT_EQ(llama3_style_tokenizer().bos_id(), 0);
  EXPECT_EQ(llama3_style_tokenizer().eos_id(), 1);
}

TEST(TokenizerVectors, ParseSpecial) {
  const Tokenizer& tok = gpt2_tokenizer();
  const std::string text = "a<|endoftext|>b";
  EXPECT_EQ(tok.encode(text, true), (Ids{64, 50256, 65}));
  const Ids plain = tok.encode(text, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 50256), 0);
  EXPECT_GT(plain.size(), 3u);
  EXPECT_EQ(tok.decode(plain), text);
  EXPECT_TRUE(tok.is_special(50256));

  // A non-special added token is matched whatever parse_special says; special ones only with it.
  const Tokenizer& style = llama3_style_tokenizer();
  const int32_t romeo = *style.find("ROMEO:");
  const int32_t eot = *style.find("<|eot_id|>");
  EXPECT_FALSE(style.is_special(romeo));
  EXPECT_TRUE(style.is_special(eot));
  for (bool parse_special : {true, false}) {
    const Ids ids = style.encode("ROMEO:<|eot_id|>", parse_special);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids.front(), romeo);
    EXPECT_EQ(std::count(ids.begin(), ids.end(), eot), parse_special ? 1 : 0);
  }
}

TEST(TokenizerVectors, RoundTripShakespeare) {
  A48_REQUIRE_SHARED_DATA();
  const std::string all =
      read_text_file(shared_data_dir() / "small-corpora" / "tinyshakespeare.txt");
  const std::string slice = all.substr(100000, 20000);
  for (const Tokenizer* tok : {&gpt2_tokenizer(), &a48_tokenizer(), &llama3_tokenizer()}) {
    const Ids ids = tok->encode(slice);
    EXPECT_EQ(tok->decode(ids), slice);
    // English prose: between 2 and 6 bytes a token for these vocabularies.
    EXPECT_GT(ids.size(), slice.size() / 6);
    EXPECT_LT(ids.size(), slice.size() / 2);
  }
}

}  // namespace
}  // namespace a48::test
