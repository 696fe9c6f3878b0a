// Bad tokenizer files and bad calls: every one throws a48::Error naming the problem.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tokenizer_test_util.h"

namespace a48::test {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json minimal() {
  const json vocab = {{"a", 0}, {"b", 1}, {"ab", 2}};
  return {
      {"added_tokens", json::array()},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array({"a b"})}}}};
}

// Loads `content` and returns the a48::Error's message ("" if it loaded).
std::string text_error(const std::string& content) {
  const auto path = write_temp_file("hostile.json", content);
  try {
    Tokenizer::from_hf_json(path);
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("hostile.json"));  // every message names the file
    return e.what();
  }
  return "";
}
std::string json_error(const json& doc) { return text_error(doc.dump()); }

TEST(Hostile, MinimalFileLoads) {
  EXPECT_EQ(json_error(minimal()), "");
  const Tokenizer tok = Tokenizer::from_hf_json(write_temp_file("ok.json", minimal().dump()));
  EXPECT_EQ(tok.encode("abba"), (std::vector<int32_t>{2, 1, 0}));  // [ab] b a
}

TEST(Hostile, NotJson) {
  EXPECT_THAT(text_error("{ \"model\": "), HasSubstr("not valid JSON"));
  EXPECT_THAT(text_error(""), HasSubstr("not valid JSON"));
  EXPECT_THAT(text_error("{\"a\": \"\xFF\"}"), HasSubstr("not valid JSON"));  // bad UTF-8
  EXPECT_THAT(text_error("[1, 2]"), HasSubstr("expected a JSON object"));
  EXPECT_THROW(Tokenizer::from_hf_json("/nonexistent/a48/tokenizer.json"), Error);
}

TEST(Hostile, MissingOrUnsupportedParts) {
  json doc = minimal();
  doc.erase("model");
  EXPECT_THAT(json_error(doc), HasSubstr("model is missing"));
  doc = minimal();
  doc["model"]["type"] = "WordPiece";
  EXPECT_THAT(json_error(doc), HasSubstr("model type WordPiece is not supported"));
  doc = minimal();
  doc["normalizer"] = {{"type", "NFC"}};
  EXPECT_THAT(json_error(doc), HasSubstr("normalizer NFC is not supported"));
  doc = minimal();
  doc.erase("pre_tokenizer");
  EXPECT_THAT(json_error(doc), HasSubstr("pre_tokenizer is missing"));
  doc = minimal();
  doc["pre_tokenizer"] = {{"type", "Whitespace"}};
  EXPECT_THAT(json_error(doc), HasSubstr("pre_tokenizer Whitespace is not supported"));
  doc = minimal();
  doc["decoder"] = {{"type", "Metaspace"}};
  EXPECT_THAT(json_error(doc), HasSubstr("decoder Metaspace is not supported"));
  doc = minimal();
  doc["model"]["dropout"] = 0.1;
  EXPECT_THAT(json_error(doc), HasSubstr("model.dropout"));
  doc = minimal();
  doc["model"]["byte_fallback"] = true;
  EXPECT_THAT(json_error(doc), HasSubstr("byte_fallback"));
  doc = minimal();
  doc["model"]["continuing_subword_prefix"] = "##";
  EXPECT_THAT(json_error(doc), HasSubstr("continuing_subword_prefix"));
  doc = minimal();
  doc["model"]["unk_token"] = "<unk>";
  EXPECT_THAT(json_error(doc), HasSubstr("unk_token \"<unk>\" is not in model.vocab"));
  doc = minimal();
  doc["model"]["vocab"] = json::object();
  doc["model"]["merges"] = json::array();
  EXPECT_THAT(json_error(doc), HasSubstr("model.vocab is empty"));
}

TEST(Hostile, BadMerges) {
  json doc = minimal();
  doc["model"]["merges"] = json::array({"a b", "a zz"});
  EXPECT_THAT(json_error(doc),
              HasSubstr("model.merges[1] uses \"zz\", which is not in model.vocab"));
  doc["model"]["merges"] = json::array({"b a"});  // "ba" is not a token
  EXPECT_THAT(json_error(doc),
              HasSubstr("model.merges[0] makes \"ba\", which is not in model.vocab"));
  doc["model"]["merges"] = json::array({"a  b"});
  EXPECT_THAT(json_error(doc), HasSubstr("model.merges[0]"));
  doc["model"]["merges"] = json::array({"ab"});
  EXPECT_THAT(json_error(doc), HasSubstr("not two tokens separated by one space"));
  doc["model"]["merges"] = json::array({json::array({"a", "b", "c"})});
  EXPECT_THAT(json_error(doc), HasSubstr("model.merges[0] must be"));
  doc["model"]["merges"] = json::array({7});
  EXPECT_THAT(json_error(doc), HasSubstr("model.merges[0] must be"));
  doc["model"]["merges"] = "a b";
  EXPECT_THAT(json_error(doc), HasSubstr("model.merges must be an array"));
}

