// The inference engine interface every backend implements: the reference forward (model/forward.h),
// the fast CPU engine (cpu/cpu_engine.h) and the CUDA engine. Callers (generate, perplexity, score,
// bench, serve) hold an Engine and one SequenceState per sequence and never see which backend runs.
//
// Contract, the same for every backend:
//   - forward() runs each step's tokens at positions state->size(), state->size() + 1, ... and
//     returns fp32 logits [rows, V]: per step in order, one row per token when all_logits, else one
//     row for its last token;
//   - it checks everything first and throws a48::Error (bad token id, a sequence past its capacity,
//     a state from another engine, a state used twice); a throw leaves every state's size as it was;
//   - the positions are committed to the states only when the whole call succeeded.
// An Engine is used by one thread at a time (a server batches requests on one thread).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/config.h"
#include "model/forward.h"

namespace a48 {

class SequenceState;

// How an engine stores the LM head (and the embedding table tied to it): fp32 as the model file
// gives it (the reference's), fp16, or int8 with one absmax scale per vocabulary row.
enum class HeadPrecision { f32, f16, int8 };
HeadPrecision parse_head_precision(std::string_view name);  // "f32", "f16", "int8"
std::string_view to_string(HeadPrecision precision);

struct EngineStep {
  SequenceState* sequence = nullptr;
  std::span<const int32_t> tokens;
  bool all_logits = false;
};

// Checks a batch against the model before anything runs (every engine calls it): sequences set and
// distinct, tokens non-empty and inside the vocabulary, positions inside each sequence's capacity.
void check_engine_batch(const ModelConfig& config, std::span<const EngineStep> batch);

// The part of those checks about one sequence's tokens (s: its index in the batch): non-empty,
// inside the vocabulary, and positions up to size + n inside the sequence's capacity.
void check_step_tokens(const ModelConfig& config, std::size_t s, std::span<const int32_t> tokens, int64_t size,
                       int64_t capacity);

// One sequence's state inside an engine (its KV cache, on the host or on a device).
class SequenceState {
 public:
  virtual ~SequenceState() = default;
  virtual int64_t size() const = 0;      // positions committed
  virtual int64_t capacity() const = 0;  // positions it can hold
  virtual void truncate(int64_t n_tokens) = 0;  // keep the first n_tokens positions
  void clear() { truncate(0); }
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual const ModelConfig& config() const = 0;
  // One line for logs and benchmark tables, e.g. "cpu avx512-vnni, 2 threads, head int8".
  virtual std::string describe() const = 0;
  // A fresh, empty sequence of `capacity_tokens` positions (<= max_position_embeddings).
  virtual std::unique_ptr<SequenceState> new_sequence(int64_t capacity_tokens) = 0;
  // See the contract above. `sparsity`, when set, accumulates Table 2's counters.
  virtual std::vector<float> forward(std::span<const EngineStep> batch,
                                     SparsityStats* sparsity = nullptr) = 0;
};

}  // namespace a48
