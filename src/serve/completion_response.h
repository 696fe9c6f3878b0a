// OpenAI response bodies from job progress: whole bodies (text_completion, chat.completion) and
// server-sent-event chunks (text_completion / chat.completion.chunk deltas, `data: [DONE]`).
// logprobs follow OpenAI's two formats: the legacy completions object {tokens, token_logprobs,
// top_logprobs, text_offset} (echo puts the prompt's tokens first, the first with null) and chat's
// {content: [{token, logprob, bytes, top_logprobs}]}. text_offset counts bytes; special tokens
// (bos, eos) are listed in `tokens` but add no text.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "serve/completion_request.h"
#include "serve/job.h"
#include "serve/token_texts.h"

namespace a48::serve {

class CompletionResponse {
 public:
  CompletionResponse(const CompletionRequest& request, std::vector<std::shared_ptr<Job>> jobs,
                     const TokenTexts& texts, std::string model_name);

  // The caller holds the jobs' mailbox lock for these.
  bool all_finished() const;
  const ApiError* first_error() const;
  nlohmann::json body() const;  // the whole response, once all_finished()
  // SSE events for the progress since the last call (final chunks, usage and [DONE] once all
  // jobs finished); empty when there is nothing new.
  std::string stream_events();
  bool stream_done() const { return stream_done_; }

  int64_t prompt_tokens() const;
  int64_t completion_tokens() const;

 private:
  struct Cursor {
    bool started = false;  // the echo / role chunk went out
    std::size_t tokens = 0, text = 0;
    int64_t text_offset = 0;  // bytes of tokens shown so far
    bool finished = false;
  };
  nlohmann::json chunk_header() const;
  nlohmann::json usage() const;
  nlohmann::json prompt_logprobs(const Job& job, int64_t& text_offset) const;
  void append_logprobs(nlohmann::json& logprobs, const Job& job, std::size_t begin,
                       int64_t& text_offset) const;
  std::string echo_text(const Job& job) const;

  const CompletionRequest& request_;
  std::vector<std::shared_ptr<Job>> jobs_;
  const TokenTexts& texts_;
  std::string model_name_, id_;
  int64_t created_;
  std::vector<Cursor> cursors_;
  bool stream_done_ = false;
};

// JSON text for the wire: invalid UTF-8 in token bytes becomes U+FFFD instead of throwing.
std::string dump_json(const nlohmann::json& value);

}  // namespace a48::serve
