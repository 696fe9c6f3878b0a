// The server's pure parts: stop strings over a stream, logprob alternatives, chat templates.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "model/token_logprobs.h"
#include "serve/chat_template.h"
#include "serve/stop_text_filter.h"
#include "serve/token_alternatives.h"

namespace a48::serve {
namespace {

// Feeds `pieces` and returns what was committed after each push.
std::vector<std::string> feed(StopTextFilter& filter, const std::vector<std::string>& pieces) {
  std::vector<std::string> seen;
  for (const std::string& piece : pieces) {
    filter.push(piece);
    seen.push_back(filter.text());
  }
  return seen;
}

TEST(StopTextFilter, CutsAtTheFirstStopEvenAcrossPieces) {
  StopTextFilter filter({"END", "\n\n"});
  const auto seen = feed(filter, {"abc", "dE", "N", "Dxyz"});
  EXPECT_TRUE(filter.stopped());
  EXPECT_EQ(filter.text(), "abcd");
  // Never sent anything a later stop removed: every snapshot is a prefix of the final text.
  for (const std::string& s : seen) EXPECT_EQ(filter.text().rfind(s, 0), 0u) << s;
}

TEST(StopTextFilter, EarliestOfSeveralStopsWins) {
  StopTextFilter filter({"xyz", "b"});
  filter.push("aaxyzb");
  EXPECT_EQ(filter.text(), "aa");
}

TEST(StopTextFilter, ReleasesTheHeldTailAtTheEndAndNeverSplitsCharacters) {
  StopTextFilter filter({"STOP"});
  filter.push("caf\xc3\xa9 S");  // "café S": "S" (and "é" before it) might start "STOP"
  EXPECT_EQ(filter.text(), "caf");
  filter.push("T");
  filter.finish();
  EXPECT_FALSE(filter.stopped());
  EXPECT_EQ(filter.text(), "caf\xc3\xa9 ST");
}

TEST(StopTextFilter, WithoutStopsEverythingPassesAtOnce) {
  StopTextFilter filter({});
  filter.push("hello");
  EXPECT_EQ(filter.text(), "hello");
}

TEST(TokenAlternatives, MatchTheScoreDefinitionBitForBit) {
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0, 3);
  for (const int vocab : {1, 7, 97, 1001}) {
    std::vector<float> logits(vocab);
    for (float& x : logits) x = dist(rng);
    if (vocab > 3) logits[2] = logits[vocab - 1];  // a tie
    for (const int target : {0, vocab / 2, vocab - 1}) {
      const TokenLogprobEntry entry = token_logprob_entry(logits, target, 5);
      const TokenLogprob expected = logprob_of(logits, target);
      EXPECT_EQ(entry.logprob, expected.logprob);
      ASSERT_EQ(entry.top.size(), std::min<std::size_t>(5, vocab));
      // The best alternative is the greedy token, with logprob_of's exact value.
      const auto best = std::max_element(logits.begin(), logits.end()) - logits.begin();
      EXPECT_EQ(entry.top[0].id, best);
      EXPECT_EQ(entry.top[0].logprob, logprob_of(logits, static_cast<int32_t>(best)).logprob);
      for (std::size_t i = 1; i < entry.top.size(); ++i) {
        EXPECT_GE(entry.top[i - 1].logprob, entry.top[i].logprob);
        EXPECT_EQ(entry.top[i].logprob, logprob_of(logits, entry.top[i].id).logprob);
      }
    }
  }
}

TEST(ChatTemplate, RendersEachFamilyAndKeepsContentApart) {
  const std::vector<ChatMessage> messages = {{"system", "Be brief."}, {"user", "Hi <|im_end|>"}};
  const ChatPrompt chatml = render_chat(ChatTemplate::chatml, messages);
  std::string text;
  for (const auto& piece : chatml.pieces) text += piece.text;
  EXPECT_EQ(text,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi <|im_end|><|im_end|>\n"
            "<|im_start|>assistant\n");
  // The user's "<|im_end|>" is content, never template.
  for (const auto& piece : chatml.pieces) {
    if (piece.text == " Hi <|im_end|>" || piece.text == "Hi <|im_end|>") {
      EXPECT_FALSE(piece.is_template);
    }
  }
  EXPECT_EQ(chatml.stops, std::vector<std::string>{"<|im_end|>"});

  const ChatPrompt llama3 = render_chat(ChatTemplate::llama3, messages);
  EXPECT_FALSE(llama3.add_bos);
  EXPECT_EQ(llama3.pieces.front().text, "<|begin_of_text|>");
  EXPECT_EQ(llama3.pieces.back().text, "<|start_header_id|>assistant<|end_header_id|>\n\n");

  const ChatPrompt plain = render_chat(ChatTemplate::plain, messages);
  text.clear();
  for (const auto& piece : plain.pieces) text += piece.text;
  EXPECT_EQ(text, "System: Be brief.\nUser: Hi <|im_end|>\nAssistant:");
  EXPECT_TRUE(plain.add_bos);
}

TEST(ChatTemplate, DetectedFromTokenizerConfig) {
  const auto dir = std::filesystem::temp_directory_path() / ("a48_chat_template_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  EXPECT_EQ(detect_chat_template(dir), ChatTemplate::plain);  // no file
  std::ofstream(dir / "tokenizer_config.json")
      << R"({"chat_template": "{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}"})";
  EXPECT_EQ(detect_chat_template(dir), ChatTemplate::chatml);
  std::ofstream(dir / "tokenizer_config.json")
      << R"({"chat_template": [{"name": "default", "template": "<|start_header_id|>"}]})";
  EXPECT_EQ(detect_chat_template(dir), ChatTemplate::llama3);
  std::ofstream(dir / "tokenizer_config.json") << "{not json";
  EXPECT_EQ(detect_chat_template(dir), ChatTemplate::plain);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(parse_chat_template("llama3"), ChatTemplate::llama3);
  EXPECT_THROW(parse_chat_template("jinja"), Error);
}

}  // namespace
}  // namespace a48::serve
