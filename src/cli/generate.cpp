// `a48 generate`: stream a continuation of a prompt, then report tokens per second.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>

#include "cli/app.h"
#include "cli/engine_options.h"
#include "cli/model_session.h"
#include "core/error.h"
#include "model/forward.h"
#include "model/sampler.h"

namespace a48::cli {
namespace {

struct GenerateOptions {
  ModelOptions model;
  EngineOptions engine;
  std::string prompt;
  std::string prompt_file;
  int32_t n_predict = 128;
  int64_t context = 0;  // 0: the model's max_position_embeddings
  bool no_bos = false;
  bool ignore_eos = false;
  SamplingParams sampling;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void run_generate(const GenerateOptions& options) {
  options.sampling.validate();
  check(options.n_predict >= 0, "--n-predict must be >= 0, got {}", options.n_predict);
  check(options.prompt.empty() || options.prompt_file.empty(),
        "give the prompt with --prompt or --file, not both");
  const std::string prompt =
      options.prompt_file.empty() ? options.prompt : read_text_file(options.prompt_file);

  ModelSession session = open_model(options.model);
  const std::unique_ptr<Engine> engine = open_engine(session, options.engine);
  const ModelConfig& config = engine->config();
  const int64_t context = options.context > 0 ? options.context : config.max_position_embeddings;
  check(context <= config.max_position_embeddings,
        "--ctx {} exceeds the model's max_position_embeddings {}", context,
        config.max_position_embeddings);

  std::vector<int32_t> tokens = session.tokenize(prompt, !options.no_bos);
  check(!tokens.empty(), "the prompt is empty and the model has no bos token to start from");
  check(static_cast<int64_t>(tokens.size()) < context,
        "the prompt has {} tokens, which does not fit the context of {} tokens",
        tokens.size(), context);
  const int64_t room = context - static_cast<int64_t>(tokens.size());
  const int64_t n_predict = std::min<int64_t>(options.n_predict, room);
  if (n_predict < options.n_predict) {
    fmt::print(stderr, "a48: note: generating {} tokens, all that fit the context of {}\n",
               n_predict, context);
  }

  std::fputs(prompt.c_str(), stdout);
  std::fflush(stdout);

  const std::unique_ptr<SequenceState> sequence = engine->new_sequence(context);
  Sampler sampler(options.sampling);
  Utf8StreamDecoder decoder;

  const auto prompt_start = std::chrono::steady_clock::now();
  const EngineStep prompt_step{sequence.get(), tokens};
  std::vector<float> logits = engine->forward(std::span(&prompt_step, 1));
  const double prompt_s = seconds_since(prompt_start);
  const int64_t n_prompt = static_cast<int64_t>(tokens.size());

  const auto generate_start = std::chrono::steady_clock::now();
  int64_t n_generated = 0;
  const std::optional<int32_t> eos = session.eos_id();
  for (; n_generated < n_predict; ++n_generated) {
    const int32_t next = sampler.sample(logits, tokens);
    if (eos && next == *eos && !options.ignore_eos) break;
    tokens.push_back(next);
    if (!session.tokenizer.is_special(next)) {
      std::fputs(decoder.push(session.tokenizer.token_bytes(next)).c_str(), stdout);
      std::fflush(stdout);
    }
    if (n_generated + 1 < n_predict) {
      const std::span<const int32_t> last(&tokens.back(), 1);
      const EngineStep step{sequence.get(), last};
      logits = engine->forward(std::span(&step, 1));
    }
  }
  std::fputs(decoder.flush().c_str(), stdout);
  std::fputs("\n", stdout);
  const double generate_s = seconds_since(generate_start);
  fmt::print(stderr, "\nengine: {}\n", engine->describe());
  fmt::print(stderr, "prompt: {} tokens in {:.3f} s ({:.1f} tokens/s)\n", n_prompt, prompt_s,
             n_prompt / std::max(prompt_s, 1e-9));
  fmt::print(stderr, "generation: {} tokens in {:.3f} s ({:.1f} tokens/s)\n", n_generated,
             generate_s, n_generated / std::max(generate_s, 1e-9));
}

void add_sampling_options(CLI::App& command, SamplingParams& sampling) {
  command.add_option("--temp", sampling.temperature, "Temperature; 0 = greedy")
      ->capture_default_str();
  command.add_option("--top-k", sampling.top_k, "Top-k; 0 = off")->capture_default_str();
  command.add_option("--top-p", sampling.top_p, "Top-p (nucleus); 1 = off")->capture_default_str();
  command.add_option("--min-p", sampling.min_p, "Min-p; 0 = off")->capture_default_str();
  command.add_option("--repeat-penalty", sampling.repetition_penalty, "Repetition penalty; 1 = off")
      ->capture_default_str();
  command.add_option("--repeat-last-n", sampling.repeat_last_n,
                     "Tokens the repetition penalty looks back on")
      ->capture_default_str();
  command.add_option("--seed", sampling.seed, "Sampling seed")->capture_default_str();
}

}  // namespace

void register_generate(CLI::App& app) {
  auto options = std::make_shared<GenerateOptions>();
  CLI::App* command = app.add_subcommand("generate", "Generate text from a prompt (streamed)");
  add_model_options(*command, options->model);
  add_engine_options(*command, options->engine);
  command->add_option("-p,--prompt", options->prompt, "Prompt text");
  command->add_option("-f,--file", options->prompt_file, "Read the prompt from a file");
  command->add_option("-n,--n-predict", options->n_predict, "Tokens to generate")
      ->capture_default_str();
  command->add_option("-c,--ctx", options->context, "Context length (default: the model's)");
  command->add_flag("--no-bos", options->no_bos, "Do not prepend the bos token");
  command->add_flag("--ignore-eos", options->ignore_eos, "Keep generating past eos");
  add_sampling_options(*command, options->sampling);
  command->callback([options] { run_generate(*options); });
}

}  // namespace a48::cli
