// The CUDA training loop behind `a48 train` (built only with the CUDA backend).
#pragma once

#include "cli/train_options.h"

namespace a48::cli {

// Runs (or, with gpus > 1 and no rank yet, launches one process per GPU and waits for them).
void run_training(const TrainOptions& options);

}  // namespace a48::cli
