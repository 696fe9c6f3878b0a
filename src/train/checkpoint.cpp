// Training checkpoints in one safetensors file (layout in checkpoint.h and docs/FORMATS.md).
#include "train/checkpoint.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <string_view>
#include <system_error>

#include "core/error.h"
#include "format/safetensors.h"
#include "train/parameter_layout.h"

namespace a48 {
namespace fs = std::filesystem;
namespace {

constexpr const char* kFormat = "a48-checkpoint";
constexpr const char* kFormatVersion = "1";
constexpr const char* kTensorNames[] = {"params", "adam_m", "adam_v"};

std::span<const std::byte> as_bytes(const std::vector<float>& values) {
  return std::as_bytes(std::span<const float>(values));
}

const std::string& metadata_field(const SafetensorsFile& file, const std::string& key) {
  const auto it = file.metadata().find(key);
  check(it != file.metadata().end(), "{}: checkpoint metadata has no '{}'", file.path().string(),
        key);
  return it->second;
}

int64_t parse_count(const SafetensorsFile& file, const std::string& key) {
  const std::string& text = metadata_field(file, key);
  int64_t value = -1;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  check(error == std::errc{} && end == text.data() + text.size() && !text.empty() && value >= 0,
        "{}: checkpoint metadata '{}' = '{}' is not a non-negative integer", file.path().string(),
        key, text);
  return value;
}

nlohmann::json parse_json_field(const SafetensorsFile& file, const std::string& key) {
  try {
    return nlohmann::json::parse(metadata_field(file, key));
  } catch (const nlohmann::json::parse_error& e) {
    fail("{}: checkpoint metadata '{}' is not valid JSON: {}", file.path().string(), key, e.what());
  }
}

// The parameter tensor that holds flat index i, for error messages.
std::string parameter_at(const ParameterLayout& layout, int64_t i) {
  for (const ParameterTensor& tensor : layout.tensors()) {
    if (i >= tensor.offset && i < tensor.offset + tensor.numel)
      return fmt::format("{} element {}", tensor.name, i - tensor.offset);
  }
  return "no parameter";
}

std::vector<float> read_flat(const SafetensorsFile& file, const std::string& name,
                             const ParameterLayout& layout, const ModelConfig& config) {
  const TensorInfo& tensor = file.at(name);
  const std::string what = fmt::format("{}: tensor '{}'", file.path().string(), name);
  check(tensor.dtype == DType::f32, "{} has dtype {}, expected F32", what,
        to_string(tensor.dtype));
  check(tensor.shape.size() == 1, "{} must be flat (one dimension), has {}", what,
        tensor.shape.size());
  check(tensor.shape[0] == layout.total(),
        "{} holds {} values, but the checkpoint's model config ({} layers, hidden {}, ffn {}, "
        "vocab {}) has {} parameters",
        what, tensor.shape[0], config.num_hidden_layers, config.hidden_size,
        config.intermediate_size, config.vocab_size, layout.total());
  std::vector<float> values(static_cast<std::size_t>(layout.total()));
  if (!values.empty()) std::memcpy(values.data(), tensor.data.data(), tensor.data.size());
  const bool second_moment = name == "adam_v";
  for (std::size_t i = 0; i < values.size(); ++i) {
    const float x = values[i];
    check(std::isfinite(x) && (!second_moment || x >= 0), "{}: value {} at {} ({}) is {}", what, x,
          i, parameter_at(layout, static_cast<int64_t>(i)),
          second_moment ? "not a finite non-negative second moment" : "not finite");
  }
  return values;
}

}  // namespace

void save_checkpoint(const fs::path& path, const Checkpoint& checkpoint) {
  checkpoint.model.validate();
  const ParameterLayout layout(checkpoint.model);
  const auto total = static_cast<std::size_t>(layout.total());
  for (const auto& [name, values] :
       {std::pair<const char*, const std::vector<float>*>{"params", &checkpoint.params},
        {"adam_m", &checkpoint.adam_m},
        {"adam_v", &checkpoint.adam_v}}) {
    check(values->size() == total,
          "cannot save checkpoint {}: '{}' has {} values, the model has {} parameters",
          path.string(), name, values->size(), total);
  }
  check(checkpoint.step >= 0 && checkpoint.tokens_seen >= 0,
        "cannot save checkpoint {}: step {} and tokens_seen {} must not be negative", path.string(),
        checkpoint.step, checkpoint.tokens_seen);
  check(checkpoint.train_config.is_object() || checkpoint.train_config.is_null(),
        "cannot save checkpoint {}: train_config must be a JSON object", path.string());

  const std::vector<int64_t> shape = {layout.total()};
  const std::vector<TensorToWrite> tensors = {
      {"params", DType::f32, shape, as_bytes(checkpoint.params)},
      {"adam_m", DType::f32, shape, as_bytes(checkpoint.adam_m)},
      {"adam_v", DType::f32, shape, as_bytes(checkpoint.adam_v)}};
  const nlohmann::json train_config =
      checkpoint.train_config.is_null() ? nlohmann::json::object() : checkpoint.train_config;
  const std::map<std::string, std::string> metadata = {
      {"format", kFormat},
      {"format_version", kFormatVersion},
      {"step", std::to_string(checkpoint.step)},
      {"tokens_seen", std::to_string(checkpoint.tokens_seen)},
      {"model_config", model_config_to_json(checkpoint.model).dump()},
      {"train_config", train_config.dump()},
      {"data_loader", data_loader_state_to_json(checkpoint.data).dump()},
      {"rng_state", nlohmann::json(checkpoint.rng_state).dump()}};
  write_safetensors(path, tensors, metadata);
}

Checkpoint load_checkpoint(const fs::path& path, bool with_optimizer) {
  const SafetensorsFile file(path);
  const std::string name = path.string();
  const auto format = file.metadata().find("format");
  check(format != file.metadata().end() && format->second == kFormat,
        "{}: not an a48 training checkpoint (metadata 'format' is '{}', expected '{}'); a model "
        "directory's model.safetensors is not a checkpoint",
        name, format == file.metadata().end() ? "" : format->second, kFormat);
  const std::string& version = metadata_field(file, "format_version");
  check(version == kFormatVersion, "{}: checkpoint format version '{}', this a48 reads '{}'", name,
        version, kFormatVersion);

  Checkpoint checkpoint;
  try {
    checkpoint.model = parse_model_config(parse_json_field(file, "model_config"));
    checkpoint.model.validate();
  } catch (const Error& e) {
    fail("{}: checkpoint metadata 'model_config': {}", name, e.what());
  }
  checkpoint.train_config = parse_json_field(file, "train_config");
  check(checkpoint.train_config.is_object(),
        "{}: checkpoint metadata 'train_config' must be a JSON object, got {}", name,
        checkpoint.train_config.type_name());
  try {
    checkpoint.data = parse_data_loader_state(parse_json_field(file, "data_loader"));
  } catch (const Error& e) {
    fail("{}: checkpoint metadata 'data_loader': {}", name, e.what());
  }
  const nlohmann::json rng = parse_json_field(file, "rng_state");
  check(rng.is_array(), "{}: checkpoint metadata 'rng_state' must be a JSON array, got {}", name,
        rng.type_name());
  for (std::size_t i = 0; i < rng.size(); ++i) {
    check(rng[i].is_number_unsigned(),
          "{}: checkpoint metadata 'rng_state'[{}] must be an unsigned 64-bit integer", name, i);
    checkpoint.rng_state.push_back(rng[i].get<uint64_t>());
  }
  checkpoint.step = parse_count(file, "step");
  checkpoint.tokens_seen = parse_count(file, "tokens_seen");

  const std::set<std::string> expected(std::begin(kTensorNames), std::end(kTensorNames));
  for (const TensorInfo& tensor : file.tensors()) {
    check(expected.contains(tensor.name), "{}: unexpected tensor '{}' in a checkpoint", name,
          tensor.name);
  }
  const ParameterLayout layout(checkpoint.model);
  checkpoint.params = read_flat(file, "params", layout, checkpoint.model);
  if (with_optimizer) {
    checkpoint.adam_m = read_flat(file, "adam_m", layout, checkpoint.model);
    checkpoint.adam_v = read_flat(file, "adam_v", layout, checkpoint.model);
  } else {
    for (const char* moment : {"adam_m", "adam_v"}) file.at(moment);  // present, even if unread
  }
  return checkpoint;
}

fs::path checkpoint_path(const fs::path& dir, int64_t step) {
  check(step >= 0, "checkpoint step {} must not be negative", step);
  return dir / fmt::format("step_{:010}.safetensors", step);
}

std::vector<fs::path> list_checkpoints(const fs::path& dir) {
  std::vector<std::pair<int64_t, fs::path>> found;
  std::error_code error;
  if (!fs::is_directory(dir, error)) return {};
  constexpr std::string_view kPrefix = "step_", kSuffix = ".safetensors";
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, error)) {
    // step_<at least 10 digits>.safetensors; anything else (temp files, notes) is not ours.
    const std::string file_name = entry.path().filename().string();
    if (!entry.is_regular_file() || !file_name.starts_with(kPrefix) ||
        !file_name.ends_with(kSuffix) || file_name.size() < kPrefix.size() + 10 + kSuffix.size())
      continue;
    const std::string_view digits = std::string_view(file_name).substr(
        kPrefix.size(), file_name.size() - kPrefix.size() - kSuffix.size());
    int64_t step = 0;
    const auto [end, parse_error] = std::from_chars(digits.data(), digits.data() + digits.size(), step);
    if (parse_error != std::errc{} || end != digits.data() + digits.size()) continue;
    found.emplace_back(step, entry.path());
  }
  check(!error, "cannot list checkpoints in {}: {}", dir.string(), error.message());
  std::sort(found.begin(), found.end());
  std::vector<fs::path> paths;
  for (auto& [step, path] : found) paths.push_back(std::move(path));
  return paths;
}

