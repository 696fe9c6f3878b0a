// A real `a48 serve` server in-process on an ephemeral loopback port, over a tiny random model and
// the a48 tokenizer, for the HTTP tests; and the engine-side answers the tests check it against.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "model/reference_engine.h"
#include "model/token_logprobs.h"
#include "model/weights.h"
#include "serve/server.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace a48::serve::test {

using nlohmann::json;

// d = 64, L = 2, the a4.8 scheme; V = 8200 > the tokenizer's 8192, so some valid ids have no text.
inline std::shared_ptr<const Model> tiny_model() {
  static const std::shared_ptr<const Model> model = [] {
    ModelConfig c;
    c.hidden_size = 64;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.intermediate_size = 160;
    c.vocab_size = 8200;
    c.max_position_embeddings = 96;
    c.activation_scheme = ActivationScheme::a48;
    return std::make_shared<const Model>(make_random_model(c, 11));
  }();
  return model;
}

inline Tokenizer load_tokenizer() {
  return Tokenizer::from_hf_json(a48::test::source_dir() / "models/tokenizer/tokenizer.json");
}

// The reference engine, slowed by a fixed delay per forward call, so that a request is still
// running when a test cancels it or shuts the server down.
class SlowEngine final : public Engine {
 public:
  SlowEngine(std::shared_ptr<const Model> model, std::chrono::milliseconds delay)
      : inner_(std::move(model)), delay_(delay) {}
  const ModelConfig& config() const override { return inner_.config(); }
  std::string describe() const override { return "reference, slowed"; }
  std::unique_ptr<SequenceState> new_sequence(int64_t capacity) override {
    return inner_.new_sequence(capacity);
  }
  std::vector<float> forward(std::span<const EngineStep> batch, SparsityStats* sparsity) override {
    std::this_thread::sleep_for(delay_);
    return inner_.forward(batch, sparsity);
  }

 private:
  ReferenceEngine inner_;
  std::chrono::milliseconds delay_;
};

struct Reply {
  int status = 0;
  std::string body;
  json json_body() const { return json::parse(body); }
};

// A running server; shut down and joined on destruction.
class TestServer {
 public:
  explicit TestServer(ServerOptions options = {}, std::unique_ptr<Engine> engine = nullptr) {
    if (!engine) engine = std::make_unique<ReferenceEngine>(tiny_model());
    Tokenizer tokenizer = load_tokenizer();
    const auto bos = tokenizer.bos_id(), eos = tokenizer.eos_id();
    options.host = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<Server>(ServedModel{std::move(engine), std::move(tokenizer), bos, eos},
                                       options);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->run(); });
    // Ready once /health answers.
    for (int i = 0; i < 500 && get("/health").status != 200; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ~TestServer() {
    server_->shutdown();
    thread_.join();
  }

  int port() const { return port_; }
  Server& server() { return *server_; }

  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(std::chrono::seconds(60));
    return c;
  }
  Reply get(const std::string& path, const httplib::Headers& headers = {}) const {
    auto c = client();
    auto result = c.Get(path.c_str(), headers);
    return result ? Reply{result->status, result->body} : Reply{};
  }
  Reply post_raw(const std::string& path, const std::string& body,
                 const httplib::Headers& headers = {}) const {
    auto c = client();
    auto result = c.Post(path.c_str(), headers, body, "application/json");
    return result ? Reply{result->status, result->body} : Reply{};
  }
  Reply post(const std::string& path, const json& body, const httplib::Headers& headers = {}) const {
    return post_raw(path, body.dump(), headers);
  }
  // The data payloads of a streamed request's server-sent events ("[DONE]" included).
  std::vector<std::string> stream(const std::string& path, const json& body) const;

  // A metric's value from /metrics (-1 when absent).
  double metric(const std::string& name) const;

 private:
  std::unique_ptr<Server> server_;
  int port_ = 0;
  std::thread thread_;
};

inline std::vector<std::string> TestServer::stream(const std::string& path, const json& body) const {
  auto c = client();
  std::string raw;
  httplib::Request request;
  request.method = "POST";
  request.path = path;
  request.body = body.dump();
  request.set_header("Content-Type", "application/json");
  request.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    raw.append(data, n);
    return true;
  };
  auto result = c.send(request);
  EXPECT_TRUE(result) << "stream request failed";
  if (result) {
    EXPECT_EQ(result->status, 200) << raw;
  }
  std::vector<std::string> events;
  std::size_t at = 0;
  while (true) {
    const std::size_t end = raw.find("\n\n", at);
    if (end == std::string::npos) break;
    const std::string event = raw.substr(at, end - at);
    at = end + 2;
    if (event.rfind("data: ", 0) == 0) events.push_back(event.substr(6));
  }
  return events;
}

inline double TestServer::metric(const std::string& name) const {
  const Reply reply = get("/metrics");
  std::size_t at = 0;
  while ((at = reply.body.find(name + " ", at)) != std::string::npos) {
    if (at == 0 || reply.body[at - 1] == '\n') {
      return std::stod(reply.body.substr(at + name.size() + 1));
    }
    at += name.size();
  }
  return -1;
}

// Engine-side answers, computed without the server.
// log p(ids[i] | ids[<i]) for i >= 1, from one all-logits forward over the whole sequence.
inline std::vector<double> engine_logprobs(const std::vector<int32_t>& ids) {
  ReferenceEngine engine(tiny_model());
  auto sequence = engine.new_sequence(static_cast<int64_t>(ids.size()));
  const EngineStep step{sequence.get(), ids, true};
  const std::vector<float> logits = engine.forward({&step, 1});
  const int64_t vocab = engine.config().vocab_size;
  std::vector<double> out;
  for (std::size_t i = 1; i < ids.size(); ++i) {
    out.push_back(logprob_of({logits.data() + (i - 1) * vocab, static_cast<std::size_t>(vocab)},
                             ids[i])
                      .logprob);
  }
  return out;
}

// Greedy continuation of `ids` by `n` tokens, one token per forward call.
inline std::vector<int32_t> engine_greedy(std::vector<int32_t> ids, int n) {
  ReferenceEngine engine(tiny_model());
  auto sequence = engine.new_sequence(static_cast<int64_t>(ids.size()) + n);
  const int64_t vocab = engine.config().vocab_size;
  std::vector<int32_t> out;
  std::vector<int32_t> feed = ids;
  for (int i = 0; i < n; ++i) {
    const EngineStep step{sequence.get(), feed, false};
    const std::vector<float> logits = engine.forward({&step, 1});
    const auto best = std::max_element(logits.begin(), logits.begin() + vocab) - logits.begin();
    out.push_back(static_cast<int32_t>(best));
    feed = {static_cast<int32_t>(best)};
  }
  return out;
}

}  // namespace a48::serve::test
