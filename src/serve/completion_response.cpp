#include "serve/completion_response.h"

#include <fmt/format.h>

#include <atomic>
#include <ctime>
#include <random>

namespace a48::serve {

using nlohmann::json;

std::string dump_json(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

std::string new_response_id(bool chat) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  return fmt::format("{}-{:08x}{:06x}", chat ? "chatcmpl" : "cmpl", salt & 0xffffffffu,
                     counter.fetch_add(1) & 0xffffffu);
}

json bytes_array(const std::string& bytes) {
  json array = json::array();
  for (const char c : bytes) array.push_back(static_cast<unsigned char>(c));
  return array;
}

std::string sse(const json& value) { return "data: " + dump_json(value) + "\n\n"; }

}  // namespace

CompletionResponse::CompletionResponse(const CompletionRequest& request,
                                       std::vector<std::shared_ptr<Job>> jobs,
                                       const TokenTexts& texts, std::string model_name)
    : request_(request),
      jobs_(std::move(jobs)),
      texts_(texts),
      model_name_(std::move(model_name)),
      id_(new_response_id(request.chat)),
      created_(static_cast<int64_t>(std::time(nullptr))),
      cursors_(jobs_.size()) {}

bool CompletionResponse::all_finished() const {
  for (const auto& job : jobs_)
    if (!job->progress.finished) return false;
  return true;
}

const ApiError* CompletionResponse::first_error() const {
  for (const auto& job : jobs_)
    if (job->progress.error) return &*job->progress.error;
  return nullptr;
}

int64_t CompletionResponse::prompt_tokens() const {
  int64_t n = 0;
  for (const auto& job : jobs_) n += static_cast<int64_t>(job->params.prompt.size());
  return n;
}

int64_t CompletionResponse::completion_tokens() const {
  int64_t n = 0;
  for (const auto& job : jobs_) n += job->progress.n_generated;
  return n;
}

json CompletionResponse::usage() const {
  const int64_t prompt = prompt_tokens(), completion = completion_tokens();
  return {{"prompt_tokens", prompt},
          {"completion_tokens", completion},
          {"total_tokens", prompt + completion}};
}

json CompletionResponse::chunk_header() const {
  return {{"id", id_},
          {"object", request_.chat ? "chat.completion.chunk" : "text_completion"},
          {"created", created_},
          {"model", model_name_}};
}

std::string CompletionResponse::echo_text(const Job& job) const {
  std::string text;
  for (const int32_t id : job.params.prompt) text += texts_.visible(id);
  return text;
}

json CompletionResponse::prompt_logprobs(const Job& job, int64_t& text_offset) const {
  json logprobs = {{"tokens", json::array()},
                   {"token_logprobs", json::array()},
                   {"top_logprobs", json::array()},
                   {"text_offset", json::array()}};
  const auto& prompt = job.params.prompt;
  const auto& scores = job.progress.prompt_scores;
  for (std::size_t i = 0; i < prompt.size(); ++i) {
    logprobs["tokens"].push_back(texts_.bytes(prompt[i]));
    logprobs["text_offset"].push_back(text_offset);
    text_offset += static_cast<int64_t>(texts_.visible(prompt[i]).size());
    if (i == 0 || i - 1 >= scores.size()) {  // the first token has no prefix to predict it
      logprobs["token_logprobs"].push_back(nullptr);
      logprobs["top_logprobs"].push_back(nullptr);
      continue;
    }
    const TokenLogprobEntry& entry = scores[i - 1];
    logprobs["token_logprobs"].push_back(entry.logprob);
    json top = json::object();
    for (const TokenAlternative& alt : entry.top) {
      const std::string& key = texts_.bytes(alt.id);
      if (!top.contains(key)) top[key] = alt.logprob;  // tokens sharing bytes: keep the likelier
    }
    logprobs["top_logprobs"].push_back(std::move(top));
  }
  return logprobs;
}

void CompletionResponse::append_logprobs(json& logprobs, const Job& job, std::size_t begin,
                                         int64_t& text_offset) const {
  const auto& tokens = job.progress.tokens;
  for (std::size_t i = begin; i < tokens.size(); ++i) {
    const TokenLogprobEntry& entry = tokens[i];
    const std::string& bytes = texts_.bytes(entry.id);
    if (request_.chat) {
      json top = json::array();
      for (const TokenAlternative& alt : entry.top) {
        const std::string& alt_bytes = texts_.bytes(alt.id);
        top.push_back({{"token", alt_bytes}, {"logprob", alt.logprob}, {"bytes", bytes_array(alt_bytes)}});
      }
      logprobs["content"].push_back({{"token", bytes},
                                     {"logprob", entry.logprob},
                                     {"bytes", bytes_array(bytes)},
                                     {"top_logprobs", std::move(top)}});
      continue;
    }
    logprobs["tokens"].push_back(bytes);
    logprobs["token_logprobs"].push_back(entry.logprob);
    json top = json::object();
    for (const TokenAlternative& alt : entry.top) {
      const std::string& key = texts_.bytes(alt.id);
      if (!top.contains(key)) top[key] = alt.logprob;
    }
    logprobs["top_logprobs"].push_back(std::move(top));
    logprobs["text_offset"].push_back(text_offset);
    text_offset += static_cast<int64_t>(texts_.visible(entry.id).size());
  }
}

