// `a48 info`: a model's configuration, parameter counts, bytes by dtype, tokenizer and devices.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <map>
#include <set>

#include "cli/app.h"
#include "cli/model_session.h"
#include "core/error.h"
#include "format/safetensors.h"
#include "model/config.h"
#include "tokenizer/tokenizer.h"
#ifdef A48_HAVE_CUDA
#include "cuda/device_info.h"
#endif

namespace a48::cli {
namespace {

struct InfoOptions {
  std::string model_dir;
  bool json = false;
};

// The safetensors files of a model directory: one file, or the shards an index names.
std::vector<std::filesystem::path> weight_files(const std::filesystem::path& dir) {
  if (std::filesystem::exists(dir / "model.safetensors")) return {dir / "model.safetensors"};
  const std::filesystem::path index = dir / "model.safetensors.index.json";
  check(std::filesystem::exists(index), "{} has neither model.safetensors nor {}", dir.string(),
        index.filename().string());
  std::set<std::string> shards;
  try {
    const nlohmann::json json = nlohmann::json::parse(read_text_file(index));
    for (const auto& [tensor, shard] : json.at("weight_map").items()) {
      shards.insert(shard.get<std::string>());
    }
  } catch (const nlohmann::json::exception& e) {
    fail("{}: {}", index.string(), e.what());
  }
  std::vector<std::filesystem::path> files;
  for (const std::string& shard : shards) files.push_back(dir / shard);
  return files;
}

std::vector<std::string> devices() {
#ifdef A48_HAVE_CUDA
  std::vector<std::string> lines = cuda::describe_devices();
  if (lines.empty()) lines.push_back("CUDA backend built; no CUDA device visible");
  return lines;
#else
  return {"CUDA backend not built (configure with -DA48_CUDA=ON where nvcc exists)"};
#endif
}

void run_info(const InfoOptions& options) {
  const std::filesystem::path dir =
      options.model_dir.empty() ? default_model_dir() : std::filesystem::path(options.model_dir);
  const ModelConfig config = load_model_config(dir / "config.json");
  const ParameterCounts params = count_parameters(config);
  std::map<std::string, std::pair<int64_t, int64_t>> by_dtype;  // dtype -> (tensors, bytes)
  for (const auto& file : weight_files(dir)) {
    const SafetensorsFile weights(file);
    for (const TensorInfo& tensor : weights.tensors()) {
      auto& [count, bytes] = by_dtype[std::string(to_string(tensor.dtype))];
      ++count;
      bytes += static_cast<int64_t>(tensor.data.size());
    }
  }
  std::optional<Tokenizer> tokenizer;
  if (std::filesystem::exists(dir / "tokenizer.json")) {
    tokenizer = Tokenizer::from_hf_json(dir / "tokenizer.json");
  }

  nlohmann::json result = {{"model", dir.string()},
                           {"config", model_config_to_json(config)},
                           {"parameters",
                            {{"embedding", params.embedding},
                             {"non_embedding", params.non_embedding},
                             {"projections", params.projections}}},
                           {"devices", devices()}};
  for (const auto& [dtype, count_bytes] : by_dtype) {
    result["bytes_by_dtype"][dtype] = {{"tensors", count_bytes.first}, {"bytes", count_bytes.second}};
  }
  if (tokenizer) {
    result["tokenizer"] = {{"vocab_size", tokenizer->vocab_size()},
                           {"bos_id", tokenizer->bos_id() ? nlohmann::json(*tokenizer->bos_id()) : nullptr},
                           {"eos_id", tokenizer->eos_id() ? nlohmann::json(*tokenizer->eos_id()) : nullptr}};
  }
  if (options.json) {
    fmt::print("{}\n", result.dump(2));
    return;
  }
  fmt::print("model          {}\n", dir.string());
  fmt::print("shape          d={} layers={} heads={} kv_heads={} head_dim={} ffn={} vocab={} ctx={}\n",
             config.hidden_size, config.num_hidden_layers, config.num_attention_heads,
             config.num_key_value_heads, config.head_dim(), config.intermediate_size,
             config.vocab_size, config.max_position_embeddings);
  fmt::print("activations    {} (attention bits {}, top-K keep {:.2f})\n",
             to_string(config.activation_scheme), to_string(config.attention_bits),
             config.topk_fraction);
  fmt::print("ffn            {}GLU, rms_norm_eps {}, rope_theta {}, tied embeddings {}\n",
             config.hidden_act == HiddenActivation::relu2 ? "ReLU^2 " : "Swi",
             config.rms_norm_eps, config.rope_theta, config.tie_word_embeddings);
  fmt::print("parameters     {} non-embedding ({} in projections), {} embedding\n",
             params.non_embedding, params.projections, params.embedding);
  for (const auto& [dtype, count_bytes] : by_dtype) {
    fmt::print("weights {:6} {} tensors, {:.2f} MB\n", dtype, count_bytes.first,
               count_bytes.second / 1e6);
  }
  if (tokenizer) {
    fmt::print("tokenizer      {} tokens\n", tokenizer->vocab_size());
  }
  for (const std::string& device : devices()) fmt::print("device         {}\n", device);
}

}  // namespace

void register_info(CLI::App& app) {
  auto options = std::make_shared<InfoOptions>();
  CLI::App* command =
      app.add_subcommand("info", "Model configuration, parameter counts, bytes by dtype, devices");
  command->add_option("-m,--model", options->model_dir, "Model directory (default: the embedded default)");
  command->add_flag("--json", options->json, "Print as JSON");
  command->callback([options] { run_info(*options); });
}

}  // namespace a48::cli
