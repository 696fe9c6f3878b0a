// `a48 serve`: the OpenAI-compatible HTTP server (serve/server.h) over a model directory.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <pthread.h>

#include <atomic>
#include <csignal>
#include <thread>

#include "cli/app.h"
#include "cli/engine_options.h"
#include "cli/model_session.h"
#include "core/error.h"
#include "serve/server.h"

namespace a48::cli {
namespace {

struct ServeOptions {
  ModelOptions model;
  EngineOptions engine;
  serve::ServerOptions server;
  std::string chat_template = "auto";
  double shutdown_grace_s = 10;
};

void run_serve(ServeOptions& options) {
  check(options.server.port >= 0 && options.server.port <= 65535, "--port must be in [0, 65535]");
  check(options.shutdown_grace_s >= 0, "--shutdown-grace must be >= 0");
  // SIGINT/SIGTERM go to one waiting thread, which shuts the server down gracefully: block them
  // before any thread starts (the engine's pool, the server's) so that every thread inherits it.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ModelSession session = open_model(options.model);
  serve::ServerOptions& server_options = options.server;
  server_options.chat_template = options.chat_template == "auto"
                                     ? serve::detect_chat_template(session.dir)
                                     : serve::parse_chat_template(options.chat_template);
  if (server_options.model_name.empty()) {
    server_options.model_name = session.dir.filename().string();
    if (server_options.model_name.empty()) server_options.model_name = "a48";
  }
  server_options.shutdown_grace = std::chrono::milliseconds(
      static_cast<int64_t>(options.shutdown_grace_s * 1000));
  if (server_options.api_key.empty()) {
    if (const char* key = std::getenv("A48_API_KEY"); key && *key) server_options.api_key = key;
  }

  const std::optional<int32_t> bos = session.bos_id(), eos = session.eos_id();
  auto model = std::make_shared<const Model>(std::move(session.model));
  std::unique_ptr<Engine> engine = make_engine(model, options.engine);
  const std::string engine_name = engine->describe();
  const int64_t context = server_options.context > 0 ? server_options.context
                                                     : model->config.max_position_embeddings;

  serve::Server server({std::move(engine), std::move(session.tokenizer), bos, eos}, server_options);
  const int port = server.bind();
  fmt::print(stderr,
             "a48 serve: {} on http://{}:{} (engine: {}; context {}; {} sequences, queue {}; "
             "chat template {}{})\n",
             server_options.model_name, server_options.host, port, engine_name, context,
             server_options.max_sequences, server_options.max_queue,
             to_string(server_options.chat_template),
             server_options.api_key.empty() ? "" : "; API key required");
  std::atomic<bool> signalled{false};
  std::thread signal_thread([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    signalled = true;
    fmt::print(stderr, "a48 serve: {} received, shutting down\n", signal == SIGINT ? "SIGINT" : "SIGTERM");
    server.shutdown();
  });
  server.run();
  if (!signalled) pthread_kill(signal_thread.native_handle(), SIGTERM);  // run() ended on its own
  signal_thread.join();
  fmt::print(stderr, "a48 serve: stopped\n");
}

}  // namespace

void register_serve(CLI::App& app) {
  auto options = std::make_shared<ServeOptions>();
  options->server.model_name.clear();  // default: the model directory's name
  CLI::App* command =
      app.add_subcommand("serve", "OpenAI-compatible HTTP server (completions, chat, a chat page)");
  add_model_options(*command, options->model);
  add_engine_options(*command, options->engine);
  serve::ServerOptions& s = options->server;
  command->add_option("--host", s.host, "Address to listen on")->capture_default_str();
  command->add_option("--port", s.port, "Port; 0 picks a free one")->capture_default_str();
  command->add_option("--api-key", s.api_key,
                      "Require 'Authorization: Bearer KEY' on /v1/* and /metrics "
                      "(default: $A48_API_KEY, else none)");
  command->add_option("--model-name", s.model_name,
                      "Model id in /v1/models and responses (default: the directory's name)");
  command->add_option("--max-sequences", s.max_sequences, "Sequences decoded together")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--max-queue", s.max_queue,
                      "Requests waiting for a sequence slot; beyond it the server answers 503")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--batch-tokens", s.batch_tokens,
                      "Tokens per forward call (one per decoding sequence + prefill chunks)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("-c,--ctx", s.context, "Context per sequence (default: the model's)");
  command->add_option("--chat-template", options->chat_template,
                      "auto (from tokenizer_config.json, else plain), plain, chatml or llama3")
      ->check(CLI::IsMember({"auto", "plain", "chatml", "llama3"}))
      ->capture_default_str();
  command->add_option("--shutdown-grace", options->shutdown_grace_s,
                      "Seconds running requests may take to finish on SIGINT/SIGTERM")
      ->capture_default_str();
  command->add_option("--http-threads", s.http_threads,
                      "HTTP worker threads (default: max-sequences + max-queue + 4)");
  command->callback([options] { run_serve(*options); });
}

}  // namespace a48::cli
