// `a48 export`: a training checkpoint -> an inference model directory (config.json with the run's
// final activation scheme, model.safetensors, tokenizer.json, training.json). Default storage is
// the HF 2B4T packed ternary layout (§2.1: the ternary codes and alpha of eq. 2 are all inference
// needs); a full-precision (`fp`) model has no ternary form and is stored as f32.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "cli/app.h"
#include "core/error.h"
#include "format/model_files.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/parameter_layout.h"

namespace a48::cli {
namespace {
namespace fs = std::filesystem;

struct ExportOptions {
  std::string checkpoint;
  std::string out_dir;
  std::string storage;    // empty: packed, or f32 for the fp scheme
  std::string tokenizer;  // empty: the run's (train config "tokenizer"), else the repo's default
};

WeightStorage pick_storage(const std::string& name, ActivationScheme scheme) {
  const bool full_precision = scheme == ActivationScheme::fp;
  if (name.empty()) return full_precision ? WeightStorage::f32 : WeightStorage::packed_ternary;
  if (name == "f32") return WeightStorage::f32;
  if (name == "bf16") return WeightStorage::bf16;
  if (name == "packed") {
    check(!full_precision,
          "--storage packed: the model's scheme is fp (full-precision weights), which has no "
          "ternary form; use --storage f32 or bf16");
    return WeightStorage::packed_ternary;
  }
  fail("unknown --storage '{}' (expected packed, f32 or bf16)", name);
}

fs::path pick_tokenizer(const std::string& option, const nlohmann::json& train_config) {
  if (!option.empty()) return option;
  const auto it = train_config.find("tokenizer");
  if (it != train_config.end() && it->is_string() && !it->get<std::string>().empty() &&
      fs::is_regular_file(it->get<std::string>())) {
    return it->get<std::string>();
  }
  return A48_TOKENIZER_PATH;
}

void write_json_file(const fs::path& path, const nlohmann::json& json) {
  const fs::path temp = path.string() + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    check(out.good(), "cannot create {}", temp.string());
    out << json.dump(2) << '\n';
    out.close();
    check(out.good(), "cannot write {}", temp.string());
  }
  std::error_code error;
  fs::rename(temp, path, error);
  check(!error, "cannot rename {} to {}: {}", temp.string(), path.string(), error.message());
}

void run_export(const ExportOptions& options) {
  fs::path checkpoint_file = options.checkpoint;
  if (fs::is_directory(checkpoint_file)) {  // a run's checkpoint directory: its latest
    const auto latest = latest_checkpoint(checkpoint_file);
    check(latest.has_value(), "{} holds no checkpoint (step_*.safetensors)",
          checkpoint_file.string());
    checkpoint_file = *latest;
  }
  const Checkpoint checkpoint = load_checkpoint(checkpoint_file, /*with_optimizer=*/false);
  const ModelConfig& config = checkpoint.model;
  const WeightStorage storage = pick_storage(options.storage, config.activation_scheme);
  const fs::path tokenizer_path = pick_tokenizer(options.tokenizer, checkpoint.train_config);
  const Tokenizer tokenizer = Tokenizer::from_hf_json(tokenizer_path);
  check(tokenizer.vocab_size() <= config.vocab_size,
        "{} has {} tokens, more than the model's vocabulary of {}: not the run's tokenizer",
        tokenizer_path.string(), tokenizer.vocab_size(), config.vocab_size);

  const ParameterLayout layout(config);
  const Model model = unflatten_parameters(checkpoint.params, config, layout);
  const fs::path dir = options.out_dir;
  save_model(model, dir, storage);
  fs::copy_file(tokenizer_path, dir / "tokenizer.json", fs::copy_options::overwrite_existing);
  write_json_file(dir / "training.json", {{"checkpoint", fs::absolute(checkpoint_file).string()},
                                          {"step", checkpoint.step},
                                          {"tokens_seen", checkpoint.tokens_seen},
                                          {"train_config", checkpoint.train_config}});
  std::error_code ignored;
  fs::remove(dir / "UNTRAINED", ignored);  // a48 init's marker, if the directory had one
  const char* storage_name = storage == WeightStorage::packed_ternary ? "packed ternary"
                             : storage == WeightStorage::f32          ? "f32"
                                                                      : "bf16";
  fmt::print(stderr, "a48: exported step {} ({} tokens) of {} as a {} model ({}) to {}\n",
             checkpoint.step, checkpoint.tokens_seen, checkpoint_file.string(),
             to_string(config.activation_scheme), storage_name, dir.string());
}

}  // namespace

void register_export(CLI::App& app) {
  auto options = std::make_shared<ExportOptions>();
  CLI::App* command = app.add_subcommand(
      "export", "Turn a training checkpoint into a model directory for inference");
  command->add_option("-c,--checkpoint", options->checkpoint,
                      "Checkpoint file, or a run's checkpoint directory (its latest)")
      ->required()
      ->check(CLI::ExistingPath);
  command->add_option("-o,--out", options->out_dir, "Output model directory")->required();
  command->add_option("--storage", options->storage,
                      "packed (HF 2B4T ternary; the default), f32 or bf16 (default f32 for fp)");
  command->add_option("--tokenizer", options->tokenizer,
                      "tokenizer.json to ship (default: the run's, else the repo's default)")
      ->check(CLI::ExistingFile);
  command->callback([options] { run_export(*options); });
}

}  // namespace a48::cli
