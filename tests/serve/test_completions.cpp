// /v1/completions and /v1/chat/completions against the engine itself: greedy text, prompt
// log-likelihoods (echo + logprobs, as lm-evaluation-harness asks for them), batches of prompts,
// stop strings, streaming and chat.
#include "serve/serve_test_util.h"

namespace a48::serve::test {
namespace {

class Completions : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ServerOptions options;
    options.max_sequences = 3;
    options.batch_tokens = 13;  // prompts prefill in several chunks, beside other sequences
    server_ = new TestServer(options);
    tokenizer_ = new Tokenizer(load_tokenizer());
  }
  static void TearDownTestSuite() {
    delete server_;
    delete tokenizer_;
  }
  static std::vector<int32_t> with_bos(const std::string& text) {
    std::vector<int32_t> ids = {*tokenizer_->bos_id()};
    const auto body = tokenizer_->encode(text);
    ids.insert(ids.end(), body.begin(), body.end());
    return ids;
  }
  // The text a client sees: special tokens and ids without text add nothing; invalid UTF-8
  // becomes U+FFFD.
  static std::string text_of(const std::vector<int32_t>& ids) {
    std::vector<int32_t> shown;
    for (const int32_t id : ids) {
      if (id < tokenizer_->vocab_size() && !tokenizer_->is_special(id)) shown.push_back(id);
    }
    return tokenizer_->decode(shown);
  }
  static TestServer* server_;
  static Tokenizer* tokenizer_;
};
TestServer* Completions::server_ = nullptr;
Tokenizer* Completions::tokenizer_ = nullptr;

const std::string kPrompt = "The scheduler wakes the task when its timer expires.";

TEST_F(Completions, GreedyTextIsTheEnginesGreedyContinuation) {
  const json request = {{"model", "whatever"}, {"prompt", kPrompt}, {"max_tokens", 12},
                        {"temperature", 0},    {"ignore_eos", true}};
  const Reply reply = server_->post("/v1/completions", request);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const json body = reply.json_body();
  EXPECT_EQ(body.at("object"), "text_completion");
  const json& choice = body.at("choices").at(0);
  EXPECT_EQ(choice.at("finish_reason"), "length");
  EXPECT_TRUE(choice.at("logprobs").is_null());
  const std::vector<int32_t> prompt = with_bos(kPrompt);
  EXPECT_EQ(choice.at("text"), text_of(engine_greedy(prompt, 12)));
  EXPECT_EQ(body["usage"]["prompt_tokens"], prompt.size());
  EXPECT_EQ(body["usage"]["completion_tokens"], 12);
  EXPECT_EQ(body["usage"]["total_tokens"], prompt.size() + 12);
}

TEST_F(Completions, EchoLogprobsOfThePromptEqualTheEnginesScores) {
  const std::vector<int32_t> ids = with_bos(kPrompt);
  const std::vector<double> expected = engine_logprobs(ids);
  for (const json& prompt : {json(kPrompt), json(ids)}) {
    const Reply reply = server_->post("/v1/completions", {{"prompt", prompt},
                                                          {"max_tokens", 0},
                                                          {"echo", true},
                                                          {"logprobs", 3},
                                                          {"temperature", 0}});
    ASSERT_EQ(reply.status, 200) << reply.body;
    const json choice = reply.json_body().at("choices").at(0);
    EXPECT_EQ(choice.at("text"), kPrompt);
    const json& logprobs = choice.at("logprobs");
    ASSERT_EQ(logprobs.at("token_logprobs").size(), ids.size());
    EXPECT_TRUE(logprobs["token_logprobs"][0].is_null());  // bos: nothing predicts it
    EXPECT_TRUE(logprobs["top_logprobs"][0].is_null());
    EXPECT_EQ(logprobs["tokens"][0], "<|endoftext|>");
    for (std::size_t i = 1; i < ids.size(); ++i) {
      EXPECT_EQ(logprobs["token_logprobs"][i].get<double>(), expected[i - 1]) << "token " << i;
      const json& top = logprobs["top_logprobs"][i];
      EXPECT_LE(top.size(), 3u);
      double best = -1e300;
      for (const auto& [token, value] : top.items()) best = std::max(best, value.get<double>());
      EXPECT_GE(best, expected[i - 1]);
    }
    // text_offset: byte positions of each token in the echoed text (bos adds none).
    EXPECT_EQ(logprobs["text_offset"][0], 0);
    EXPECT_EQ(logprobs["text_offset"][1], 0);
    EXPECT_EQ(logprobs["text_offset"].back().get<std::size_t>(),
              kPrompt.size() - tokenizer_->token_bytes(ids.back()).size());
  }
}

