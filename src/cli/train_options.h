// Options of `a48 train` (see train.cpp), shared with the CUDA training loop (train_run.cpp).
#pragma once

#include <cstdint>
#include <string>

namespace a48::cli {

struct TrainOptions {
  std::string config_path, out_dir;
  bool resume = false;
  int gpus = 1;
  std::string scheme;        // override of the final scheme
  int64_t total_tokens = 0;  // override (0: keep)
  int64_t seed = -1;         // override (-1: keep)
  int64_t stop_after_steps = 0;
  int rank = -1, world = 1;  // set by the launcher for each process
  std::string nccl_id_file;
};

}  // namespace a48::cli
