#include "train/batch.h"

#include "core/error.h"

namespace a48 {

int64_t validate_batch(const ModelConfig& c, const Batch& batch) {
  check(batch.n_seqs > 0 && batch.seq_len > 0, "training batch: shape [{}, {}] must be positive",
        batch.n_seqs, batch.seq_len);
  check(batch.seq_len <= c.max_position_embeddings,
        "training batch: seq_len {} exceeds max_position_embeddings {}", batch.seq_len,
        c.max_position_embeddings);
  const int64_t n = batch.n_seqs * batch.seq_len;
  check(static_cast<int64_t>(batch.inputs.size()) == n &&
            static_cast<int64_t>(batch.targets.size()) == n,
        "training batch: {} inputs and {} targets, expected [{}, {}]", batch.inputs.size(),
        batch.targets.size(), batch.n_seqs, batch.seq_len);
  int64_t scored = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t input = batch.inputs[static_cast<std::size_t>(i)];
    const int32_t target = batch.targets[static_cast<std::size_t>(i)];
    check(input >= 0 && input < c.vocab_size,
          "training batch: sequence {} position {} has input id {} outside [0, {})",
          i / batch.seq_len, i % batch.seq_len, input, c.vocab_size);
    check(target >= -1 && target < c.vocab_size,
          "training batch: sequence {} position {} has target {} outside [-1, {})",
          i / batch.seq_len, i % batch.seq_len, target, c.vocab_size);
    scored += target != -1;
  }
  check(scored > 0, "training batch: no scored targets (every target is -1)");
  return scored;
}

}  // namespace a48
