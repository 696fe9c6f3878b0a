#include "serve/metrics.h"

#include <fmt/format.h>

namespace a48::serve {

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[{endpoint, status}];
}

void Metrics::count_cancelled() {
  std::lock_guard lock(mutex_);
  ++cancelled_;
}

void Metrics::add_prompt_tokens(int64_t n) {
  std::lock_guard lock(mutex_);
  prompt_tokens_ += n;
}

void Metrics::add_generated_tokens(int64_t n) {
  std::lock_guard lock(mutex_);
  generated_tokens_ += n;
  const auto now = Clock::now();
  recent_generated_.emplace_back(now, n);
  while (!recent_generated_.empty() &&
         now - recent_generated_.front().first > std::chrono::duration<double>(kRateWindowSeconds))
    recent_generated_.pop_front();
}

void Metrics::add_forward(double seconds, int64_t tokens, int64_t sequences) {
  std::lock_guard lock(mutex_);
  ++forward_calls_;
  forward_seconds_ += seconds;
  forward_tokens_ += tokens;
  forward_sequences_ += sequences;
}

void Metrics::observe_request_seconds(double seconds) {
  std::lock_guard lock(mutex_);
  request_seconds_sum_ += seconds;
  ++request_seconds_count_;
}

std::string Metrics::render(int64_t queued, int64_t running, int64_t max_sequences) const {
  std::lock_guard lock(mutex_);
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  metric("a48_requests_total", "counter", "HTTP requests by endpoint and status");
  for (const auto& [key, count] : requests_) {
    out += fmt::format("a48_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first,
                       key.second, count);
  }
  metric("a48_requests_cancelled_total", "counter", "Generations dropped because the client left");
  out += fmt::format("a48_requests_cancelled_total {}\n", cancelled_);
  metric("a48_prompt_tokens_total", "counter", "Prompt tokens run through the model");
  out += fmt::format("a48_prompt_tokens_total {}\n", prompt_tokens_);
  metric("a48_generated_tokens_total", "counter", "Tokens generated");
  out += fmt::format("a48_generated_tokens_total {}\n", generated_tokens_);

  int64_t window_tokens = 0;
  const auto now = Clock::now();
  for (const auto& [when, n] : recent_generated_)
    if (now - when <= std::chrono::duration<double>(kRateWindowSeconds)) window_tokens += n;
  metric("a48_generation_tokens_per_second", "gauge", "Generated tokens/s over the last 10 s");
  out += fmt::format("a48_generation_tokens_per_second {:.3f}\n", window_tokens / kRateWindowSeconds);

  metric("a48_queue_depth", "gauge", "Requests waiting for a sequence slot");
  out += fmt::format("a48_queue_depth {}\n", queued);
  metric("a48_running_sequences", "gauge", "Sequences in the running batch");
  out += fmt::format("a48_running_sequences {}\n", running);
  metric("a48_max_sequences", "gauge", "Sequence slots (--max-sequences)");
  out += fmt::format("a48_max_sequences {}\n", max_sequences);
  metric("a48_forward_calls_total", "counter", "Engine forward calls (scheduler steps)");
  out += fmt::format("a48_forward_calls_total {}\n", forward_calls_);
  metric("a48_forward_tokens_total", "counter", "Tokens fed to the engine");
  out += fmt::format("a48_forward_tokens_total {}\n", forward_tokens_);
  metric("a48_forward_sequences_total", "counter", "Sequences summed over forward calls");
  out += fmt::format("a48_forward_sequences_total {}\n", forward_sequences_);
  metric("a48_forward_seconds_total", "counter", "Wall time inside Engine::forward");
  out += fmt::format("a48_forward_seconds_total {:.6f}\n", forward_seconds_);
  metric("a48_request_duration_seconds", "summary", "Completion request wall time");
  out += fmt::format("a48_request_duration_seconds_sum {:.6f}\n", request_seconds_sum_);
  out += fmt::format("a48_request_duration_seconds_count {}\n", request_seconds_count_);
  return out;
}

}  // namespace a48::serve
