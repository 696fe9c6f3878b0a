// Bad requests: each gets a 4xx with an OpenAI-style error body naming the field, and the server
// keeps serving.
#include "serve/serve_test_util.h"

namespace a48::serve::test {
namespace {

struct BadCase {
  const char* name;
  const char* path;
  std::string body;
  int status;
  const char* param;  // "" when the error names no field
};

std::vector<BadCase> bad_cases() {
  const std::string long_prompt = [] {
    std::string text;
    for (int i = 0; i < 60; ++i) text += "scheduler queue ";
    return "\"" + text + "\"";
  }();
  return {
      {"malformed JSON", "/v1/completions", R"({"prompt": "a", )", 400, ""},
      {"not an object", "/v1/completions", R"(["prompt"])", 400, ""},
      {"empty body", "/v1/completions", "", 400, ""},
      {"missing prompt", "/v1/completions", R"({"max_tokens": 3})", 400, "prompt"},
      {"prompt of wrong type", "/v1/completions", R"({"prompt": 42})", 400, "prompt"},
      {"prompt of mixed list", "/v1/completions", R"({"prompt": ["a", 1]})", 400, "prompt"},
      {"fractional token id", "/v1/completions", R"({"prompt": [1, 2.5]})", 400, "prompt"},
      {"empty prompt", "/v1/completions", R"({"prompt": ""})", 400, "prompt"},
      {"empty prompt list", "/v1/completions", R"({"prompt": []})", 400, "prompt"},
      {"empty token list", "/v1/completions", R"({"prompt": [[]]})", 400, "prompt"},
      {"token id past the vocabulary", "/v1/completions", R"({"prompt": [1, 8200]})", 400, "prompt"},
      {"negative token id", "/v1/completions", R"({"prompt": [-1]})", 400, "prompt"},
      {"huge token id", "/v1/completions", R"({"prompt": [18446744073709551615]})", 400, "prompt"},
      {"prompt past the context", "/v1/completions", "{\"prompt\": " + long_prompt + "}", 400, "prompt"},
      {"invalid UTF-8", "/v1/completions", "{\"prompt\": \"caf\xc3\x28\"}", 400, ""},
      {"max_tokens as string", "/v1/completions", R"({"prompt": "a", "max_tokens": "16"})", 400, "max_tokens"},
      {"negative max_tokens", "/v1/completions", R"({"prompt": "a", "max_tokens": -1})", 400, "max_tokens"},
      {"huge max_tokens", "/v1/completions", R"({"prompt": "a", "max_tokens": 1000000000000})", 400, "max_tokens"},
      {"max_tokens past uint64", "/v1/completions", R"({"prompt": "a", "max_tokens": 1e400})", 400, ""},
      {"temperature as string", "/v1/completions", R"({"prompt": "a", "temperature": "hot"})", 400, "temperature"},
      {"negative temperature", "/v1/completions", R"({"prompt": "a", "temperature": -1})", 400, "temperature"},
      {"top_p zero", "/v1/completions", R"({"prompt": "a", "top_p": 0})", 400, "top_p"},
      {"top_k fractional", "/v1/completions", R"({"prompt": "a", "top_k": 1.5})", 400, "top_k"},
      {"stream as string", "/v1/completions", R"({"prompt": "a", "stream": "yes"})", 400, "stream"},
      {"echo as number", "/v1/completions", R"({"prompt": "a", "echo": 1})", 400, "echo"},
      {"too many logprobs", "/v1/completions", R"({"prompt": "a", "logprobs": 50})", 400, "logprobs"},
      {"n of two", "/v1/completions", R"({"prompt": "a", "n": 2})", 400, "n"},
      {"stop as number", "/v1/completions", R"({"prompt": "a", "stop": 5})", 400, "stop"},
      {"empty stop string", "/v1/completions", R"({"prompt": "a", "stop": [""]})", 400, "stop"},
      {"seed as string", "/v1/completions", R"({"prompt": "a", "seed": "1"})", 400, "seed"},
      {"unsupported penalty", "/v1/completions", R"({"prompt": "a", "presence_penalty": 1})", 400, "presence_penalty"},
      {"model as number", "/v1/completions", R"({"prompt": "a", "model": 3})", 400, "model"},
      {"stream_options of wrong type", "/v1/completions", R"({"prompt": "a", "stream_options": 1})", 400, "stream_options"},
      {"missing messages", "/v1/chat/completions", R"({"prompt": "a"})", 400, "messages"},
      {"empty messages", "/v1/chat/completions", R"({"messages": []})", 400, "messages"},
      {"message without role", "/v1/chat/completions", R"({"messages": [{"content": "a"}]})", 400, "messages"},
      {"unknown role", "/v1/chat/completions", R"({"messages": [{"role": "wizard", "content": "a"}]})", 400, "messages"},
      {"image content", "/v1/chat/completions",
       R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]})", 400, "messages"},
      {"chat logprobs as number", "/v1/chat/completions",
       R"({"messages": [{"role": "user", "content": "a"}], "logprobs": 2})", 400, "logprobs"},
  };
}

TEST(ServeBadInput, EachGetsA4xxWithAnErrorBodyAndTheServerKeepsServing) {
  TestServer server;
  for (const BadCase& c : bad_cases()) {
    SCOPED_TRACE(c.name);
    const Reply reply = server.post_raw(c.path, c.body);
    EXPECT_EQ(reply.status, c.status) << reply.body;
    json body;
    ASSERT_NO_THROW(body = reply.json_body()) << reply.body;
    ASSERT_TRUE(body.contains("error")) << reply.body;
    const json& error = body["error"];
    EXPECT_TRUE(error.at("message").is_string());
    EXPECT_FALSE(error.at("message").get<std::string>().empty());
    EXPECT_EQ(error.at("type"), "invalid_request_error");
    ASSERT_TRUE(error.contains("param") && error.contains("code"));
    if (*c.param) {
      EXPECT_EQ(error["param"], c.param) << reply.body;
    }
  }
  EXPECT_EQ(server.get("/health").status, 200);
  EXPECT_EQ(server.post("/v1/completions", {{"prompt", "still here"}, {"max_tokens", 2}}).status, 200);
}

TEST(ServeBadInput, UnknownFieldsAreIgnoredAndNeutralValuesAccepted) {
  TestServer server;
  const Reply reply = server.post("/v1/completions", {{"prompt", "a"},
                                                      {"max_tokens", 2},
                                                      {"some_future_field", {{"x", 1}}},
                                                      {"user", "me"},
                                                      {"frequency_penalty", 0},
                                                      {"logit_bias", json::object()},
                                                      {"n", 1},
                                                      {"top_k", -1},
                                                      {"stop", nullptr}});
  EXPECT_EQ(reply.status, 200) << reply.body;
}

TEST(ServeBadInput, OversizedBodyIsRefused) {
  TestServer server;
  const std::string huge = "{\"prompt\": \"" + std::string(17u << 20, 'a') + "\"}";
  const Reply reply = server.post_raw("/v1/completions", huge);
  EXPECT_EQ(reply.status, 413);
  EXPECT_EQ(server.get("/health").status, 200);
}

}  // namespace
}  // namespace a48::serve::test
