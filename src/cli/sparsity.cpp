// `a48 sparsity`: runs text through the model and prints the paper's Table 2 columns: the
// fraction of each projection's weights that zero activations skip (QKV, Out, Up, Gate, Down),
// Overall over non-embedding parameters, and the activated parameter count.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "cli/engine_options.h"
#include "cli/model_session.h"
#include "core/error.h"
#include "core/progress.h"
#include "model/token_logprobs.h"

namespace a48::cli {
namespace {

struct SparsityOptions {
  ModelOptions model;
  EngineOptions engine;
  std::string file;
  int64_t context = 0;  // 0: min(512, the model's context)
  int64_t max_tokens = 4096;
  bool json = false;
};

std::string human_count(double n) {
  if (n >= 1e9) return fmt::format("{:.2f}B", n / 1e9);
  if (n >= 1e6) return fmt::format("{:.1f}M", n / 1e6);
  if (n >= 1e3) return fmt::format("{:.1f}K", n / 1e3);
  return fmt::format("{:.0f}", n);
}

void run_sparsity(const SparsityOptions& options) {
  ModelSession session = open_model(options.model);
  const std::unique_ptr<Engine> engine = open_engine(session, options.engine);
  const ModelConfig& config = engine->config();
  check(options.context >= 0, "--ctx must not be negative, got {}", options.context);
  const int64_t context = options.context > 0
                              ? options.context
                              : std::min<int64_t>(512, config.max_position_embeddings);
  check(context <= config.max_position_embeddings, "--ctx must be in [1, {}], got {}",
        config.max_position_embeddings, context);
  std::vector<int32_t> tokens = session.tokenizer.encode(read_text_file(options.file));
  if (options.max_tokens > 0 && static_cast<int64_t>(tokens.size()) > options.max_tokens) {
    tokens.resize(options.max_tokens);
  }
  const int64_t n = static_cast<int64_t>(tokens.size());
  check(n >= 1, "{} has no tokens", options.file);

  SparsityStats stats;
  ProgressBar progress("sparsity", n, !options.json);
  for (int64_t begin = 0; begin < n; begin += context) {
    const int64_t end = std::min(n, begin + context);
    const std::unique_ptr<SequenceState> sequence = engine->new_sequence(end - begin);
    const EngineStep step{sequence.get(), std::span<const int32_t>(tokens.data() + begin, end - begin)};
    engine->forward(std::span(&step, 1), &stats);
    progress.update(end);
  }
  progress.finish();

  const ParameterCounts params = count_parameters(config);
  const double overall = stats.overall(config);
  const double activated = static_cast<double>(params.non_embedding) * (1 - overall);
  const auto percent = [](double fraction) { return 100 * fraction; };
  if (options.json) {
    const nlohmann::json result = {
        {"model", session.dir.string()},
        {"activation_scheme", to_string(config.activation_scheme)},
        {"n_tokens", stats.n_tokens},
        {"non_embedding_parameters", params.non_embedding},
        {"activated_parameters", activated},
        {"sparsity_percent",
         {{"qkv", percent(stats.qkv.sparsity())},
          {"out", percent(stats.out.sparsity())},
          {"up", percent(stats.up.sparsity())},
          {"gate", percent(stats.gate.sparsity())},
          {"down", percent(stats.down.sparsity())},
          {"overall", percent(overall)}}}};
    fmt::print("{}\n", result.dump(2));
    return;
  }
  fmt::print("{} tokens of {}\n\n", stats.n_tokens, options.file);
  fmt::print("| Model | Activated | QKV | Out | Up | Gate | Down | Overall |\n");
  fmt::print("|---|---|---|---|---|---|---|---|\n");
  fmt::print("| {} ({}) | {} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.1f} |\n",
             session.dir.filename().string(), to_string(config.activation_scheme),
             human_count(activated), percent(stats.qkv.sparsity()), percent(stats.out.sparsity()),
             percent(stats.up.sparsity()), percent(stats.gate.sparsity()),
             percent(stats.down.sparsity()), percent(overall));
}

}  // namespace

void register_sparsity(CLI::App& app) {
  auto options = std::make_shared<SparsityOptions>();
  CLI::App* command = app.add_subcommand(
      "sparsity", "Activation sparsity per projection on a text (the paper's Table 2)");
  add_model_options(*command, options->model);
  add_engine_options(*command, options->engine);
  command->add_option("-f,--file", options->file, "Text file")->required()->check(CLI::ExistingFile);
  command->add_option("-c,--ctx", options->context,
                      "Window length in tokens (default: min(512, the model's context))");
  command->add_option("--max-tokens", options->max_tokens, "Tokens to run (0 = all)")
      ->capture_default_str();
  command->add_flag("--json", options->json, "Print the result as JSON");
  command->callback([options] { run_sparsity(*options); });
}

}  // namespace a48::cli
