#include "serve/server.h"

#include <httplib.h>

#include <csignal>
#include <condition_variable>
#include <ctime>

#include "core/error.h"
#include "serve/api_error.h"
#include "serve/chat_page.h"
#include "serve/completion_request.h"
#include "serve/completion_response.h"
#include "serve/metrics.h"
#include "serve/scheduler.h"

namespace a48::serve {
namespace {

using Clock = std::chrono::steady_clock;
// While a request waits, the connection is probed this often (an SSE comment, or a space before
// a JSON body, which JSON allows): writing to a closed connection is how a departed client shows.
constexpr auto kProbeInterval = std::chrono::milliseconds(1000);
constexpr auto kPollInterval = std::chrono::milliseconds(200);
constexpr std::size_t kMaxBodyBytes = 16u << 20;

void set_error(httplib::Response& res, const ApiError& error) {
  res.status = error.status();
  if (error.status() == 503) res.set_header("Retry-After", "1");
  res.set_content(dump_json(error.body()), "application/json");
}

// A bounded set of metric labels, whatever paths clients try.
std::string endpoint_label(const std::string& path) {
  for (const char* known : {"/v1/completions", "/v1/chat/completions", "/v1/models", "/health",
                            "/metrics", "/"}) {
    if (path == known) return known;
  }
  return "other";
}

// One accepted completion request while its jobs run: owns the request the response reads.
struct PendingResponse {
  PendingResponse(CompletionRequest r, std::vector<std::shared_ptr<Job>> j,
                  std::shared_ptr<Mailbox> m, const TokenTexts& texts, const std::string& model)
      : request(std::move(r)), jobs(j), mailbox(std::move(m)), response(request, j, texts, model) {}
  CompletionRequest request;
  std::vector<std::shared_ptr<Job>> jobs;
  std::shared_ptr<Mailbox> mailbox;
  CompletionResponse response;  // guarded by mailbox->mutex
  Clock::time_point start = Clock::now();

  void cancel() {
    for (const auto& job : jobs) job->cancelled = true;
  }
};

}  // namespace

struct Server::Impl {
  Impl(ServedModel m, ServerOptions o);
  void add_routes();
  bool authorized(const httplib::Request& req) const;
  void handle_completion(const httplib::Request& req, httplib::Response& res, bool chat);
  bool write_stream(PendingResponse& pending, httplib::DataSink& sink);
  bool write_whole(PendingResponse& pending, httplib::DataSink& sink);

  ServedModel model;
  ServerOptions options;
  TokenTexts texts;
  ModelLimits limits;
  Metrics metrics;
  Scheduler scheduler;
  httplib::Server http;
  int64_t created = static_cast<int64_t>(std::time(nullptr));
  std::atomic<bool> draining{false};
  bool bound = false;

  std::mutex run_mutex;  // run()/shutdown() handshake
  std::condition_variable run_changed;
  bool running = false, shut_down = false;
};

Server::Impl::Impl(ServedModel m, ServerOptions o)
    : model(std::move(m)),
      options(std::move(o)),
      texts(model.tokenizer, model.engine ? model.engine->config().vocab_size : 0),
      scheduler(*model.engine,
                texts,
                {options.max_sequences, options.max_queue, options.batch_tokens},
                metrics) {
  const ModelConfig& config = model.engine->config();
  const int64_t context = options.context > 0 ? options.context : config.max_position_embeddings;
  check(context <= config.max_position_embeddings,
        "--ctx {} exceeds the model's max_position_embeddings {}", context,
        config.max_position_embeddings);
  limits = {&model.tokenizer, model.bos_id,      model.eos_id, config.vocab_size,
            context,          options.chat_template, options.max_queue};
  add_routes();
}

bool Server::Impl::authorized(const httplib::Request& req) const {
  if (options.api_key.empty()) return true;
  const std::string expected = "Bearer " + options.api_key;
  const std::string given = req.get_header_value("Authorization");
  // Compare every byte whatever the first difference, so timing does not leak the key.
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size() && i < expected.size(); ++i)
    diff |= static_cast<unsigned char>(given[i] ^ expected[i]);
  return diff == 0;
}

void Server::Impl::add_routes() {
  const int threads = options.http_threads > 0 ? options.http_threads
                                               : options.max_sequences + options.max_queue + 4;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http.set_payload_max_length(kMaxBodyBytes);

  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    const bool protected_path = req.path.rfind("/v1/", 0) == 0 || req.path == "/metrics";
    if (protected_path && !authorized(req)) {
      set_error(res, ApiError(401, "missing or wrong API key (Authorization: Bearer KEY)",
                              "invalid_request_error", {}, "invalid_api_key"));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const std::string message =
        res.status == 404   ? "no route for " + req.method + " " + req.path
        : res.status == 413 ? "the request body is too large"
                            : "the request could not be served (HTTP " + std::to_string(res.status) + ")";
    res.set_content(dump_json(error_body(message, "invalid_request_error")), "application/json");
  });
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr error) {
        std::string what = "unknown";
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        set_error(res, ApiError(500, "internal error: " + what, "server_error"));
      });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics.count_request(endpoint_label(req.path), res.status);
  });

  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(chat_page_html()), "text/html; charset=utf-8");
  });
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (draining) {
      res.status = 503;
      res.set_content(R"({"status":"shutting down"})", "application/json");
    } else {
      res.set_content(R"({"status":"ok"})", "application/json");
    }
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.render(scheduler.queued(), scheduler.running(), options.max_sequences),
                    "text/plain; version=0.0.4");
  });
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    const nlohmann::json model_entry = {{"id", options.model_name},
                                        {"object", "model"},
                                        {"created", created},
                                        {"owned_by", "a48"},
                                        {"max_model_len", limits.context}};
    res.set_content(dump_json({{"object", "list"}, {"data", nlohmann::json::array({model_entry})}}),
                    "application/json");
  });
  http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_completion(req, res, false);
  });
  http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_completion(req, res, true);
  });
}

