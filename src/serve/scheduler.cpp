#include "serve/scheduler.h"

#include <algorithm>

#include "core/error.h"
#include "serve/stop_text_filter.h"

namespace a48::serve {

struct Scheduler::Active {
  Active(std::shared_ptr<Job> j, std::unique_ptr<SequenceState> s)
      : job(std::move(j)),
        state(std::move(s)),
        sampler(job->params.sampling),
        filter(job->params.stop_strings),
        tokens(job->params.prompt) {}

  int64_t prompt_size() const { return static_cast<int64_t>(job->params.prompt.size()); }
  bool prefilling() const { return n_fed < prompt_size(); }

  std::shared_ptr<Job> job;
  std::unique_ptr<SequenceState> state;
  Sampler sampler;
  Utf8StreamDecoder decoder;
  StopTextFilter filter;
  std::vector<int32_t> tokens;  // the prompt, then each generated token (fed back next step)
  int64_t n_fed = 0;            // tokens the engine has seen
  int64_t n_generated = 0;
  std::size_t published_text = 0;
  bool done = false;
};

namespace {

// Publishes under the job's mailbox lock and wakes the HTTP thread.
template <class Update>
void publish(Job& job, Update&& update) {
  {
    std::lock_guard lock(job.mailbox->mutex);
    update(job.progress);
  }
  job.mailbox->changed.notify_all();
}

void fail_job(Job& job, const ApiError& error) {
  publish(job, [&](JobProgress& p) {
    if (p.finished) return;
    p.error = error;
    p.finished = true;
  });
}

}  // namespace

Scheduler::Scheduler(Engine& engine, const TokenTexts& texts, SchedulerOptions options,
                     Metrics& metrics)
    : engine_(engine), texts_(texts), options_(options), metrics_(metrics) {
  check(options_.max_sequences >= 1, "--max-sequences must be >= 1, got {}", options_.max_sequences);
  check(options_.max_queue >= 1, "--max-queue must be >= 1, got {}", options_.max_queue);
  check(options_.batch_tokens >= 1, "--batch-tokens must be >= 1, got {}", options_.batch_tokens);
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() { shutdown(std::chrono::milliseconds(0)); }

void Scheduler::submit(std::span<const std::shared_ptr<Job>> jobs) {
  {
    std::lock_guard lock(mutex_);
    if (draining_ || stopping_) {
      throw ApiError(503, "the server is shutting down", "server_error", {}, "server_shutting_down");
    }
    if (queue_.size() + jobs.size() > static_cast<std::size_t>(options_.max_queue)) {
      throw ApiError(503,
                     fmt::format("the server is busy: {} requests are waiting (--max-queue {}); "
                                 "retry later",
                                 queue_.size(), options_.max_queue),
                     "server_error", {}, "server_overloaded");
    }
    for (const auto& job : jobs) queue_.push_back(job);
    n_queued_ = static_cast<int64_t>(queue_.size());
  }
  wake_.notify_all();
}

void Scheduler::shutdown(std::chrono::milliseconds grace) {
  std::unique_lock lock(mutex_);
  draining_ = true;
  idle_.wait_for(lock, grace, [&] { return queue_.empty() && n_running_ == 0; });
  stopping_ = true;
  lock.unlock();
  wake_.notify_all();
  std::lock_guard join_lock(join_mutex_);
  if (thread_.joinable()) thread_.join();
}

void Scheduler::loop() {
  while (true) {
    {
      std::unique_lock lock(mutex_);
      if (queue_.empty() && running_.empty()) idle_.notify_all();
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || !running_.empty(); });
      if (stopping_) break;
    }
    try {
      admit();
      step();
    } catch (const std::exception& e) {  // a bug: fail what was running, keep serving
      const ApiError error(500, fmt::format("internal error: {}", e.what()), "server_error");
      for (const auto& active : running_) fail_job(*active->job, error);
      running_.clear();
    }
    n_running_ = static_cast<int64_t>(running_.size());
  }
  fail_all(ApiError(503, "the server is shutting down", "server_error", {}, "server_shutting_down"));
}

void Scheduler::fail_all(const ApiError& error) {
  std::deque<std::shared_ptr<Job>> queued;
  {
    std::lock_guard lock(mutex_);
    queued.swap(queue_);
    n_queued_ = 0;
  }
  for (const auto& job : queued) fail_job(*job, error);
  for (const auto& active : running_) fail_job(*active->job, error);
  running_.clear();
  n_running_ = 0;
}

void Scheduler::admit() {
  while (static_cast<int>(running_.size()) < options_.max_sequences) {
    std::shared_ptr<Job> job;
    {
      std::lock_guard lock(mutex_);
      if (queue_.empty()) break;
      job = std::move(queue_.front());
      queue_.pop_front();
      n_queued_ = static_cast<int64_t>(queue_.size());
    }
    if (job->cancelled) {
      metrics_.count_cancelled();
      continue;
    }
    const GenerationParams& params = job->params;
    const auto prompt_size = static_cast<int64_t>(params.prompt.size());
    if (params.max_tokens == 0 && (!params.prompt_logprobs || prompt_size < 2)) {
      publish(*job, [](JobProgress& p) {  // nothing to run
        p.finished = true;
        p.finish_reason = "length";
      });
      continue;
    }
    try {
      const int64_t capacity = std::min(prompt_size + params.max_tokens,
                                        engine_.config().max_position_embeddings);
      running_.push_back(std::make_unique<Active>(job, engine_.new_sequence(capacity)));
    } catch (const std::exception& e) {
      fail_job(*job, ApiError(500, fmt::format("cannot start the sequence: {}", e.what()),
                              "server_error"));
    }
  }
  n_running_ = static_cast<int64_t>(running_.size());
}

