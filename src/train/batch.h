// One training micro-batch: n_seqs sequences of seq_len tokens and their next-token targets.
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"

namespace a48 {

struct Batch {
  int64_t n_seqs = 0, seq_len = 0;
  std::vector<int32_t> inputs;   // [n_seqs, seq_len]
  std::vector<int32_t> targets;  // [n_seqs, seq_len]; -1 = not scored (ignored by the loss)
};

// Checks the batch's shape and ids against the model (inputs in [0, V), targets in [-1, V),
// seq_len <= max_position_embeddings) and returns the number of scored targets (> 0); throws
// a48::Error naming the sequence and position of a bad id.
int64_t validate_batch(const ModelConfig& config, const Batch& batch);

}  // namespace a48
