// The reference engine: model/forward.h's plain scalar forward behind the Engine interface, with
// host KV caches. Every fast backend is tested against it.
#pragma once

#include <memory>

#include "model/engine.h"
#include "model/kv_cache.h"

namespace a48 {

// A sequence whose state is a host KvCache (reference and CPU engines). `owner` tags the engine
// that made it, so that a state handed to another engine is refused.
class HostSequence final : public SequenceState {
 public:
  HostSequence(const ModelConfig& config, int64_t capacity_tokens, const void* owner)
      : cache_(config, capacity_tokens), owner_(owner) {}
  int64_t size() const override { return cache_.size(); }
  int64_t capacity() const override { return cache_.capacity(); }
  void truncate(int64_t n_tokens) override { cache_.truncate(n_tokens); }
  KvCache& cache() { return cache_; }
  const void* owner() const { return owner_; }

 private:
  KvCache cache_;
  const void* owner_;
};

// The host cache of each step's sequence, checking that `owner` made it (throws a48::Error).
std::vector<KvCache*> host_caches(std::span<const EngineStep> batch, const void* owner,
                                  const char* engine_name);

class ReferenceEngine final : public Engine {
 public:
  explicit ReferenceEngine(std::shared_ptr<const Model> model);
  const ModelConfig& config() const override { return model_->config; }
  std::string describe() const override { return "reference (scalar)"; }
  std::unique_ptr<SequenceState> new_sequence(int64_t capacity_tokens) override;
  std::vector<float> forward(std::span<const EngineStep> batch,
                             SparsityStats* sparsity = nullptr) override;
  // The reference's extra: every named intermediate (model/forward.h).
  std::vector<float> forward(std::span<const EngineStep> batch, const ForwardOptions& options);

 private:
  std::shared_ptr<const Model> model_;
};

}  // namespace a48
