// Seeded, sharded, resumable batches from a token shard (see data_loader.h for the windows).
#include "train/data_loader.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <type_traits>
#include <utility>

#include "core/error.h"
#include "train/portable_rng.h"

namespace a48 {
namespace {

// One stream per (seed, epoch): the epoch is mixed through a SplitMix64 step of its own so that
// neighbouring seeds and epochs do not start from related states.
uint64_t epoch_stream_seed(uint64_t seed, int64_t epoch) {
  SplitMix64 mixer(static_cast<uint64_t>(epoch));
  return seed ^ mixer.next();
}

template <class T>
T read_state_field(const nlohmann::json& json, const char* key) {
  check(json.contains(key), "data loader state: field '{}' is missing", key);
  const nlohmann::json& value = json.at(key);
  check(value.is_number_integer(), "data loader state: field '{}' must be an integer, got {}", key,
        value.type_name());
  if constexpr (std::is_unsigned_v<T>) {
    check(value.is_number_unsigned(), "data loader state: field '{}' must not be negative", key);
  }
  return value.get<T>();
}

}  // namespace

nlohmann::json data_loader_state_to_json(const DataLoaderState& state) {
  return {{"seed", state.seed}, {"epoch", state.epoch}, {"cursor", state.cursor}};
}

DataLoaderState parse_data_loader_state(const nlohmann::json& json) {
  check(json.is_object(), "data loader state: expected a JSON object, got {}", json.type_name());
  DataLoaderState state;
  state.seed = read_state_field<uint64_t>(json, "seed");
  state.epoch = read_state_field<int64_t>(json, "epoch");
  state.cursor = read_state_field<int64_t>(json, "cursor");
  check(state.epoch >= 0 && state.cursor >= 0,
        "data loader state: epoch {} and cursor {} must not be negative", state.epoch,
        state.cursor);
  return state;
}

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  check(n >= 0, "epoch_permutation: negative size {}", n);
  std::vector<int64_t> order(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  SplitMix64 rng(epoch_stream_seed(seed, epoch));
  // Fisher-Yates (Knuth's Algorithm P): position i takes a uniform pick of positions [0, i].
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i) + 1));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  return order;
}

DataLoader::DataLoader(TokenShard shard, const DataLoaderOptions& options)
    : shard_(std::move(shard)), options_(options) {
  const std::string name = shard_.path().string();
  check(options.seq_len >= 1, "data loader: seq_len {} must be >= 1", options.seq_len);
  check(options.world >= 1 && options.rank >= 0 && options.rank < options.world,
        "data loader: rank {} of world {} is not a valid data-parallel rank", options.rank,
        options.world);
  n_windows_ = shard_.size() >= 1 ? (shard_.size() - 1) / options.seq_len : 0;
  check(n_windows_ >= options.world,
        "{}: {} tokens make {} windows of {} + 1 tokens, fewer than the {} data-parallel ranks "
        "need (one each)",
        name, shard_.size(), n_windows_, options.seq_len, options.world);
  state_.seed = options.seed;
}

const std::vector<int64_t>& DataLoader::permutation(int64_t epoch) const {
  if (epoch != cached_epoch_ || state_.seed != cached_seed_) {
    cached_permutation_ = epoch_permutation(n_windows_, state_.seed, epoch);
    cached_epoch_ = epoch;
    cached_seed_ = state_.seed;
  }
  return cached_permutation_;
}

int64_t DataLoader::shuffled_window(int64_t epoch, int64_t position) const {
  check(epoch >= 0 && position >= 0 && position < n_windows_,
        "data loader: position {} of epoch {} is outside [0, {})", position, epoch, n_windows_);
  return permutation(epoch)[static_cast<std::size_t>(position)];
}

Batch DataLoader::next_batch(int64_t n_seqs) {
  check(n_seqs >= 1, "data loader: n_seqs {} must be >= 1", n_seqs);
  std::vector<int64_t> windows;
  windows.reserve(static_cast<std::size_t>(n_seqs));
  const int64_t world = options_.world;
  for (int64_t s = 0; s < n_seqs; ++s) {
    // Every rank steps the cursor by `world` per window, so all ranks agree on the state.
    if (state_.cursor + world > n_windows_) {
      ++state_.epoch;
      state_.cursor = 0;
    }
    windows.push_back(shuffled_window(state_.epoch, state_.cursor + options_.rank));
    state_.cursor += world;
  }
  return batch_of_windows(windows);
}

void DataLoader::restore(const DataLoaderState& state) {
  check(state.epoch >= 0 && state.cursor >= 0 && state.cursor <= n_windows_,
        "data loader: cannot resume at epoch {} cursor {}: {} has {} windows of {} + 1 tokens",
        state.epoch, state.cursor, shard_.path().string(), n_windows_, options_.seq_len);
  state_ = state;
}

Batch DataLoader::sequential_batch(int64_t first_window, int64_t n_seqs) const {
  check(n_seqs >= 1 && first_window >= 0 && first_window <= n_windows_ - n_seqs,
        "data loader: windows [{}, {}) are outside the {} windows of {}", first_window,
        first_window + n_seqs, n_windows_, shard_.path().string());
  std::vector<int64_t> windows(static_cast<std::size_t>(n_seqs));
  for (int64_t s = 0; s < n_seqs; ++s) windows[static_cast<std::size_t>(s)] = first_window + s;
  return batch_of_windows(windows);
}

Batch DataLoader::batch_of_windows(std::span<const int64_t> windows) const {
  const int64_t seq_len = options_.seq_len;
  Batch batch;
  batch.n_seqs = static_cast<int64_t>(windows.size());
  batch.seq_len = seq_len;
  batch.inputs.resize(windows.size() * static_cast<std::size_t>(seq_len));
  batch.targets.resize(batch.inputs.size());
  std::vector<int32_t> window(static_cast<std::size_t>(seq_len + 1));  // [seq_len + 1]
  for (std::size_t s = 0; s < windows.size(); ++s) {
    check(windows[s] >= 0 && windows[s] < n_windows_, "data loader: window {} is outside [0, {})",
          windows[s], n_windows_);
    shard_.copy(windows[s] * seq_len, window);
    const auto row = static_cast<std::ptrdiff_t>(s * static_cast<std::size_t>(seq_len));
    std::copy(window.begin(), window.end() - 1, batch.inputs.begin() + row);
    std::copy(window.begin() + 1, window.end(), batch.targets.begin() + row);
  }
  return batch;
}

}  // namespace a48
