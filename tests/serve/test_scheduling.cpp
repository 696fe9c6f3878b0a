// Continuous batching seen from clients: concurrent requests get what they get alone, a client
// that leaves frees its sequence, a full queue answers 503, and shutdown drains gracefully.
#include <atomic>
#include <future>

#include "serve/serve_test_util.h"

namespace a48::serve::test {
namespace {

using namespace std::chrono_literals;

json greedy_request(const std::string& prompt, int max_tokens) {
  return {{"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}, {"ignore_eos", true}};
}

// Polls until `condition` holds (or fails the test after `limit`).
template <class Condition>
void wait_until(Condition condition, std::chrono::milliseconds limit, const char* what) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "timed out waiting for " << what;
      return;
    }
    std::this_thread::sleep_for(10ms);
  }
}

TEST(ServeScheduling, ConcurrentClientsGetWhatTheyGetAlone) {
  ServerOptions options;
  options.max_sequences = 4;  // 6 clients: some wait in the queue
  options.batch_tokens = 16;
  TestServer server(options);
  const std::vector<std::string> prompts = {
      "The kernel", "Each CPU keeps its own run queue", "Memory", "A", "def f(x):",
      "The load balancer moves tasks between queues when one grows longer"};
  std::vector<std::string> alone;
  for (const std::string& p : prompts) {
    const Reply r = server.post("/v1/completions", greedy_request(p, 10 + static_cast<int>(p.size() % 7)));
    ASSERT_EQ(r.status, 200) << r.body;
    alone.push_back(r.json_body()["choices"][0]["text"]);
  }
  const double calls_before = server.metric("a48_forward_calls_total");
  const double sequences_before = server.metric("a48_forward_sequences_total");
  for (int round = 0; round < 2; ++round) {
    std::vector<std::future<std::string>> together;
    for (const std::string& p : prompts) {
      together.push_back(std::async(std::launch::async, [&server, p, round] {
        json request = greedy_request(p, 10 + static_cast<int>(p.size() % 7));
        if (round == 1) request["stream"] = true;
        if (round == 0) return server.post("/v1/completions", request).json_body()["choices"][0]["text"].get<std::string>();
        std::string text;
        for (const std::string& e : server.stream("/v1/completions", request)) {
          if (e != "[DONE]") text += json::parse(e)["choices"][0]["text"].get<std::string>();
        }
        return text;
      }));
    }
    for (std::size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(together[i].get(), alone[i]) << prompts[i];
  }
  // Batching happened: some forward calls held several sequences.
  const double calls = server.metric("a48_forward_calls_total") - calls_before;
  const double sequences = server.metric("a48_forward_sequences_total") - sequences_before;
  EXPECT_GT(sequences, calls);
}

TEST(ServeScheduling, ClientThatLeavesIsCancelled) {
  ServerOptions options;
  options.max_sequences = 2;
  TestServer server(options, std::make_unique<SlowEngine>(tiny_model(), 15ms));
  // A stream the client abandons after two events.
  {
    auto client = server.client();
    httplib::Request request;
    request.method = "POST";
    request.path = "/v1/completions";
    json body = greedy_request("The kernel", 80);
    body["stream"] = true;
    request.body = body.dump();
    request.set_header("Content-Type", "application/json");
    int events = 0;
    request.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      events += static_cast<int>(std::count(data, data + n, '\n')) / 2;
      return events < 2;  // false: httplib closes the connection
    };
    client.send(request);
  }
  wait_until([&] { return server.metric("a48_requests_cancelled_total") >= 1; }, 5s, "stream cancel");
  wait_until([&] { return server.metric("a48_running_sequences") == 0; }, 5s, "slot freed");
  EXPECT_LT(server.metric("a48_generated_tokens_total"), 60) << "generation stopped early";

  // A non-streamed request whose client times out: found by the server's probes, then dropped.
  {
    auto client = server.client();
    client.set_read_timeout(300ms);
    const auto result = client.Post("/v1/completions", greedy_request("Memory", 80).dump(),
                                    "application/json");
    EXPECT_FALSE(result) << "the client should have timed out";
  }
  wait_until([&] { return server.metric("a48_requests_cancelled_total") >= 2; }, 6s, "whole cancel");
  wait_until([&] { return server.metric("a48_running_sequences") == 0; }, 5s, "slot freed");
  EXPECT_LT(server.metric("a48_generated_tokens_total"), 60 + 79);
  EXPECT_EQ(server.post("/v1/completions", greedy_request("Still", 2)).status, 200);
}

TEST(ServeScheduling, FullQueueAnswers503) {
  ServerOptions options;
  options.max_sequences = 1;
  options.max_queue = 1;
  TestServer server(options, std::make_unique<SlowEngine>(tiny_model(), 10ms));
  auto running = std::async(std::launch::async, [&] {
    return server.post("/v1/completions", greedy_request("First", 40));
  });
  wait_until([&] { return server.metric("a48_running_sequences") == 1; }, 5s, "first running");
  auto queued = std::async(std::launch::async, [&] {
    return server.post("/v1/completions", greedy_request("Second", 4));
  });
  wait_until([&] { return server.metric("a48_queue_depth") == 1; }, 5s, "second queued");
  const Reply refused = server.post("/v1/completions", greedy_request("Third", 4));
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.json_body()["error"]["code"], "server_overloaded") << refused.body;
  EXPECT_EQ(running.get().status, 200);
  EXPECT_EQ(queued.get().status, 200);
  EXPECT_EQ(server.post("/v1/completions", greedy_request("Fourth", 2)).status, 200);
}