TEST(Hostile, WrongTypesAndIds) {
  json doc = minimal();
  doc["model"]["vocab"] = json::array({"a", "b"});
  EXPECT_THAT(json_error(doc), HasSubstr("model.vocab must be an object"));
  doc = minimal();
  doc["model"]["vocab"]["b"] = "1";
  EXPECT_THAT(json_error(doc), HasSubstr("model.vocab[\"b\"] must be an integer id"));
  doc["model"]["vocab"]["b"] = -1;
  EXPECT_THAT(json_error(doc), HasSubstr("model.vocab[\"b\"] is -1"));
  doc["model"]["vocab"]["b"] = int64_t{1} << 40;  // would be a 10^12-entry table
  EXPECT_THAT(json_error(doc), HasSubstr("outside [0,"));
  doc["model"]["vocab"]["b"] = 0;  // the id of "a"
  EXPECT_THAT(json_error(doc), HasSubstr("id 0 is given to two tokens"));
  doc = minimal();
  doc["model"]["vocab"]["a b"] = 3;  // a raw space is not byte-level text
  EXPECT_THAT(json_error(doc), HasSubstr("not byte-level text"));
  doc = minimal();
  doc["added_tokens"] = json::object();
  EXPECT_THAT(json_error(doc), HasSubstr("added_tokens must be an array"));
  doc["added_tokens"] = json::array({{{"id", 5}, {"content", 12}}});
  EXPECT_THAT(json_error(doc), HasSubstr("added_tokens[0].content must be a string"));
  doc["added_tokens"] = json::array({{{"content", "<x>"}}});
  EXPECT_THAT(json_error(doc), HasSubstr("added_tokens[0].id is missing"));
  doc["added_tokens"] = json::array({{{"id", 5}, {"content", "<x>"}, {"special", "yes"}}});
  EXPECT_THAT(json_error(doc), HasSubstr("added_tokens[0].special must be true or false"));
  doc["added_tokens"] =
      json::array({{{"id", 5}, {"content", "<x>"}}, {{"id", 5}, {"content", "<y>"}}});
  EXPECT_THAT(json_error(doc), HasSubstr("id 5 is given to two added tokens"));
  doc = minimal();
  doc["model"] = "BPE";
  EXPECT_THAT(json_error(doc), HasSubstr("model must be an object"));
}

TEST(Hostile, BadPreTokenizers) {
  json doc = minimal();
  const json byte_level = {{"type", "ByteLevel"}, {"use_regex", false}};
  doc["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       json::array(
           {{{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}},
            byte_level})}};
  EXPECT_THAT(json_error(doc), HasSubstr("pre_tokenizer.pretokenizers[0].pattern"));
  EXPECT_THAT(json_error(doc), HasSubstr("missing closing parenthesis"));  // PCRE2's message
  doc["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Regex", "\\s+"}};
  doc["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed";
  EXPECT_THAT(json_error(doc), HasSubstr("behavior \"Removed\" is not supported"));
  doc["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Isolated";
  doc["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Glob", "*"}};
  EXPECT_THAT(json_error(doc), HasSubstr("pattern must be"));
  doc["pre_tokenizer"]["pretokenizers"] = json::array(
      {byte_level, {{"type", "Split"}, {"pattern", {{"Regex", "x"}}}, {"behavior", "Isolated"}}});
  EXPECT_THAT(json_error(doc), HasSubstr("is ByteLevel but not the last"));
  doc["pre_tokenizer"]["pretokenizers"] =
      json::array({{{"type", "Split"}, {"pattern", {{"Regex", "x"}}}, {"behavior", "Isolated"}}});
  EXPECT_THAT(json_error(doc), HasSubstr("has no ByteLevel"));
  doc["pre_tokenizer"]["pretokenizers"] = json::array({{{"type", "Digits"}}, byte_level});
  EXPECT_THAT(json_error(doc), HasSubstr("pretokenizers[0] Digits is not supported"));
}

std::string tiktoken_error(const std::string& content) {
  const auto path = write_temp_file("hostile.tiktoken", content);
  try {
    Tokenizer::from_tiktoken_llama3(path);
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("hostile.tiktoken"));
    return e.what();
  }
  return "";
}

TEST(Hostile, BadTiktokenFiles) {
  const std::string good = tiny_tiktoken_file({"ab"});
  EXPECT_EQ(tiktoken_error(good), "");
  EXPECT_THAT(tiktoken_error(""), HasSubstr("no tokens"));
  EXPECT_THAT(tiktoken_error(good + "YWJj\n"), HasSubstr(":258: expected"));
  EXPECT_THAT(tiktoken_error(good + "Y!Jj 257\n"),
              HasSubstr(":258: the token is not valid base64"));
  EXPECT_THAT(tiktoken_error(good + "YWJj x\n"), HasSubstr(":258: bad rank"));
  EXPECT_THAT(tiktoken_error(good + "YWI= 257\n"), HasSubstr(":258: the token is listed twice"));
  EXPECT_THAT(tiktoken_error(good + "YWJj 256\n"), HasSubstr("id 256 is given to two tokens"));
  EXPECT_THAT(tiktoken_error(good + "YWJj 300\n"), HasSubstr("the ranks are not 0..257"));
  // Drop byte 0x41 ('A' = "QQ=="), renumbering to keep the ranks dense.
  std::string missing;
  int rank = 0;
  for (int b = 0; b < 256; ++b)
    if (b != 'A')
      missing +=
          base64_encode(std::string(1, static_cast<char>(b))) + " " + std::to_string(rank++) + "\n";
  EXPECT_THAT(tiktoken_error(missing), HasSubstr("byte 0x41 has no token"));
}

TEST(Hostile, BadCalls) {
  const Tokenizer& tok = gpt2_tokenizer();
  EXPECT_THROW(tok.decode(std::vector<int32_t>{-1}), Error);
  EXPECT_THROW(tok.decode(std::vector<int32_t>{50257}), Error);
  EXPECT_THROW(tok.token_bytes(50257), Error);
  EXPECT_THROW(tok.is_special(-5), Error);
  try {
    tok.decode(std::vector<int32_t>{1, 2, 70000});
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("token id 70000 is out of range [0, 50257)"));
  }
  try {
    tok.encode("ok \xC3(");
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("not valid UTF-8 (at byte 3"));
  }
}

}  // namespace
}  // namespace a48::test
