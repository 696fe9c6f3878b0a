// Server counters in Prometheus' text exposition format (GET /metrics).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace a48::serve {

class Metrics {
 public:
  void count_request(const std::string& endpoint, int status);
  void count_cancelled();
  void add_prompt_tokens(int64_t n);
  void add_generated_tokens(int64_t n);
  // One Engine::forward call: its wall time, tokens fed and sequences in the batch.
  void add_forward(double seconds, int64_t tokens, int64_t sequences);
  void observe_request_seconds(double seconds);

  // queued / running: the scheduler's current depths.
  std::string render(int64_t queued, int64_t running, int64_t max_sequences) const;

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr double kRateWindowSeconds = 10;

  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, int64_t> requests_;  // (endpoint, status) -> count
  int64_t cancelled_ = 0, prompt_tokens_ = 0, generated_tokens_ = 0;
  int64_t forward_calls_ = 0, forward_tokens_ = 0, forward_sequences_ = 0;
  double forward_seconds_ = 0, request_seconds_sum_ = 0;
  int64_t request_seconds_count_ = 0;
  std::deque<std::pair<Clock::time_point, int64_t>> recent_generated_;  // for tokens/s
};

}  // namespace a48::serve
