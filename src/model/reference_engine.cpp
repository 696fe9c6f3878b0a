#include "model/reference_engine.h"

#include "core/error.h"

namespace a48 {

std::vector<KvCache*> host_caches(std::span<const EngineStep> batch, const void* owner,
                                  const char* engine_name) {
  std::vector<KvCache*> caches;
  caches.reserve(batch.size());
  for (std::size_t s = 0; s < batch.size(); ++s) {
    auto* host = dynamic_cast<HostSequence*>(batch[s].sequence);
    check(host != nullptr && host->owner() == owner,
          "{} engine: sequence {} was not made by this engine", engine_name, s);
    caches.push_back(&host->cache());
  }
  return caches;
}

ReferenceEngine::ReferenceEngine(std::shared_ptr<const Model> model) : model_(std::move(model)) {
  check(model_ != nullptr, "reference engine: no model");
  model_->config.validate();
}

std::unique_ptr<SequenceState> ReferenceEngine::new_sequence(int64_t capacity_tokens) {
  check(capacity_tokens > 0 && capacity_tokens <= model_->config.max_position_embeddings,
        "a sequence of {} positions does not fit the model's context of {}", capacity_tokens,
        model_->config.max_position_embeddings);
  return std::make_unique<HostSequence>(model_->config, capacity_tokens, this);
}

std::vector<float> ReferenceEngine::forward(std::span<const EngineStep> batch,
                                            SparsityStats* sparsity) {
  ForwardOptions options;
  options.sparsity = sparsity;
  return forward(batch, options);
}

std::vector<float> ReferenceEngine::forward(std::span<const EngineStep> batch,
                                            const ForwardOptions& options) {
  const std::vector<KvCache*> caches = host_caches(batch, this, "reference");
  std::vector<SequenceInput> inputs;
  inputs.reserve(batch.size());
  for (std::size_t s = 0; s < batch.size(); ++s) {
    inputs.push_back({caches[s], batch[s].tokens, batch[s].all_logits});
  }
  return a48::forward(*model_, inputs, options);
}

}  // namespace a48
