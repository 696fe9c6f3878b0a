// One training micro-batch: n_seqs sequences of seq_len tokens and their next-token targets.
#pragma once

#include <cstdint>
#include <vector>

namespace a48 {

struct Batch {
  int64_t n_seqs = 0, seq_len = 0;
  std::vector<int32_t> inputs;   // [n_seqs, seq_len]
  std::vector<int32_t> targets;  // [n_seqs, seq_len]; -1 = not scored (ignored by the loss)
};

}  // namespace a48
