// Training and validation batches from one token shard.
//
// The shard is cut into windows of seq_len + 1 tokens starting at multiples of seq_len (the last
// token of one window is the first of the next), so a window gives seq_len inputs and their
// seq_len next-token targets: inputs = window[0, seq_len), targets = window[1, seq_len].
// Training visits the windows in a fresh seeded permutation every epoch; data-parallel rank r of
// `world` takes permutation positions r, r + world, r + 2 world, ... so the ranks' windows are
// disjoint and together cover the permutation (the last n_windows mod world positions of each
// epoch are skipped, so every rank sees the same number). The whole position in the stream is
// DataLoaderState {seed, epoch, cursor}: restoring it continues bit-identically.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <span>
#include <vector>

#include "train/batch.h"
#include "train/token_shard.h"

namespace a48 {

struct DataLoaderState {
  uint64_t seed = 0;
  int64_t epoch = 0;
  int64_t cursor = 0;  // permutation positions of this epoch consumed by all ranks together
  bool operator==(const DataLoaderState&) const = default;
};

nlohmann::json data_loader_state_to_json(const DataLoaderState& state);
DataLoaderState parse_data_loader_state(const nlohmann::json& json);  // throws naming the field

struct DataLoaderOptions {
  int64_t seq_len = 0;
  uint64_t seed = 1;
  int rank = 0;
  int world = 1;
};

// Not thread-safe: one loader per rank (per thread), as each keeps its own cursor.
class DataLoader {
 public:
  // Throws a48::Error when the shard holds fewer than `world` windows or the options are invalid.
  DataLoader(TokenShard shard, const DataLoaderOptions& options);

  const TokenShard& shard() const { return shard_; }
  int64_t seq_len() const { return options_.seq_len; }
  int64_t n_windows() const { return n_windows_; }  // (n_tokens - 1) / seq_len

  // Training: this rank's next n_seqs windows in shuffled order, crossing into the next epoch
  // (and its new permutation) when this one is used up.
  Batch next_batch(int64_t n_seqs);
  DataLoaderState state() const { return state_; }
  // Continues from a saved state (its seed replaces the options' seed). Throws when the cursor
  // does not fit this shard.
  void restore(const DataLoaderState& state);

  // Validation: windows first_window, first_window + 1, ... in shard order, not shuffled and not
  // sharded (ranks pick their own window ranges).
  Batch sequential_batch(int64_t first_window, int64_t n_seqs) const;
  Batch batch_of_windows(std::span<const int64_t> windows) const;  // any windows, in this order

  // The window that epoch `epoch`'s permutation puts at `position` (for tests and tools).
  int64_t shuffled_window(int64_t epoch, int64_t position) const;

 private:
  const std::vector<int64_t>& permutation(int64_t epoch) const;  // cached for the latest epoch

  TokenShard shard_;
  DataLoaderOptions options_;
  int64_t n_windows_ = 0;
  DataLoaderState state_;
  mutable int64_t cached_epoch_ = -1;
  mutable uint64_t cached_seed_ = 0;
  mutable std::vector<int64_t> cached_permutation_;
};

// The permutation of [0, n) that a run with `seed` uses in `epoch`: Fisher-Yates driven by
// SplitMix64 seeded from (seed, epoch); the same on every platform.
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

}  // namespace a48
