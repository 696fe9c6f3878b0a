#include "cli/model_session.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace a48::cli {

namespace fs = std::filesystem;

// A file of this name marks a model directory as random (written by `a48 init`).
constexpr const char* kUntrainedMarker = "UNTRAINED";

void add_model_options(CLI::App& command, ModelOptions& options) {
  command.add_option("-m,--model", options.model_dir,
                     "Model directory (config.json, model.safetensors, tokenizer.json); "
                     "default: $A48_MODEL or the embedded default model");
  command.add_option("--scheme", options.scheme,
                     "Override the activation scheme: fp, b1.58, a4.8, a4.8-fp4, int4-all, fp4-all");
  command.add_option("--attention-bits", options.attention_bits,
                     "Override post-RoPE attention quantization: 16, 8, 4 or 4q3kv");
  command.add_option("--topk", options.topk_fraction,
                     "Override the fraction of o_proj inputs kept by top-K (0, 1]");
}

fs::path default_model_dir() {
  if (const char* env = std::getenv("A48_MODEL"); env && *env) return env;
  return A48_DEFAULT_MODEL_DIR;
}

std::optional<int32_t> ModelSession::bos_id() const {
  return model.config.bos_token_id ? model.config.bos_token_id : tokenizer.bos_id();
}

std::optional<int32_t> ModelSession::eos_id() const {
  return model.config.eos_token_id ? model.config.eos_token_id : tokenizer.eos_id();
}

std::vector<int32_t> ModelSession::tokenize(const std::string& text, bool add_bos) const {
  std::vector<int32_t> ids;
  if (add_bos && bos_id()) ids.push_back(*bos_id());
  const std::vector<int32_t> body = tokenizer.encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  return ids;
}

ModelSession open_model(const ModelOptions& options) {
  const fs::path dir = options.model_dir.empty() ? default_model_dir() : fs::path(options.model_dir);
  check(fs::is_directory(dir), "model directory {} does not exist{}", dir.string(),
        options.model_dir.empty() ? " (the embedded default model: is the checkout complete?)" : "");
  const fs::path tokenizer_path = dir / "tokenizer.json";
  check(fs::exists(tokenizer_path), "{} has no tokenizer.json", dir.string());

  ModelSession session{dir, load_model(dir), Tokenizer::from_hf_json(tokenizer_path),
                       fs::exists(dir / kUntrainedMarker)};
  ModelConfig& config = session.model.config;
  if (!options.scheme.empty()) config.activation_scheme = parse_activation_scheme(options.scheme);
  if (!options.attention_bits.empty()) {
    config.attention_bits = parse_attention_bits(options.attention_bits);
  }
  if (options.topk_fraction >= 0) {
    check(options.topk_fraction > 0 && options.topk_fraction <= 1,
          "--topk must be in (0, 1], got {}", options.topk_fraction);
    config.topk_fraction = options.topk_fraction;
  }
  check(session.tokenizer.vocab_size() <= config.vocab_size,
        "tokenizer has {} tokens but the model's vocab_size is {}", session.tokenizer.vocab_size(),
        config.vocab_size);
  if (session.untrained) {
    fmt::print(stderr,
               "a48: note: {} is an untrained random model (a48 init); its output is noise.\n",
               dir.string());
  }
  return session;
}

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), "cannot open {}", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  check(!in.bad(), "cannot read {}", path.string());
  return text.str();
}

std::unique_ptr<Engine> open_engine(ModelSession& session, const EngineOptions& options) {
  auto model = std::make_shared<const Model>(std::move(session.model));
  session.model.config = model->config;  // stays readable: bos/eos lookups, JSON reports
  return make_engine(std::move(model), options);
}

}  // namespace a48::cli
