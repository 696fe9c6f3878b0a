// The fast CPU engine: the reference forward's ops (model/forward.h), with every BitLinear run by
// the packed ternary kernels (cpu/bitlinear.h) on weights packed at load, attention read straight
// from the quantized KV cache (cpu/attention_kernel.h), and the LM head at f32/f16/int8
// (cpu/lm_head.h). All the tokens of a call (every sequence's prompt chunk or next token) go
// through each projection together, so a batch reads each weight once per tile of tokens.
//
// Packing order per projection (cpu/ternary_pack.h): rows for q/k/v and gate (dense inputs), rows
// with the gate's non-zero channels as row mask for up (§2.1: "first computing the gate projection
// and then performing the up projection only on the non-zero channels of the gates"), columns for
// o_proj (top-K 50%) and down (ReLU^2: >80% zeros) so that zero inputs skip their weight columns.
//
// Agreement with the reference engine: projections are bit-exact given the same input codes; the
// attention and the head accumulate in fp32 in another order, so logits differ by fp32 rounding,
// and rarely a quantizer code flips at a rounding boundary downstream (tests/engine states the
// tolerance). With the f32 head and fp16 attention the first layer's outputs are identical.
#pragma once

#include <memory>
#include <vector>

#include "cpu/kernel_table.h"
#include "cpu/lm_head.h"
#include "cpu/ternary_pack.h"
#include "cpu/thread_pool.h"
#include "model/engine.h"

namespace a48::cpu {

struct CpuEngineOptions {
  int threads = 0;  // 0: std::thread::hardware_concurrency()
  HeadPrecision head = HeadPrecision::f32;
  const KernelTable* kernels = nullptr;  // nullptr: active_kernels() (cpu/dispatch.h)
};

class CpuEngine final : public Engine {
 public:
  // Packs the model's ternary weights; the model may be freed afterwards. Throws a48::Error for
  // the `fp` scheme (no ternary weights: run it on the reference engine) or an inconsistent model.
  CpuEngine(const Model& model, const CpuEngineOptions& options);
  ~CpuEngine() override;

  const ModelConfig& config() const override { return config_; }
  std::string describe() const override;
  std::unique_ptr<SequenceState> new_sequence(int64_t capacity_tokens) override;
  std::vector<float> forward(std::span<const EngineStep> batch,
                             SparsityStats* sparsity = nullptr) override;

  // Packed weight bytes of each projection kind summed over layers, and of the head: with Table
  // 2's sparsity of a run, what a decode step must read (the benchmarks' roofline).
  struct ProjectionBytes {
    int64_t qkv = 0, out = 0, gate = 0, up = 0, down = 0;
    int64_t total() const { return qkv + out + gate + up + down; }
  };
  ProjectionBytes projection_bytes() const;
  int64_t head_bytes() const { return head_.bytes(); }
  int threads() const { return pool_->size(); }

 private:
  struct Layer {
    std::vector<float> attn_norm, attn_sub_norm, ffn_norm, ffn_sub_norm;
    PackedLinear q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj;
  };
  struct Scratch;

  ModelConfig config_;
  std::vector<Layer> layers_;
  std::vector<float> final_norm_;
  LmHead head_;
  std::vector<float> embed_;  // [V, d] when the head is not tied (else rows come from head_)
  const KernelTable* kernels_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Scratch> scratch_;
};

}  // namespace a48::cpu
