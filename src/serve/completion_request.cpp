#include "serve/completion_request.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <random>

#include "core/error.h"

namespace a48::serve {
namespace {

using nlohmann::json;

constexpr int kMaxLogprobs = 20;
constexpr std::size_t kMaxStops = 16;

json parse_body(const std::string& body) {
  json root;
  try {
    root = json::parse(body);
  } catch (const json::exception& e) {  // syntax, invalid UTF-8, numbers past double
    throw bad_request(fmt::format("the body is not valid JSON: {}", e.what()), {}, "invalid_json");
  }
  if (!root.is_object()) throw bad_request("the body must be a JSON object", {}, "invalid_json");
  return root;
}

// A field that is absent or null yields nullopt; a present field of another type is a 400.
const json* field(const json& root, const char* name) {
  const auto it = root.find(name);
  return it == root.end() || it->is_null() ? nullptr : &*it;
}

ApiError wrong_type(const char* name, const char* expected) {
  return bad_request(fmt::format("'{}' must be {}", name, expected), name, "invalid_type");
}

std::optional<bool> get_bool(const json& root, const char* name) {
  const json* value = field(root, name);
  if (!value) return std::nullopt;
  if (!value->is_boolean()) throw wrong_type(name, "a boolean");
  return value->get<bool>();
}

std::optional<double> get_number(const json& root, const char* name) {
  const json* value = field(root, name);
  if (!value) return std::nullopt;
  if (!value->is_number()) throw wrong_type(name, "a number");
  return value->get<double>();
}

std::optional<int64_t> get_integer(const json& root, const char* name) {
  const json* value = field(root, name);
  if (!value) return std::nullopt;
  if (!value->is_number_integer()) throw wrong_type(name, "an integer");
  if (value->is_number_unsigned() &&
      value->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    throw bad_request(fmt::format("'{}' is too large", name), name);
  }
  return value->get<int64_t>();
}

std::optional<std::string> get_string(const json& root, const char* name) {
  const json* value = field(root, name);
  if (!value) return std::nullopt;
  if (!value->is_string()) throw wrong_type(name, "a string");
  return value->get<std::string>();
}

// Fields of OpenAI's API that a48 does not implement: accepted only at their neutral value.
void refuse_unsupported(const json& root) {
  for (const char* name : {"presence_penalty", "frequency_penalty"}) {
    if (const auto value = get_number(root, name); value && *value != 0) {
      throw bad_request(fmt::format("'{}' is not supported (only 0)", name), name, "unsupported");
    }
  }
  if (const json* bias = field(root, "logit_bias")) {
    if (!bias->is_object()) throw wrong_type("logit_bias", "an object");
    if (!bias->empty()) throw bad_request("'logit_bias' is not supported", "logit_bias", "unsupported");
  }
  if (const auto n = get_integer(root, "n"); n && *n != 1) {
    throw bad_request("only n = 1 is supported", "n", "unsupported");
  }
  if (const auto best_of = get_integer(root, "best_of"); best_of && *best_of != 1) {
    throw bad_request("only best_of = 1 is supported", "best_of", "unsupported");
  }
  if (const auto suffix = get_string(root, "suffix"); suffix && !suffix->empty()) {
    throw bad_request("'suffix' is not supported", "suffix", "unsupported");
  }
  (void)get_string(root, "user");
  (void)get_string(root, "model");
}

SamplingParams parse_sampling(const json& root) {
  SamplingParams s;  // OpenAI's defaults: temperature 1, no truncation, no penalty
  s.temperature = 1.0f;
  s.top_k = 0;
  s.top_p = 1.0f;
  s.min_p = 0.0f;
  s.repetition_penalty = 1.0f;
  if (const auto t = get_number(root, "temperature")) {
    if (!(*t >= 0 && *t <= 100)) throw bad_request("'temperature' must be in [0, 100]", "temperature");
    s.temperature = static_cast<float>(*t);
  }
  if (const auto p = get_number(root, "top_p")) {
    if (!(*p > 0 && *p <= 1)) throw bad_request("'top_p' must be in (0, 1]", "top_p");
    s.top_p = static_cast<float>(*p);
  }
  if (const auto k = get_integer(root, "top_k")) {  // vLLM's extension; -1 or 0 = off
    if (*k < -1 || *k > std::numeric_limits<int32_t>::max()) {
      throw bad_request("'top_k' must be -1, 0 (off) or positive", "top_k");
    }
    s.top_k = *k < 0 ? 0 : static_cast<int32_t>(*k);
  }
  if (const auto p = get_number(root, "min_p")) {
    if (!(*p >= 0 && *p <= 1)) throw bad_request("'min_p' must be in [0, 1]", "min_p");
    s.min_p = static_cast<float>(*p);
  }
  if (const auto r = get_number(root, "repetition_penalty")) {
    if (!(*r > 0 && *r <= 100)) {
      throw bad_request("'repetition_penalty' must be in (0, 100]", "repetition_penalty");
    }
    s.repetition_penalty = static_cast<float>(*r);
  }
  if (const auto seed = get_integer(root, "seed")) {
    s.seed = static_cast<uint64_t>(*seed);
  } else {
    s.seed = std::random_device{}();
  }
  s.validate();
  return s;
}

std::vector<std::string> parse_stop(const json& root) {
  const json* stop = field(root, "stop");
  if (!stop) return {};
  std::vector<std::string> stops;
  if (stop->is_string()) {
    stops.push_back(stop->get<std::string>());
  } else if (stop->is_array()) {
    if (stop->size() > kMaxStops) {
      throw bad_request(fmt::format("at most {} stop strings", kMaxStops), "stop");
    }
    for (const json& s : *stop) {
      if (!s.is_string()) throw wrong_type("stop", "a string or a list of strings");
      stops.push_back(s.get<std::string>());
    }
  } else {
    throw wrong_type("stop", "a string or a list of strings");
  }
  for (const std::string& s : stops) {
    if (s.empty()) throw bad_request("stop strings must not be empty", "stop");
  }
  return stops;
}

// The request fields every job of a request shares.
GenerationParams parse_common(const json& root, const ModelLimits& limits, int logprobs) {
  refuse_unsupported(root);
  GenerationParams params;
  params.sampling = parse_sampling(root);
  params.stop_strings = parse_stop(root);
  params.logprobs = logprobs;
  if (!get_bool(root, "ignore_eos").value_or(false) && limits.eos_id) {
    params.stop_token_ids.push_back(*limits.eos_id);
  }
  return params;
}

// max_tokens (or max_completion_tokens); nullopt when absent.
std::optional<int64_t> parse_max_tokens(const json& root, const ModelLimits& limits) {
  std::optional<int64_t> max_tokens = get_integer(root, "max_tokens");
  if (const auto alias = get_integer(root, "max_completion_tokens")) max_tokens = alias;
  if (!max_tokens) return std::nullopt;
  if (*max_tokens < 0) throw bad_request("'max_tokens' must be >= 0", "max_tokens");
  if (*max_tokens > limits.context) {
    throw bad_request(fmt::format("'max_tokens' {} exceeds the model's context of {} tokens",
                                  *max_tokens, limits.context),
                      "max_tokens", "context_length_exceeded");
  }
  return max_tokens;
}

// Checks the prompt against the context and sets max_tokens, clipped to the room left.
void fit_context(GenerationParams& params, std::optional<int64_t> max_tokens,
                 int64_t default_max_tokens, const ModelLimits& limits) {
  const auto prompt_size = static_cast<int64_t>(params.prompt.size());
  if (prompt_size > limits.context) {
    throw bad_request(fmt::format("the prompt has {} tokens, more than the model's context of {}",
                                  prompt_size, limits.context),
                      "prompt", "context_length_exceeded");
  }
  const int64_t wanted = max_tokens.value_or(default_max_tokens);
  params.max_tokens = std::min(wanted, limits.context - prompt_size);
}

std::vector<int32_t> encode_text(const ModelLimits& limits, const std::string& text,
                                 bool parse_special, const char* param) {
  try {
    return limits.tokenizer->encode(text, parse_special);
  } catch (const Error& e) {  // invalid UTF-8
    throw bad_request(e.what(), param, "invalid_text");
  }
}

std::vector<int32_t> token_ids(const json& array, const ModelLimits& limits) {
  std::vector<int32_t> ids;
  ids.reserve(array.size());
  for (const json& id : array) {
    if (!id.is_number_integer()) {
      throw wrong_type("prompt", "a string, a list of strings, a list of token ids or a list of lists");
    }
    const int64_t value = id.is_number_unsigned() && id.get<uint64_t>() > INT64_MAX
                              ? std::numeric_limits<int64_t>::max()
                              : id.get<int64_t>();
    if (value < 0 || value >= limits.vocab_size) {
      throw bad_request(fmt::format("token id {} is outside the vocabulary [0, {})", value,
                                    limits.vocab_size),
                        "prompt", "invalid_token_id");
    }
    ids.push_back(static_cast<int32_t>(value));
  }
  if (ids.empty()) throw bad_request("the prompt is empty", "prompt", "empty_prompt");
  return ids;
}

// `prompt`: a string, a list of strings, a list of token ids, or a list of lists of token ids.
// Each entry becomes one prompt; text gets bos (unless add_bos is false), token ids are used as is.
std::vector<GenerationParams> parse_prompts(const json& root, const ModelLimits& limits,
                                            const GenerationParams& common) {
  const json* prompt = field(root, "prompt");
  if (!prompt) throw bad_request("'prompt' is required", "prompt", "missing_field");
  const bool add_bos = get_bool(root, "add_bos").value_or(true) && limits.bos_id.has_value();
  const char* kinds = "a string, a list of strings, a list of token ids or a list of lists";

  std::vector<GenerationParams> jobs;
  auto add_text = [&](const std::string& text) {
    if (text.empty()) throw bad_request("the prompt is empty", "prompt", "empty_prompt");
    GenerationParams params = common;
    if (add_bos) params.prompt.push_back(*limits.bos_id);
    const std::vector<int32_t> body = encode_text(limits, text, true, "prompt");
    params.prompt.insert(params.prompt.end(), body.begin(), body.end());
    jobs.push_back(std::move(params));
  };
  auto add_ids = [&](const json& array) {
    GenerationParams params = common;
    params.prompt = token_ids(array, limits);
    jobs.push_back(std::move(params));
  };

  if (prompt->is_string()) {
    add_text(prompt->get<std::string>());
  } else if (prompt->is_array()) {
    if (prompt->empty()) throw bad_request("the prompt is empty", "prompt", "empty_prompt");
    if (prompt->size() > static_cast<std::size_t>(limits.max_prompts) &&
        !(*prompt)[0].is_number()) {
      throw bad_request(fmt::format("at most {} prompts in one request", limits.max_prompts),
                        "prompt", "too_many_prompts");
    }
    const json& first = (*prompt)[0];
    if (first.is_number()) {
      add_ids(*prompt);
    } else {
      for (const json& entry : *prompt) {
        if (first.is_string() && entry.is_string()) {
          add_text(entry.get<std::string>());
        } else if (first.is_array() && entry.is_array()) {
          add_ids(entry);
        } else {
          throw wrong_type("prompt", kinds);
        }
      }
    }
  } else {
    throw wrong_type("prompt", kinds);
  }
  return jobs;
}

std::string message_content(const json& message, std::size_t index) {
  const auto it = message.find("content");
  if (it == message.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) throw wrong_type("messages", "a list of {role, content} objects");
  std::string text;
  for (const json& part : *it) {  // [{"type": "text", "text": "..."}]
    if (!part.is_object() || part.value("type", json()) != "text" || !part.contains("text") ||
        !part["text"].is_string()) {
      throw bad_request(fmt::format("messages[{}]: only text content parts are supported", index),
                        "messages", "unsupported");
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

}  // namespace

CompletionRequest parse_completion_request(const std::string& body, const ModelLimits& limits) {
  const json root = parse_body(body);
  CompletionRequest request;
  request.stream = get_bool(root, "stream").value_or(false);
  request.echo = get_bool(root, "echo").value_or(false);
  if (const json* options = field(root, "stream_options")) {
    if (!options->is_object()) throw wrong_type("stream_options", "an object");
    request.include_usage = get_bool(*options, "include_usage").value_or(false);
  }
  if (const auto logprobs = get_integer(root, "logprobs")) {
    if (*logprobs < 0 || *logprobs > kMaxLogprobs) {
      throw bad_request(fmt::format("'logprobs' must be in [0, {}]", kMaxLogprobs), "logprobs");
    }
    request.logprobs = static_cast<int>(*logprobs);
  }
  const GenerationParams common = parse_common(root, limits, request.logprobs);
  const std::optional<int64_t> max_tokens = parse_max_tokens(root, limits);
  request.jobs = parse_prompts(root, limits, common);
  for (GenerationParams& job : request.jobs) {
    fit_context(job, max_tokens, 16, limits);  // OpenAI's default max_tokens is 16
    job.prompt_logprobs = request.echo && request.logprobs >= 0;
  }
  return request;
}

CompletionRequest parse_chat_request(const std::string& body, const ModelLimits& limits) {
  const json root = parse_body(body);
  CompletionRequest request;
  request.chat = true;
  request.stream = get_bool(root, "stream").value_or(false);
  if (const json* options = field(root, "stream_options")) {
    if (!options->is_object()) throw wrong_type("stream_options", "an object");
    request.include_usage = get_bool(*options, "include_usage").value_or(false);
  }
  if (get_bool(root, "logprobs").value_or(false)) {
    const int64_t top = get_integer(root, "top_logprobs").value_or(0);
    if (top < 0 || top > kMaxLogprobs) {
      throw bad_request(fmt::format("'top_logprobs' must be in [0, {}]", kMaxLogprobs),
                        "top_logprobs");
    }
    request.logprobs = static_cast<int>(top);
  }

  const json* messages = field(root, "messages");
  if (!messages) throw bad_request("'messages' is required", "messages", "missing_field");
  if (!messages->is_array()) throw wrong_type("messages", "a list of {role, content} objects");
  if (messages->empty()) throw bad_request("'messages' is empty", "messages", "empty_prompt");
  std::vector<ChatMessage> chat;
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const json& message = (*messages)[i];
    if (!message.is_object() || !message.contains("role") || !message["role"].is_string()) {
      throw wrong_type("messages", "a list of {role, content} objects");
    }
    const std::string role = message["role"].get<std::string>();
    if (role != "system" && role != "developer" && role != "user" && role != "assistant") {
      throw bad_request(fmt::format("messages[{}]: unknown role '{}' (system, developer, user, "
                                    "assistant)", i, role),
                        "messages");
    }
    chat.push_back({role, message_content(message, i)});
  }

  GenerationParams params = parse_common(root, limits, request.logprobs);
  const ChatPrompt rendered = render_chat(limits.chat_template, chat);
  const bool add_bos = rendered.add_bos && limits.bos_id.has_value();
  if (add_bos) params.prompt.push_back(*limits.bos_id);
  for (const ChatPrompt::Piece& piece : rendered.pieces) {
    const std::vector<int32_t> ids = encode_text(limits, piece.text, piece.is_template, "messages");
    params.prompt.insert(params.prompt.end(), ids.begin(), ids.end());
  }
  // End-of-turn markers: a special token ends generation as a token, anything else as text.
  for (const std::string& stop : rendered.stops) {
    const std::optional<int32_t> id = limits.tokenizer->find(stop);
    if (id && limits.tokenizer->is_special(*id)) {
      params.stop_token_ids.push_back(*id);
    } else {
      params.stop_strings.push_back(stop);
    }
  }
  const std::optional<int64_t> max_tokens = parse_max_tokens(root, limits);
  fit_context(params, max_tokens, limits.context, limits);  // default: the room left
  request.jobs.push_back(std::move(params));
  return request;
}

}  // namespace a48::serve
