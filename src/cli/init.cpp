// `a48 init`: writes a randomly initialised model directory (config.json, model.safetensors,
// tokenizer.json, and an UNTRAINED marker): tests and benchmarks use it for models of a given
// shape.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <fstream>

#include "cli/app.h"
#include "core/error.h"
#include "format/model_files.h"
#include "tokenizer/tokenizer.h"

namespace a48::cli {
namespace {

struct InitOptions {
  std::string out_dir;
  std::string tokenizer = A48_TOKENIZER_PATH;
  int64_t hidden = 256, layers = 4, heads = 4, kv_heads = 2, ffn = 688, context = 1024;
  int64_t vocab = 0;  // 0: the tokenizer's
  std::string scheme = "a4.8";
  std::string attention_bits = "16";
  std::string storage = "f32";
  uint64_t seed = 1;
};

WeightStorage parse_storage(const std::string& name) {
  if (name == "f32") return WeightStorage::f32;
  if (name == "bf16") return WeightStorage::bf16;
  if (name == "packed") return WeightStorage::packed_ternary;
  fail("unknown --storage '{}' (expected f32, bf16 or packed)", name);
}

void run_init(const InitOptions& options) {
  const Tokenizer tokenizer = Tokenizer::from_hf_json(options.tokenizer);
  ModelConfig config;
  config.hidden_size = options.hidden;
  config.num_hidden_layers = options.layers;
  config.num_attention_heads = options.heads;
  config.num_key_value_heads = options.kv_heads;
  config.intermediate_size = options.ffn;
  config.max_position_embeddings = options.context;
  config.vocab_size = options.vocab > 0 ? options.vocab : tokenizer.vocab_size();
  check(config.vocab_size >= tokenizer.vocab_size(), "--vocab {} is smaller than the tokenizer's {}",
        config.vocab_size, tokenizer.vocab_size());
  config.bos_token_id = tokenizer.bos_id();
  config.eos_token_id = tokenizer.eos_id();
  config.activation_scheme = parse_activation_scheme(options.scheme);
  config.attention_bits = parse_attention_bits(options.attention_bits);
  config.validate();
  const WeightStorage storage = parse_storage(options.storage);

  const Model model = make_random_model(config, options.seed);
  const std::filesystem::path dir = options.out_dir;
  std::filesystem::create_directories(dir);
  save_model(model, dir, storage);
  std::filesystem::copy_file(options.tokenizer, dir / "tokenizer.json",
                             std::filesystem::copy_options::overwrite_existing);
  std::ofstream marker(dir / "UNTRAINED");
  marker << "This model has random weights (a48 init, seed " << options.seed
         << "): it generates noise.\n";
  check(marker.good(), "cannot write {}", (dir / "UNTRAINED").string());
  fmt::print(stderr, "a48: wrote a random {} model ({} layers, d={}) to {}\n", options.scheme,
             options.layers, options.hidden, dir.string());
}

}  // namespace

void register_init(CLI::App& app) {
  auto options = std::make_shared<InitOptions>();
  CLI::App* command = app.add_subcommand(
      "init", "Write a randomly initialised model of a given shape (for tests and benchmarks)");
  command->add_option("-o,--out", options->out_dir, "Output directory")->required();
  command->add_option("--tokenizer", options->tokenizer, "tokenizer.json to use")
      ->capture_default_str()
      ->check(CLI::ExistingFile);
  command->add_option("--hidden", options->hidden, "Hidden size")->capture_default_str();
  command->add_option("--layers", options->layers, "Layers")->capture_default_str();
  command->add_option("--heads", options->heads, "Attention heads")->capture_default_str();
  command->add_option("--kv-heads", options->kv_heads, "Key/value heads")->capture_default_str();
  command->add_option("--ffn", options->ffn, "FFN (GLU) width")->capture_default_str();
  command->add_option("--ctx", options->context, "Context length")->capture_default_str();
  command->add_option("--vocab", options->vocab, "Vocabulary size (default: the tokenizer's)");
  command->add_option("--scheme", options->scheme, "Activation scheme")->capture_default_str();
  command->add_option("--attention-bits", options->attention_bits, "16, 8, 4 or 4q3kv")
      ->capture_default_str();
  command->add_option("--storage", options->storage, "f32, bf16 or packed (HF 2B4T ternary)")
      ->capture_default_str();
  command->add_option("--seed", options->seed, "Random seed")->capture_default_str();
  command->callback([options] { run_init(*options); });
}

}  // namespace a48::cli