void Server::Impl::handle_completion(const httplib::Request& req, httplib::Response& res,
                                     bool chat) {
  try {
    if (draining) {
      throw ApiError(503, "the server is shutting down", "server_error", {}, "server_shutting_down");
    }
    CompletionRequest request =
        chat ? parse_chat_request(req.body, limits) : parse_completion_request(req.body, limits);
    auto mailbox = std::make_shared<Mailbox>();
    std::vector<std::shared_ptr<Job>> jobs;
    for (GenerationParams& params : request.jobs) {
      jobs.push_back(std::make_shared<Job>(std::move(params), mailbox));
    }
    scheduler.submit(jobs);
    const bool stream = request.stream;
    auto pending = std::make_shared<PendingResponse>(std::move(request), std::move(jobs),
                                                     std::move(mailbox), texts, options.model_name);
    auto release = [this, pending](bool success) {
      if (!success) pending->cancel();  // the client left, or the server is stopping
      metrics.observe_request_seconds(
          std::chrono::duration<double>(Clock::now() - pending->start).count());
    };
    if (stream) {
      res.set_header("Cache-Control", "no-cache");
      res.set_chunked_content_provider(
          "text/event-stream",
          [this, pending](size_t, httplib::DataSink& sink) { return write_stream(*pending, sink); },
          release);
    } else {
      res.set_chunked_content_provider(
          "application/json",
          [this, pending](size_t, httplib::DataSink& sink) { return write_whole(*pending, sink); },
          release);
    }
  } catch (const ApiError& error) {
    set_error(res, error);
  } catch (const Error& error) {  // a bad value that only the model code noticed
    set_error(res, bad_request(error.what()));
  }
}

bool Server::Impl::write_stream(PendingResponse& pending, httplib::DataSink& sink) {
  auto last_write = Clock::now();
  while (true) {
    std::string events;
    bool done = false;
    {
      std::unique_lock lock(pending.mailbox->mutex);
      pending.mailbox->changed.wait_for(lock, kPollInterval, [&] {
        events = pending.response.stream_events();
        return !events.empty();
      });
      done = pending.response.stream_done();
    }
    if (events.empty() && Clock::now() - last_write >= kProbeInterval) events = ": waiting\n\n";
    if (!events.empty()) {
      if (!sink.write(events.data(), events.size())) {
        pending.cancel();
        return false;
      }
      last_write = Clock::now();
    }
    if (done) {
      sink.done();
      return true;
    }
  }
}

bool Server::Impl::write_whole(PendingResponse& pending, httplib::DataSink& sink) {
  auto last_write = Clock::now();
  while (true) {
    std::string body;
    {
      std::unique_lock lock(pending.mailbox->mutex);
      if (pending.mailbox->changed.wait_for(lock, kPollInterval,
                                            [&] { return pending.response.all_finished(); })) {
        const ApiError* error = pending.response.first_error();
        body = dump_json(error ? error->body() : pending.response.body());
      }
    }
    if (!body.empty()) {
      if (!sink.write(body.data(), body.size())) return false;
      sink.done();
      return true;
    }
    if (Clock::now() - last_write >= kProbeInterval) {
      if (!sink.write(" ", 1)) {
        pending.cancel();
        return false;
      }
      last_write = Clock::now();
    }
  }
}

Server::Server(ServedModel model, ServerOptions options) {
  check(model.engine != nullptr, "serve: no engine");
  // A client that disconnects mid-write must give EPIPE, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  impl_ = std::make_unique<Impl>(std::move(model), std::move(options));
}

Server::~Server() { shutdown(); }

int Server::bind() {
  Impl& s = *impl_;
  int port = s.options.port;
  if (port == 0) {
    port = s.http.bind_to_any_port(s.options.host);
  } else if (!s.http.bind_to_port(s.options.host, port)) {
    port = -1;
  }
  check(port > 0, "cannot listen on {}:{} (address in use, or not an address of this machine?)",
        s.options.host, s.options.port);
  s.bound = true;
  return port;
}

void Server::run() {
  Impl& s = *impl_;
  check(s.bound, "serve: run() before bind()");
  {
    std::lock_guard lock(s.run_mutex);
    if (s.shut_down) return;
    s.running = true;
  }
  s.http.listen_after_bind();
  {
    std::lock_guard lock(s.run_mutex);
    s.running = false;
  }
  s.run_changed.notify_all();
}

void Server::shutdown() {
  Impl& s = *impl_;
  if (s.draining.exchange(true)) {  // another thread is shutting down: wait for it
    std::unique_lock lock(s.run_mutex);
    s.run_changed.wait(lock, [&] { return s.shut_down; });
    return;
  }
  s.scheduler.shutdown(s.options.shutdown_grace);  // every job is finished or failed now
  std::unique_lock lock(s.run_mutex);
  s.shut_down = true;
  // listen_after_bind() may not have started listening yet: stop until run() has returned.
  while (s.running) {
    s.http.stop();
    s.run_changed.wait_for(lock, std::chrono::milliseconds(10));
  }
  s.run_changed.notify_all();
}

}  // namespace a48::serve
