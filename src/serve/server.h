// `a48 serve`: an OpenAI-compatible HTTP server over one Engine (cpp-httplib).
//   POST /v1/completions, /v1/chat/completions  (JSON or SSE with "stream": true)
//   GET  /v1/models, /health, /metrics (Prometheus text), / (a chat page)
// Requests become jobs for the continuous-batching scheduler (serve/scheduler.h); the HTTP thread
// of each request streams the job's progress and cancels it when the client goes away.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "model/engine.h"
#include "serve/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace a48::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless asked otherwise
  int port = 8080;                 // 0: any free port (bind() says which)
  std::string api_key;             // when set, /v1/* and /metrics need "Authorization: Bearer KEY"
  std::string model_name = "a48";  // the id /v1/models lists and responses carry
  int max_sequences = 8;           // sequences decoded together
  int max_queue = 32;              // requests waiting beyond those; more get 503
  int batch_tokens = 256;          // tokens per forward call (decodes + prefill chunks)
  int64_t context = 0;             // positions per sequence; 0 = the model's
  ChatTemplate chat_template = ChatTemplate::plain;
  std::chrono::milliseconds shutdown_grace{10000};  // running requests may finish in this time
  int http_threads = 0;  // 0: max_sequences + max_queue + 4 (every waiting request holds one)
};

struct ServedModel {
  std::unique_ptr<Engine> engine;
  Tokenizer tokenizer;
  std::optional<int32_t> bos_id, eos_id;
};

class Server {
 public:
  Server(ServedModel model, ServerOptions options);  // throws a48::Error on bad options
  ~Server();  // shuts down if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int bind();  // binds host:port; returns the port (throws a48::Error when it cannot)
  void run();  // serves until shutdown(); call after bind()
  // Thread-safe and idempotent: refuses new requests (503), lets running ones finish within the
  // grace time, cancels the rest, and makes run() return.
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace a48::serve
