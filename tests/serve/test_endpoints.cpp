// The server's plain endpoints: health, models, metrics, the chat page, unknown routes, API keys.
#include <chrono>
#include <thread>

#include "serve/serve_test_util.h"

namespace a48::serve::test {
namespace {

TEST(ServeEndpoints, HealthModelsMetricsAndPage) {
  ServerOptions options;
  options.model_name = "tiny";
  TestServer server(options);
  const Reply health = server.get("/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.json_body().at("status"), "ok");

  const Reply models = server.get("/v1/models");
  ASSERT_EQ(models.status, 200);
  const json list = models.json_body();
  EXPECT_EQ(list.at("object"), "list");
  ASSERT_EQ(list.at("data").size(), 1u);
  EXPECT_EQ(list["data"][0].at("id"), "tiny");
  EXPECT_EQ(list["data"][0].at("max_model_len"), 96);

  const Reply page = server.get("/");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("<html"), std::string::npos);
  EXPECT_NE(page.body.find("/v1/chat/completions"), std::string::npos);

  // Counters move with traffic.
  const Reply completion = server.post("/v1/completions", {{"prompt", "The kernel"},
                                                           {"max_tokens", 3},
                                                           {"temperature", 0},
                                                           {"ignore_eos", true}});
  ASSERT_EQ(completion.status, 200) << completion.body;
  // A request is counted once its response has gone out (the HTTP logger), which can trail the
  // client's receipt of the last byte: poll briefly.
  const std::string counted = "a48_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 1";
  Reply metrics = server.get("/metrics");
  for (int i = 0; i < 200 && metrics.body.find(counted) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    metrics = server.get("/metrics");
  }
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("# TYPE a48_requests_total counter"), std::string::npos);
  EXPECT_NE(metrics.body.find(counted), std::string::npos) << metrics.body;
  EXPECT_EQ(server.metric("a48_generated_tokens_total"), 3);
  EXPECT_GE(server.metric("a48_prompt_tokens_total"), 2);
  EXPECT_EQ(server.metric("a48_queue_depth"), 0);
  EXPECT_EQ(server.metric("a48_running_sequences"), 0);
  EXPECT_GE(server.metric("a48_generation_tokens_per_second"), 0);
}

TEST(ServeEndpoints, UnknownRouteAndWrongMethodGiveJsonErrors) {
  TestServer server;
  const Reply missing = server.get("/v1/engines");
  EXPECT_EQ(missing.status, 404);
  EXPECT_TRUE(missing.json_body().at("error").contains("message")) << missing.body;
  const Reply wrong_method = server.get("/v1/completions");
  EXPECT_EQ(wrong_method.status, 404);
  EXPECT_TRUE(wrong_method.json_body().contains("error"));
}

TEST(ServeEndpoints, ApiKeyGuardsTheApiButNotHealth) {
  ServerOptions options;
  options.api_key = "sesame";
  TestServer server(options);
  const json body = {{"prompt", "Hi"}, {"max_tokens", 1}};
  const Reply none = server.post("/v1/completions", body);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.json_body()["error"]["code"], "invalid_api_key");
  EXPECT_EQ(server.post("/v1/completions", body, {{"Authorization", "Bearer wrong"}}).status, 401);
  EXPECT_EQ(server.post("/v1/completions", body, {{"Authorization", "Bearer sesam"}}).status, 401);
  EXPECT_EQ(server.get("/v1/models").status, 401);
  EXPECT_EQ(server.get("/metrics").status, 401);
  EXPECT_EQ(server.post("/v1/completions", body, {{"Authorization", "Bearer sesame"}}).status, 200);
  EXPECT_EQ(server.get("/v1/models", {{"Authorization", "Bearer sesame"}}).status, 200);
  EXPECT_EQ(server.get("/health").status, 200);
}

}  // namespace
}  // namespace a48::serve::test
