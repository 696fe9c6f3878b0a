// Parsing and validating the JSON bodies of /v1/completions and /v1/chat/completions into jobs.
// OpenAI's rules: unknown fields are ignored; known fields of the wrong type, values out of range,
// empty or over-long prompts and token ids outside the vocabulary are refused with a 400 naming
// the field. A prompt that fits the context but leaves less room than max_tokens gets max_tokens
// clipped to the room left (finish_reason "length"); a prompt longer than the context is refused.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "serve/chat_template.h"
#include "serve/job.h"
#include "serve/token_texts.h"
#include "tokenizer/tokenizer.h"

namespace a48::serve {

// What request parsing needs to know about the served model.
struct ModelLimits {
  const Tokenizer* tokenizer = nullptr;
  std::optional<int32_t> bos_id, eos_id;
  int64_t vocab_size = 0;  // the model's (ids in [0, vocab_size) are valid)
  int64_t context = 0;     // positions a sequence may use
  ChatTemplate chat_template = ChatTemplate::plain;
  int max_prompts = 32;  // prompts in one request (a batched `prompt` list)
};

struct CompletionRequest {
  bool chat = false;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool echo = false;           // completions: the prompt is prepended to the text
  int logprobs = -1;           // -1: none; else alternatives per token
  std::vector<GenerationParams> jobs;  // one per prompt
};

// Both throw ApiError (400) for bad input.
CompletionRequest parse_completion_request(const std::string& body, const ModelLimits& limits);
CompletionRequest parse_chat_request(const std::string& body, const ModelLimits& limits);

}  // namespace a48::serve