TEST_F(Completions, HarnessStyleBatchOfTokenPrompts) {
  // lm-evaluation-harness's local-completions loglikelihood request: token-id prompts, echo,
  // logprobs 1, max_tokens 1, temperature 0; it reads token_logprobs[ctxlen:-1] and checks
  // is_greedy as token_logprob == max(top_logprobs).
  const std::vector<int32_t> a = with_bos("Each CPU keeps its own run queue.");
  const std::vector<int32_t> b = with_bos("The load balancer moves tasks.");
  const Reply reply = server_->post("/v1/completions", {{"model", "a48"},
                                                        {"prompt", {a, b}},
                                                        {"max_tokens", 1},
                                                        {"logprobs", 1},
                                                        {"echo", true},
                                                        {"temperature", 0},
                                                        {"seed", 1234}});
  ASSERT_EQ(reply.status, 200) << reply.body;
  const json choices = reply.json_body().at("choices");
  ASSERT_EQ(choices.size(), 2u);
  for (std::size_t c = 0; c < 2; ++c) {
    const std::vector<int32_t>& ids = c == 0 ? a : b;
    EXPECT_EQ(choices[c].at("index"), c);
    const json& logprobs = choices[c].at("logprobs");
    ASSERT_EQ(logprobs["token_logprobs"].size(), ids.size() + 1);  // + the generated token
    const std::vector<double> expected = engine_logprobs(ids);
    const std::vector<int32_t> greedy = engine_greedy(ids, 1);
    for (std::size_t i = 1; i < ids.size(); ++i) {
      const double value = logprobs["token_logprobs"][i].get<double>();
      EXPECT_EQ(value, expected[i - 1]);
      double best = -1e300;
      for (const auto& [token, v] : logprobs["top_logprobs"][i].items()) best = std::max(best, v.get<double>());
      // Exactly equal when the prompt token is the greedy one, never above the best.
      EXPECT_LE(value, best);
    }
    EXPECT_EQ(choices[c]["text"], text_of(ids).substr(0) + text_of(greedy));
  }
}

TEST_F(Completions, GreedyTokensAreFlaggedGreedyExactly) {
  // Score a sequence the model itself produced greedily: every continuation token is the argmax,
  // so its logprob must equal the best alternative bit for bit (the harness's is_greedy test).
  std::vector<int32_t> ids = with_bos("Memory");
  const std::vector<int32_t> greedy = engine_greedy(ids, 6);
  ids.insert(ids.end(), greedy.begin(), greedy.end());
  const Reply reply = server_->post(
      "/v1/completions", {{"prompt", ids}, {"max_tokens", 0}, {"echo", true}, {"logprobs", 1}});
  ASSERT_EQ(reply.status, 200) << reply.body;
  const json body = reply.json_body();
  const json& logprobs = body["choices"][0]["logprobs"];
  for (std::size_t i = ids.size() - greedy.size(); i < ids.size(); ++i) {
    const json& top = logprobs["top_logprobs"][i];
    ASSERT_EQ(top.size(), 1u);
    EXPECT_EQ(logprobs["token_logprobs"][i].get<double>(), top.begin()->get<double>()) << i;
  }
}