void Scheduler::drop_cancelled() {
  const auto removed = std::erase_if(running_, [](const std::unique_ptr<Active>& a) {
    return a->job->cancelled.load();
  });
  for (std::size_t i = 0; i < removed; ++i) metrics_.count_cancelled();
}

void Scheduler::step() {
  drop_cancelled();
  if (running_.empty()) return;

  // One forward call: a decode token for every running sequence, then prefill chunks.
  std::vector<EngineStep> batch;
  std::vector<Active*> owners;
  int64_t n_tokens = 0;
  for (const auto& a : running_) {
    if (a->prefilling()) continue;
    batch.push_back({a->state.get(), std::span<const int32_t>(&a->tokens[a->n_fed], 1), false});
    owners.push_back(a.get());
    ++n_tokens;
  }
  int64_t budget = std::max<int64_t>(options_.batch_tokens - n_tokens, 1);
  for (const auto& a : running_) {
    if (!a->prefilling() || budget == 0) continue;
    const int64_t len = std::min(a->prompt_size() - a->n_fed, budget);
    batch.push_back({a->state.get(), std::span<const int32_t>(a->tokens.data() + a->n_fed, len),
                     a->job->params.prompt_logprobs});
    owners.push_back(a.get());
    budget -= len;
    n_tokens += len;
  }

  std::vector<float> logits;
  const auto start = std::chrono::steady_clock::now();
  try {
    logits = engine_.forward(batch);
  } catch (const std::exception& e) {  // the contract left every state as it was; fail the batch
    const ApiError error(500, fmt::format("engine error: {}", e.what()), "server_error");
    for (Active* a : owners) {
      fail_job(*a->job, error);
      a->done = true;
    }
    std::erase_if(running_, [](const std::unique_ptr<Active>& a) { return a->done; });
    return;
  }
  metrics_.add_forward(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), n_tokens,
      static_cast<int64_t>(batch.size()));

  const int64_t vocab = engine_.config().vocab_size;
  int64_t row = 0;
  for (std::size_t s = 0; s < batch.size(); ++s) {
    Active& a = *owners[s];
    const GenerationParams& params = a.job->params;
    const auto len = static_cast<int64_t>(batch[s].tokens.size());
    const int64_t rows = batch[s].all_logits ? len : 1;
    auto row_logits = [&](int64_t r) {
      return std::span<const float>(logits.data() + (row + r) * vocab, vocab);
    };
    const bool was_prefill = a.prefilling();
    const int64_t begin = a.n_fed;
    a.n_fed += len;
    std::vector<TokenLogprobEntry> prompt_scores;
    std::optional<TokenLogprobEntry> generated;
    std::string finish_reason;

    if (was_prefill) {
      if (params.prompt_logprobs) {
        // Row j predicts prompt token begin + j + 1.
        for (int64_t j = 0; j < len && begin + j + 1 < a.prompt_size(); ++j) {
          prompt_scores.push_back(token_logprob_entry(row_logits(j), params.prompt[begin + j + 1],
                                                      std::max(params.logprobs, 0)));
        }
      }
    }
    const bool sample_now = !a.prefilling() && params.max_tokens > a.n_generated;
    if (was_prefill && !a.prefilling() && params.max_tokens == 0) finish_reason = "length";
    if (sample_now) {
      const std::span<const float> next = row_logits(rows - 1);
      const int32_t id = a.sampler.sample(next, a.tokens);
      ++a.n_generated;
      const bool is_stop_token = std::find(params.stop_token_ids.begin(), params.stop_token_ids.end(),
                                           id) != params.stop_token_ids.end();
      if (is_stop_token) {
        finish_reason = "stop";
      } else {
        a.tokens.push_back(id);
        generated = params.logprobs >= 0 ? token_logprob_entry(next, id, params.logprobs)
                                         : TokenLogprobEntry{id, 0, {}};
        if (a.filter.push(a.decoder.push(texts_.visible(id)))) {
          finish_reason = "stop";
        } else if (a.n_generated >= params.max_tokens) {
          finish_reason = "length";
        }
      }
    }
    if (!finish_reason.empty()) {
      if (!a.filter.stopped() && a.filter.push(a.decoder.flush())) finish_reason = "stop";
      a.filter.finish();
      a.done = true;
    }
    // Counters and the running gauge move before the job sees its result, so that a client that
    // reads /metrics right after its response finds its request counted.
    if (was_prefill) metrics_.add_prompt_tokens(len);
    if (sample_now) metrics_.add_generated_tokens(1);
    if (a.done) n_running_.fetch_sub(1);
    const std::string& text = a.filter.text();
    publish(*a.job, [&](JobProgress& p) {
      p.prompt_scores.insert(p.prompt_scores.end(), prompt_scores.begin(), prompt_scores.end());
      if (generated) p.tokens.push_back(std::move(*generated));
      p.n_generated = a.n_generated;
      p.text.append(text, a.published_text);
      if (a.done) {
        p.finished = true;
        p.finish_reason = finish_reason;
      }
    });
    a.published_text = text.size();
    row += rows;
  }
  std::erase_if(running_, [](const std::unique_ptr<Active>& a) { return a->done; });
}

}  // namespace a48::serve
