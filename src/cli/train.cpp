// `a48 train`: trains a model on the GPU (§2.2, §3, Appendix A): STE through every quantizer, AdamW
// with the b1.58 two-stage LR/WD schedule, and a4.8's two-stage activation recipe (W1.58A8 first,
// the hybrid A4 scheme for the last share of tokens, optimizer state kept). Data parallel over
// `--gpus N` processes through NCCL (gradient all-reduce, ZeRO-1 sharded AdamW update, parameter
// all-gather). Writes metrics.jsonl, checkpoints (atomic) and, at the end, the inference model.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "core/error.h"
#include "cli/train_options.h"
#include "train/train_config.h"

#ifdef A48_HAVE_CUDA
#include "cli/train_run.h"
#endif

namespace a48::cli {
namespace {

void run_train_command(const TrainOptions& options) {
#ifdef A48_HAVE_CUDA
  run_training(options);
#else
  (void)options;
  fail("`a48 train` needs the CUDA backend: configure with -DA48_CUDA=ON on a machine with nvcc");
#endif
}

}  // namespace

void register_train(CLI::App& app) {
  auto options = std::make_shared<TrainOptions>();
  CLI::App* command = app.add_subcommand("train", "Train a model on CUDA GPUs (STE, AdamW, two-stage recipe)");
  command->add_option("-c,--config", options->config_path, "Training config (JSON)")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_option("-o,--out", options->out_dir, "Run directory (metrics, checkpoints, model)")
      ->required();
  command->add_flag("--resume", options->resume, "Continue from the run directory's latest checkpoint");
  command->add_option("--gpus", options->gpus, "Data-parallel processes (one per GPU; may share one)")
      ->capture_default_str();
  command->add_option("--scheme", options->scheme, "Override the final activation scheme");
  command->add_option("--total-tokens", options->total_tokens, "Override total training tokens");
  command->add_option("--seed", options->seed, "Override the seed");
  command->add_option("--stop-after-steps", options->stop_after_steps,
                      "Stop (with a checkpoint) after this many steps in this process, for tests");
  // Internal: set by the launcher for each data-parallel process.
  command->add_option("--rank", options->rank)->group("");
  command->add_option("--world", options->world)->group("");
  command->add_option("--nccl-id-file", options->nccl_id_file)->group("");
  command->callback([options] { run_train_command(*options); });
}

}  // namespace a48::cli
