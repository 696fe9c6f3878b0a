// Training checkpoints: everything a run needs to continue bit-identically, in ONE safetensors
// file (so a crash can never leave params and optimizer state from different steps side by side),
// written to a temp file and renamed. Tensors (F32, flat in ParameterLayout order):
//   "params" [P]   latent weights          "adam_m" [P]   AdamW first moments
//   "adam_v" [P]   AdamW second moments
// String metadata: "format" = "a48-checkpoint", "format_version" = "1", "step", "tokens_seen"
// (decimal), and JSON texts "model_config", "train_config", "data_loader", "rng_state".
// docs/FORMATS.md, "Training checkpoints", has the details.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "model/config.h"
#include "train/data_loader.h"

namespace a48 {

struct Checkpoint {
  ModelConfig model;            // activation_scheme = the run's final scheme
  nlohmann::json train_config;  // the trainer's settings as it passed them (a JSON object)
  int64_t step = 0;             // optimizer steps done
  int64_t tokens_seen = 0;      // training tokens consumed over all ranks
  DataLoaderState data;
  std::vector<uint64_t> rng_state;  // any generator state the trainer keeps (may be empty)
  std::vector<float> params;        // [P] P = ParameterLayout(model).total()
  std::vector<float> adam_m;        // [P]; empty when loaded without the optimizer state
  std::vector<float> adam_v;        // [P]; likewise
};

// Throws a48::Error when the buffers do not match the model config's parameter count.
void save_checkpoint(const std::filesystem::path& path, const Checkpoint& checkpoint);

// Validates everything: format tag and version, metadata fields and their JSON, the model config,
// tensor names, dtypes and sizes against the config's ParameterLayout, and finite values (v >= 0),
// naming the file, the field or the tensor (and for a bad value, the parameter it belongs to).
// with_optimizer = false skips reading adam_m and adam_v (export needs only params).
Checkpoint load_checkpoint(const std::filesystem::path& path, bool with_optimizer = true);

// Checkpoints of a run live in one directory as step_<10-digit step>.safetensors.
std::filesystem::path checkpoint_path(const std::filesystem::path& dir, int64_t step);
// Saves at checkpoint_path(dir, checkpoint.step), then deletes the oldest of the directory's
// checkpoints so that keep_last remain (keep_last = 0 keeps all). Returns the new file's path.
std::filesystem::path save_checkpoint_in_dir(const std::filesystem::path& dir,
                                             const Checkpoint& checkpoint, int64_t keep_last);
// The directory's checkpoint files, oldest (lowest step) first; temp files are ignored.
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& dir);
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& dir);

}  // namespace a48
