// `a48 perplexity`: sliding-window perplexity of a text file, with its standard error.
//   Windows of --ctx tokens start every --stride tokens; each token is scored once, in the first
//   window that reaches it, so every scored token sees at least ctx - stride tokens of context
//   (except in the first window). PPL = exp(mean NLL); its +- is PPL * stderr(NLL) (delta method).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "cli/app.h"
#include "cli/engine_options.h"
#include "cli/model_session.h"
#include "core/error.h"
#include "core/progress.h"
#include "model/token_logprobs.h"

namespace a48::cli {
namespace {

struct PerplexityOptions {
  ModelOptions model;
  EngineOptions engine;
  std::string file;
  int64_t context = 0;     // 0: min(512, the model's context)
  int64_t stride = 0;  // 0: context / 2
  int64_t max_tokens = 0;  // 0: the whole file
  bool no_bos = false;
  bool json = false;
};

void run_perplexity(const PerplexityOptions& options) {
  ModelSession session = open_model(options.model);
  const std::unique_ptr<Engine> engine = open_engine(session, options.engine);
  const ModelConfig& config = engine->config();
  const bool bos = !options.no_bos && session.bos_id().has_value();
  check(options.context >= 0, "--ctx must not be negative, got {}", options.context);
  const int64_t context = options.context > 0
                              ? options.context
                              : std::min<int64_t>(512, config.max_position_embeddings - bos);
  check(context >= 2, "--ctx must be at least 2, got {}", context);
  check(context + bos <= config.max_position_embeddings,
        "--ctx {} exceeds the model's max_position_embeddings {}", context,
        config.max_position_embeddings);
  const int64_t stride = options.stride > 0 ? options.stride : std::max<int64_t>(context / 2, 1);
  check(stride <= context, "--stride {} must not exceed --ctx {}", stride, context);

  std::vector<int32_t> tokens = session.tokenizer.encode(read_text_file(options.file));
  if (options.max_tokens > 0 && static_cast<int64_t>(tokens.size()) > options.max_tokens) {
    tokens.resize(options.max_tokens);
  }
  const int64_t n = static_cast<int64_t>(tokens.size());
  check(n >= 2, "{} has fewer than 2 tokens", options.file);

  ProgressBar progress("perplexity", n, !options.json);
  double nll_sum = 0, nll_square_sum = 0;
  int64_t n_scored = 0;
  int64_t scored_until = bos ? 0 : 1;  // tokens [0, scored_until) are done
  for (int64_t begin = 0; scored_until < n; begin += stride) {
    const int64_t end = std::min(n, begin + context);
    std::vector<int32_t> window;
    if (bos) window.push_back(*session.bos_id());
    window.insert(window.end(), tokens.begin() + begin, tokens.begin() + end);
    const std::vector<TokenLogprob> scores = score_tokens(*engine, window);
    // scores[i] predicts window[i + 1] = tokens[begin + i + 1 - bos].
    for (std::size_t i = 0; i < scores.size(); ++i) {
      const int64_t position = begin + static_cast<int64_t>(i) + 1 - bos;
      if (position < scored_until) continue;
      nll_sum -= scores[i].logprob;
      nll_square_sum += scores[i].logprob * scores[i].logprob;
      ++n_scored;
    }
    scored_until = end;
    progress.update(end, fmt::format("ppl {:.3f}", std::exp(nll_sum / std::max<int64_t>(n_scored, 1))));
  }
  const double mean = nll_sum / n_scored;
  const double variance = std::max(0.0, nll_square_sum / n_scored - mean * mean);
  const double ppl = std::exp(mean);
  const double ppl_error = ppl * std::sqrt(variance / n_scored);
  progress.finish(fmt::format("ppl {:.3f}", ppl));

  if (options.json) {
    const nlohmann::json result = {
        {"model", session.dir.string()},
        {"file", options.file},
        {"activation_scheme", to_string(config.activation_scheme)},
        {"attention_bits", to_string(config.attention_bits)},
        {"ctx", context},
        {"stride", stride},
        {"n_tokens", n},
        {"n_scored", n_scored},
        {"mean_nll", mean},
        {"ppl", ppl},
        {"ppl_stderr", ppl_error}};
    fmt::print("{}\n", result.dump(2));
  } else {
    fmt::print("{}: {} tokens scored (ctx {}, stride {}, scheme {}, attention {})\n", options.file,
               n_scored, context, stride, to_string(config.activation_scheme),
               to_string(config.attention_bits));
    fmt::print("PPL = {:.4f} +/- {:.4f}\n", ppl, ppl_error);
  }
}

}  // namespace

void register_perplexity(CLI::App& app) {
  auto options = std::make_shared<PerplexityOptions>();
  CLI::App* command = app.add_subcommand("perplexity", "Perplexity of a text file");
  add_model_options(*command, options->model);
  add_engine_options(*command, options->engine);
  command->add_option("-f,--file", options->file, "Text file")->required()->check(CLI::ExistingFile);
  command->add_option("-c,--ctx", options->context,
                      "Window length in tokens (default: min(512, the model's context))");
  command->add_option("--stride", options->stride, "Window step in tokens (default ctx/2)");
  command->add_option("--max-tokens", options->max_tokens, "Score at most this many tokens");
  command->add_flag("--no-bos", options->no_bos, "Do not start each window with bos");
  command->add_flag("--json", options->json, "Print the result as JSON");
  command->callback([options] { run_perplexity(*options); });
}

}  // namespace a48::cli