json CompletionResponse::body() const {
  json choices = json::array();
  for (std::size_t i = 0; i < jobs_.size(); ++i) {
    const Job& job = *jobs_[i];
    const JobProgress& p = job.progress;
    json logprobs = nullptr;
    if (request_.logprobs >= 0) {
      int64_t offset = 0;
      if (request_.chat) {
        logprobs = {{"content", json::array()}};
      } else if (request_.echo) {
        logprobs = prompt_logprobs(job, offset);
      } else {
        logprobs = {{"tokens", json::array()},
                    {"token_logprobs", json::array()},
                    {"top_logprobs", json::array()},
                    {"text_offset", json::array()}};
      }
      append_logprobs(logprobs, job, 0, offset);
    }
    if (request_.chat) {
      choices.push_back({{"index", i},
                         {"message", {{"role", "assistant"}, {"content", p.text}}},
                         {"logprobs", std::move(logprobs)},
                         {"finish_reason", p.finish_reason}});
    } else {
      choices.push_back({{"index", i},
                         {"text", request_.echo ? echo_text(job) + p.text : p.text},
                         {"logprobs", std::move(logprobs)},
                         {"finish_reason", p.finish_reason}});
    }
  }
  return {{"id", id_},
          {"object", request_.chat ? "chat.completion" : "text_completion"},
          {"created", created_},
          {"model", model_name_},
          {"choices", std::move(choices)},
          {"usage", usage()}};
}

std::string CompletionResponse::stream_events() {
  if (stream_done_) return {};
  if (const ApiError* error = first_error()) {
    stream_done_ = true;
    return sse(error->body()) + "data: [DONE]\n\n";
  }
  std::string out;
  for (std::size_t i = 0; i < jobs_.size(); ++i) {
    const Job& job = *jobs_[i];
    const JobProgress& p = job.progress;
    Cursor& c = cursors_[i];
    if (c.finished) continue;
    json choice = {{"index", i}};
    std::string text;
    json logprobs = nullptr;
    if (request_.logprobs >= 0) {
      logprobs = request_.chat ? json{{"content", json::array()}}
                               : json{{"tokens", json::array()},
                                      {"token_logprobs", json::array()},
                                      {"top_logprobs", json::array()},
                                      {"text_offset", json::array()}};
    }
    if (!c.started) {
      if (request_.chat) {
        json role = chunk_header();
        role["choices"] = json::array({{{"index", i},
                                        {"delta", {{"role", "assistant"}, {"content", ""}}},
                                        {"logprobs", nullptr},
                                        {"finish_reason", nullptr}}});
        out += sse(role);
      } else if (request_.echo) {
        // The echo goes out whole, once the prompt is scored.
        const bool scored = !job.params.prompt_logprobs || p.finished ||
                            p.prompt_scores.size() + 1 >= job.params.prompt.size();
        if (!scored) continue;
        text = echo_text(job);
        if (job.params.prompt_logprobs) logprobs = prompt_logprobs(job, c.text_offset);
      }
      c.started = true;
    }
    // Tokens whose text is held back (a possible stop string, a partial character) wait, unless
    // the client asked for their logprobs.
    const bool has_new = p.text.size() > c.text || (request_.logprobs >= 0 && p.tokens.size() > c.tokens);
    if (!has_new && !p.finished && text.empty()) continue;
    text.append(p.text, c.text);
    if (request_.logprobs >= 0) append_logprobs(logprobs, job, c.tokens, c.text_offset);
    c.text = p.text.size();
    c.tokens = p.tokens.size();
    c.finished = p.finished;
    if (request_.chat) {
      choice["delta"] = text.empty() ? json::object() : json{{"content", text}};
    } else {
      choice["text"] = text;
    }
    choice["logprobs"] = std::move(logprobs);
    choice["finish_reason"] = p.finished ? json(p.finish_reason) : json(nullptr);
    json chunk = chunk_header();
    chunk["choices"] = json::array({std::move(choice)});
    out += sse(chunk);
  }
  bool all_sent = true;
  for (const Cursor& c : cursors_) all_sent = all_sent && c.finished;
  if (all_sent) {
    if (request_.include_usage) {
      json chunk = chunk_header();
      chunk["choices"] = json::array();
      chunk["usage"] = usage();
      out += sse(chunk);
    }
    out += "data: [DONE]\n\n";
    stream_done_ = true;
  }
  return out;
}

}  // namespace a48::serve