std::optional<fs::path> latest_checkpoint(const fs::path& dir) {
  std::vector<fs::path> all = list_checkpoints(dir);
  if (all.empty()) return std::nullopt;
  return all.back();
}

fs::path save_checkpoint_in_dir(const fs::path& dir, const Checkpoint& checkpoint,
                                int64_t keep_last) {
  check(keep_last >= 0, "keep_last {} must not be negative (0 keeps every checkpoint)", keep_last);
  std::error_code error;
  fs::create_directories(dir, error);
  check(!error, "cannot create checkpoint directory {}: {}", dir.string(), error.message());
  const fs::path path = checkpoint_path(dir, checkpoint.step);
  save_checkpoint(path, checkpoint);
  if (keep_last == 0) return path;
  // Only after the new file is complete are old ones removed: a crash keeps at least one.
  const std::vector<fs::path> all = list_checkpoints(dir);
  const auto excess = static_cast<int64_t>(all.size()) - keep_last;
  for (int64_t i = 0; i < excess; ++i) {
    const fs::path& old = all[static_cast<std::size_t>(i)];
    if (old == path) continue;  // never the one just written
    fs::remove(old, error);
    check(!error, "cannot remove old checkpoint {}: {}", old.string(), error.message());
  }
  return path;
}

}  // namespace a48