TEST_F(Completions, StopStringsCutTheTextStreamedOrNot) {
  const json base = {{"prompt", kPrompt}, {"max_tokens", 24}, {"temperature", 0}, {"ignore_eos", true}};
  const std::string full = server_->post("/v1/completions", base).json_body()["choices"][0]["text"];
  ASSERT_GE(full.size(), 6u);
  const std::string stop = full.substr(full.size() / 2, 2);
  const std::size_t cut = full.find(stop);
  json with_stop = base;
  with_stop["stop"] = {stop, "a string the model will not write"};
  const json choice = server_->post("/v1/completions", with_stop).json_body()["choices"][0];
  EXPECT_EQ(choice["text"], full.substr(0, cut));
  EXPECT_EQ(choice["finish_reason"], "stop");

  with_stop["stream"] = true;
  std::string streamed;
  std::string finish;
  for (const std::string& event : server_->stream("/v1/completions", with_stop)) {
    if (event == "[DONE]") continue;
    const json chunk = json::parse(event);
    streamed += chunk["choices"][0]["text"].get<std::string>();
    if (!chunk["choices"][0]["finish_reason"].is_null()) finish = chunk["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(streamed, full.substr(0, cut));
  EXPECT_EQ(finish, "stop");
}

TEST_F(Completions, StreamingSendsTheSameTextAndEndsWithDone) {
  json request = {{"prompt", {kPrompt, "Interrupts"}}, {"max_tokens", 10}, {"temperature", 0},
                  {"ignore_eos", true}, {"logprobs", 2}};
  const json whole = server_->post("/v1/completions", request).json_body();
  request["stream"] = true;
  request["stream_options"] = {{"include_usage", true}};
  const std::vector<std::string> events = server_->stream("/v1/completions", request);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text[2];
  std::vector<double> logprobs[2];
  json usage;
  for (std::size_t e = 0; e + 1 < events.size(); ++e) {
    const json chunk = json::parse(events[e]);
    EXPECT_EQ(chunk["object"], "text_completion");
    if (chunk.contains("usage")) usage = chunk["usage"];
    for (const json& choice : chunk["choices"]) {
      const int index = choice["index"];
      text[index] += choice["text"].get<std::string>();
      for (const json& v : choice["logprobs"]["token_logprobs"]) logprobs[index].push_back(v);
    }
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(text[i], whole["choices"][i]["text"]);
    ASSERT_EQ(logprobs[i].size(), 10u);
    for (std::size_t t = 0; t < 10; ++t)
      EXPECT_EQ(logprobs[i][t], whole["choices"][i]["logprobs"]["token_logprobs"][t].get<double>());
  }
  EXPECT_EQ(usage, whole["usage"]);
}

TEST_F(Completions, SeededSamplingRepeatsAndSeedsDiffer) {
  json request = {{"prompt", kPrompt}, {"max_tokens", 16}, {"temperature", 1.5},
                  {"ignore_eos", true}, {"seed", 7}};
  const std::string a = server_->post("/v1/completions", request).json_body()["choices"][0]["text"];
  const std::string b = server_->post("/v1/completions", request).json_body()["choices"][0]["text"];
  request["seed"] = 8;
  const std::string c = server_->post("/v1/completions", request).json_body()["choices"][0]["text"];
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST_F(Completions, MaxTokensIsClippedToTheContextLeft) {
  const std::vector<int32_t> ids = with_bos(kPrompt);  // 96-token context
  const Reply reply = server_->post(
      "/v1/completions", {{"prompt", ids}, {"max_tokens", 96}, {"temperature", 0}, {"ignore_eos", true}});
  ASSERT_EQ(reply.status, 200) << reply.body;
  const json body = reply.json_body();
  EXPECT_EQ(body["usage"]["completion_tokens"], 96 - ids.size());
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
}

TEST_F(Completions, ChatStreamsWhatItAnswersWhole) {
  const json messages = {{{"role", "system"}, {"content", "You answer briefly."}},
                         {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "What is a page?"}}}}}};
  json request = {{"messages", messages}, {"max_tokens", 12}, {"temperature", 0},
                  {"ignore_eos", true}, {"logprobs", true}, {"top_logprobs", 2}};
  const Reply reply = server_->post("/v1/chat/completions", request);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const json body = reply.json_body();
  EXPECT_EQ(body["object"], "chat.completion");
  const json& choice = body["choices"][0];
  EXPECT_EQ(choice["message"]["role"], "assistant");
  const std::string content = choice["message"]["content"];
  // The plain template: the prompt is "System: ...\nUser: ...\nAssistant:" after bos.
  const std::vector<int32_t> prompt = with_bos("System: You answer briefly.\nUser: What is a page?\nAssistant:");
  EXPECT_EQ(body["usage"]["prompt_tokens"], prompt.size());
  const std::string expected = text_of(engine_greedy(prompt, 12));
  const std::size_t stop = std::min(expected.find("\nUser:"), expected.find("\nSystem:"));
  EXPECT_EQ(content, expected.substr(0, stop));
  EXPECT_EQ(choice["logprobs"]["content"].size(), body["usage"]["completion_tokens"].get<std::size_t>());
  EXPECT_EQ(choice["logprobs"]["content"][0]["top_logprobs"].size(), 2u);

  request["stream"] = true;
  std::string streamed, role;
  for (const std::string& event : server_->stream("/v1/chat/completions", request)) {
    if (event == "[DONE]") continue;
    const json chunk = json::parse(event);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    const json& delta = chunk["choices"][0]["delta"];
    if (delta.contains("role")) role = delta["role"];
    if (delta.contains("content")) streamed += delta["content"].get<std::string>();
  }
  EXPECT_EQ(role, "assistant");
  EXPECT_EQ(streamed, content);
}

TEST_F(Completions, IdsWithoutTextAndSpecialTokensAreServed) {
  // 8195 is a valid model id beyond the tokenizer's vocabulary: it scores, and has no text.
  const std::vector<int32_t> ids = {0, 8195, 300, 0, 301};
  const Reply reply = server_->post(
      "/v1/completions", {{"prompt", ids}, {"max_tokens", 2}, {"echo", true}, {"logprobs", 0}});
  ASSERT_EQ(reply.status, 200) << reply.body;
  const json body = reply.json_body();
  const json& logprobs = body["choices"][0]["logprobs"];
  const std::vector<double> expected = engine_logprobs(ids);
  for (std::size_t i = 1; i < ids.size(); ++i) EXPECT_EQ(logprobs["token_logprobs"][i].get<double>(), expected[i - 1]);
  EXPECT_EQ(logprobs["tokens"][1], "");
}

}  // namespace
}  // namespace a48::serve::test
