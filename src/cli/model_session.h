// What every model-running subcommand shares: the model flags, loading a model directory with its
// tokenizer, finding the embedded default model, and scheme overrides.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "engine/make_engine.h"
#include "format/model_files.h"
#include "tokenizer/tokenizer.h"

namespace CLI {
class App;
}

namespace a48::cli {

struct ModelOptions {
  std::string model_dir;       // empty: the embedded default
  std::string scheme;          // override of config's activation scheme
  std::string attention_bits;  // override of config's attention bits
  float topk_fraction = -1;    // override of config's top-K keep fraction (< 0: keep)
};
void add_model_options(CLI::App& command, ModelOptions& options);

struct ModelSession {
  std::filesystem::path dir;
  Model model;
  Tokenizer tokenizer;
  bool untrained = false;  // a random model made by `a48 init`, not a trained one

  std::optional<int32_t> bos_id() const;  // config's, else the tokenizer's
  std::optional<int32_t> eos_id() const;
  // Tokenizes `text`, prepending bos when `add_bos` and the model has one.
  std::vector<int32_t> tokenize(const std::string& text, bool add_bos) const;
};

// The directory used when --model is absent: $A48_MODEL, else the embedded default model that
// a48 trained itself (models/default).
std::filesystem::path default_model_dir();

// Loads and applies overrides; prints a one-line notice on stderr for untrained models.
ModelSession open_model(const ModelOptions& options);

// Moves the session's model into an engine built with `options`: session.model keeps its config
// (and the session its tokenizer) but no weights.
std::unique_ptr<Engine> open_engine(ModelSession& session, const EngineOptions& options);

std::string read_text_file(const std::filesystem::path& path);  // throws a48::Error naming it

}  // namespace a48::cli
