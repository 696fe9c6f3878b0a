// `a48 score`: per-token log-probabilities of a text or of token ids, as JSON.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <charconv>

#include "cli/app.h"
#include "cli/engine_options.h"
#include "cli/model_session.h"
#include "core/error.h"
#include "model/token_logprobs.h"

namespace a48::cli {
namespace {

struct ScoreOptions {
  ModelOptions model;
  EngineOptions engine;
  std::string text;
  std::string text_file;
  std::string ids;  // "1,2,3" or "1 2 3"
  bool no_bos = false;
};

std::vector<int32_t> parse_ids(const std::string& list) {
  std::vector<int32_t> ids;
  const char* p = list.data();
  const char* end = p + list.size();
  while (p < end) {
    if (*p == ',' || *p == ' ' || *p == '\n' || *p == '\t') {
      ++p;
      continue;
    }
    int32_t id = 0;
    const auto [next, error] = std::from_chars(p, end, id);
    check(error == std::errc{} && id >= 0, "--ids: '{}' is not a token id",
          std::string(p, std::find_if(p, end, [](char c) { return c == ',' || c == ' '; })));
    ids.push_back(id);
    p = next;
  }
  return ids;
}

void run_score(const ScoreOptions& options) {
  const int given = !options.text.empty() + !options.text_file.empty() + !options.ids.empty();
  check(given == 1, "give exactly one of --text, --file or --ids");
  ModelSession session = open_model(options.model);
  const ModelConfig config = session.model.config;

  std::vector<int32_t> tokens;
  if (!options.ids.empty()) {
    tokens = parse_ids(options.ids);
    for (const int32_t id : tokens) {
      check(id < config.vocab_size, "--ids: token id {} is outside the vocabulary of {}",
            id, config.vocab_size);
    }
  } else {
    const std::string text = options.text.empty() ? read_text_file(options.text_file) : options.text;
    tokens = session.tokenize(text, !options.no_bos);
  }
  check(!tokens.empty(), "nothing to score");
  check(static_cast<int64_t>(tokens.size()) <= config.max_position_embeddings,
        "{} tokens exceed the model's context of {}; use `a48 perplexity` for long texts",
        tokens.size(), config.max_position_embeddings);

  const std::vector<TokenLogprob> scores = score_tokens(*open_engine(session, options.engine), tokens);
  nlohmann::json rows = nlohmann::json::array();
  double sum = 0;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    nlohmann::json row = {{"id", tokens[i]}, {"text", session.tokenizer.token_bytes(tokens[i])}};
    if (i == 0) {
      row["logprob"] = nullptr;  // the first token has no prefix to predict it from
    } else {
      row["logprob"] = scores[i - 1].logprob;
      row["greedy"] = scores[i - 1].is_greedy;
      sum += scores[i - 1].logprob;
    }
    rows.push_back(std::move(row));
  }
  const auto n_scored = static_cast<int64_t>(scores.size());
  const nlohmann::json result = {
      {"model", session.dir.string()},
      {"activation_scheme", to_string(config.activation_scheme)},
      {"attention_bits", to_string(config.attention_bits)},
      {"n_tokens", tokens.size()},
      {"n_scored", n_scored},
      {"sum_logprob", sum},
      {"mean_logprob", n_scored > 0 ? sum / n_scored : 0.0},
      {"tokens", rows}};
  // Token bytes may split a UTF-8 character: replace rather than fail.
  fmt::print("{}\n", result.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace

void register_score(CLI::App& app) {
  auto options = std::make_shared<ScoreOptions>();
  CLI::App* command =
      app.add_subcommand("score", "Per-token log-probabilities of a text or token ids (JSON)");
  add_model_options(*command, options->model);
  add_engine_options(*command, options->engine);
  command->add_option("--text", options->text, "Text to score");
  command->add_option("-f,--file", options->text_file, "Score the text of a file");
  command->add_option("--ids", options->ids, "Token ids to score, e.g. \"1,2,3\"");
  command->add_flag("--no-bos", options->no_bos, "Do not prepend the bos token to text");
  command->callback([options] { run_score(*options); });
}

}  // namespace a48::cli