TEST(ServeScheduling, ShutdownFinishesRunningRequestsAndRefusesNewOnes) {
  ServerOptions options;
  options.shutdown_grace = 20s;
  auto server = std::make_unique<TestServer>(options, std::make_unique<SlowEngine>(tiny_model(), 10ms));
  const int port = server->port();
  auto running = std::async(std::launch::async, [&] {
    return server->post("/v1/completions", greedy_request("The kernel", 40));
  });
  wait_until([&] { return server->metric("a48_running_sequences") == 1; }, 5s, "running");
  std::thread stopper([&] { server->server().shutdown(); });
  wait_until([&] { return server->get("/health").status == 503; }, 5s, "draining");
  const Reply late = server->post("/v1/completions", greedy_request("Late", 2));
  EXPECT_EQ(late.status, 503);
  EXPECT_EQ(late.json_body()["error"]["code"], "server_shutting_down") << late.body;
  const Reply finished = running.get();
  EXPECT_EQ(finished.status, 200);
  EXPECT_EQ(finished.json_body()["choices"][0]["finish_reason"], "length") << finished.body;
  stopper.join();
  server.reset();  // run() returned and joined
  httplib::Client after("127.0.0.1", port);
  after.set_connection_timeout(1s);
  EXPECT_FALSE(after.Get("/health")) << "nothing listens after shutdown";
}

TEST(ServeScheduling, ShutdownGraceCancelsWhatIsLeft) {
  ServerOptions options;
  options.shutdown_grace = 100ms;
  auto server = std::make_unique<TestServer>(options, std::make_unique<SlowEngine>(tiny_model(), 20ms));
  auto running = std::async(std::launch::async, [&] {
    json request = greedy_request("The kernel", 80);
    request["stream"] = true;
    return server->stream("/v1/completions", request);
  });
  wait_until([&] { return server->metric("a48_running_sequences") == 1; }, 5s, "running");
  const auto start = std::chrono::steady_clock::now();
  server.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  const std::vector<std::string> events = running.get();
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(json::parse(events[events.size() - 2])["error"]["code"], "server_shutting_down");
}

}  // namespace
}  // namespace a48::serve::test
