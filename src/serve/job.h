// One generation request as the scheduler sees it (one prompt; a batched `prompt` list makes one
// job per prompt), and the progress it publishes to the HTTP thread that waits on it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "model/sampler.h"
#include "serve/api_error.h"
#include "serve/token_alternatives.h"

namespace a48::serve {

struct GenerationParams {
  std::vector<int32_t> prompt;  // non-empty, ids in [0, V)
  int64_t max_tokens = 16;      // already clipped to the context
  SamplingParams sampling;
  std::vector<std::string> stop_strings;
  std::vector<int32_t> stop_token_ids;  // eos and a chat template's end-of-turn token
  int logprobs = -1;             // -1: none; else how many alternatives per token
  bool prompt_logprobs = false;  // score the prompt too (echo with logprobs)
};

// What a job has produced so far; guarded by its Mailbox's mutex. Vectors and text only grow.
struct JobProgress {
  std::vector<TokenLogprobEntry> prompt_scores;  // for prompt[1..] when prompt_logprobs
  std::vector<TokenLogprobEntry> tokens;         // generated tokens shown to the client
  int64_t n_generated = 0;                       // including a final stop token
  std::string text;                              // generated text, stop strings cut
  bool finished = false;
  std::string finish_reason;     // "stop" or "length"
  std::optional<ApiError> error;  // set (with finished) when the job failed
};

// Where the scheduler signals progress; one per HTTP request, shared by its jobs.
struct Mailbox {
  std::mutex mutex;
  std::condition_variable changed;
};

struct Job {
  Job(GenerationParams p, std::shared_ptr<Mailbox> m) : params(std::move(p)), mailbox(std::move(m)) {}
  const GenerationParams params;
  const std::shared_ptr<Mailbox> mailbox;
  JobProgress progress;            // under mailbox->mutex
  std::atomic<bool> cancelled{false};  // the client went away: drop it at the next step
};

}  // namespace a48::serve
