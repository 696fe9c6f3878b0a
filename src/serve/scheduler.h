// Continuous batching. One thread owns the Engine; each step it admits queued jobs into free
// sequence slots and makes ONE Engine::forward call holding a decode token for every running
// sequence plus chunks of prefill (newest prompts, in arrival order) up to a token budget; then it
// samples, applies stop conditions and publishes each job's progress. Sequences join and leave
// between steps, so a long prompt never stalls the others' decoding for more than one chunk.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <thread>

#include "model/engine.h"
#include "serve/job.h"
#include "serve/metrics.h"
#include "serve/token_texts.h"

namespace a48::serve {

struct SchedulerOptions {
  int max_sequences = 8;   // running sequences (KV caches) at once
  int max_queue = 32;      // jobs waiting for a slot; beyond it submit() refuses
  int batch_tokens = 256;  // tokens per forward call: decodes first, prefill chunks fill the rest
};

class Scheduler {
 public:
  Scheduler(Engine& engine, const TokenTexts& texts, SchedulerOptions options, Metrics& metrics);
  ~Scheduler();  // cancels what is left and joins
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues every job or none: throws ApiError 503 when the queue lacks room or when shutting down.
  void submit(std::span<const std::shared_ptr<Job>> jobs);
  // Stops admitting; waits up to `grace` for queued and running jobs to finish, then fails the
  // rest (503) and joins the thread. Idempotent.
  void shutdown(std::chrono::milliseconds grace);

  int64_t queued() const { return n_queued_.load(); }
  int64_t running() const { return n_running_.load(); }
  const SchedulerOptions& options() const { return options_; }

 private:
  struct Active;
  void loop();
  void admit();
  void step();
  void drop_cancelled();
  void fail_all(const ApiError& error);

  Engine& engine_;
  const TokenTexts& texts_;
  const SchedulerOptions options_;
  Metrics& metrics_;

  std::mutex mutex_;  // guards queue_, draining_, stopping_
  std::mutex join_mutex_;  // shutdown() may be called from several threads
  std::condition_variable wake_;  // work arrived or stop
  std::condition_variable idle_;  // the scheduler ran out of work
  std::deque<std::shared_ptr<Job>> queue_;
  bool draining_ = false, stopping_ = false;
  std::vector<std::unique_ptr<Active>> running_;  // the scheduler thread's own
  std::atomic<int64_t> n_queued_{0}, n_running_{0};
  std::thread thread_;
};

}  // namespace a48::serve
