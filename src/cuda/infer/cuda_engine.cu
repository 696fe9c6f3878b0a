// CudaEngine (cuda_engine.h): the decode/prefill step as a sequence of fused kernels, replayed from
// a CUDA graph for small batches.
#include "cuda/infer/cuda_engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <utility>

#include "core/error.h"
#include "cuda/common/check.h"
#include "cuda/common/device_buffer.h"
#include "cuda/infer/attention.h"
#include "cuda/infer/attention_prefill.h"
#include "cuda/infer/bitlinear.h"
#include "cuda/infer/bitlinear_mma.h"
#include "cuda/infer/decode_layers.h"
#include "cuda/infer/head.h"
#include "cuda/infer/packed_ternary.h"
#include "cuda/infer/row_quant.h"
#include "quant/topk_sparsify.h"

namespace a48 {

namespace {

using cuda::DeviceBuffer;

// Rows per call up to which o_proj and down_proj use the sparse-input (columns) kernel when
// A48_CUDA_SPARSE_INPUT=1; above it the union of non-zero inputs is nearly dense. Off by default:
// on the H100 the dense rows kernel wins even at 1 token (docs/BENCHMARKS.md, "CUDA inference").
constexpr int64_t kSparseMaxRows = 4;
constexpr int64_t kGraphMaxRows = 16;
// Rows per call from which the BitLinear products run on the INT8 tensor cores (bitlinear_mma.h)
// instead of the dp4a decode kernels (A48_CUDA_MMA=0: never).
constexpr int64_t kMmaMinRows = 17;

bool env_on(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && std::string(v) == "1";
}

class CudaSequence final : public SequenceState {
 public:
  CudaSequence(const ModelConfig& c, int64_t capacity, const void* owner)
      : capacity_(capacity), owner_(owner), bits_(kv_cache_bits(c.attention_bits)) {
    const auto values = static_cast<std::size_t>(c.num_hidden_layers * capacity * c.kv_size());
    if (bits_ == 16) {
      k_f32_ = DeviceBuffer<float>(values);
      v_f32_ = DeviceBuffer<float>(values);
    } else {
      k_codes_ = DeviceBuffer<uint8_t>(values);
      v_codes_ = DeviceBuffer<uint8_t>(values);
      const auto heads = static_cast<std::size_t>(c.num_hidden_layers * capacity * c.num_key_value_heads);
      k_gamma_ = DeviceBuffer<float>(heads);
      v_gamma_ = DeviceBuffer<float>(heads);
    }
  }
  int64_t size() const override { return size_; }
  int64_t capacity() const override { return capacity_; }
  void truncate(int64_t n_tokens) override {
    check(n_tokens >= 0 && n_tokens <= size_, "cuda sequence: cannot truncate to {} positions (size {})", n_tokens,
          size_);
    size_ = n_tokens;
  }
  const void* owner() const { return owner_; }
  void commit(int64_t n) { size_ += n; }
  cuda::KvSlot slot(int64_t position) {
    cuda::KvSlot s;
    if (bits_ == 16) {
      s.k = k_f32_.data();
      s.v = v_f32_.data();
    } else {
      s.k = k_codes_.data();
      s.v = v_codes_.data();
      s.k_gamma = k_gamma_.data();
      s.v_gamma = v_gamma_.data();
    }
    s.position = static_cast<int32_t>(position);
    s.capacity = static_cast<int32_t>(capacity_);
    return s;
  }

 private:
  int64_t capacity_, size_ = 0;
  const void* owner_;
  int bits_;
  DeviceBuffer<float> k_f32_, v_f32_;
  DeviceBuffer<uint8_t> k_codes_, v_codes_;
  DeviceBuffer<float> k_gamma_, v_gamma_;
};

struct DeviceLayer {
  DeviceBuffer<float> attn_norm, attn_sub_norm, ffn_norm, ffn_sub_norm;
  cuda::DeviceTernary q, k, v, o_rows, o_cols, gate, up, down_rows, down_cols;
};

cuda::DeviceTernary pack(const LinearWeights& w, cuda::TernaryOrder order) {
  return cuda::upload_ternary(cuda::pack_ternary(w, order));
}

// Activation codes of one projection input, with their device buffers.
struct CodesBuffer {
  DeviceBuffer<int8_t> q;
  DeviceBuffer<float> step;
  DeviceBuffer<int32_t> sum;
  int64_t ld = 0;
  void allocate(int64_t rows, int64_t n) {
    ld = cuda::padded_codes(n);
    q = DeviceBuffer<int8_t>(static_cast<std::size_t>(rows * ld));
    step = DeviceBuffer<float>(static_cast<std::size_t>(rows));
    sum = DeviceBuffer<int32_t>(static_cast<std::size_t>(rows));
  }
  cuda::ActivationCodes view(int64_t rows) const { return {q.data(), ld, step.data(), sum.data(), rows}; }
  // Makes `a` write its codes, steps and sums here.
  void receive(cuda::RowQuantArgs& a) {
    a.q = q.data();
    a.ld_q = ld;
    a.step = step.data();
    a.sum = sum.data();
  }
};

class CudaEngine final : public Engine {
 public:
  CudaEngine(std::shared_ptr<const Model> model, int device, bool int8_head)
      : model_(std::move(model)), device_(device), int8_head_(int8_head) {
    check(model_ != nullptr, "cuda engine: no model");
    const ModelConfig& c = model_->config;
    c.validate();
    check(c.activation_scheme != ActivationScheme::fp,
          "cuda engine: the fp scheme (latent weights) is not supported; use a ternary scheme");
    check(c.head_dim() % 2 == 0, "cuda engine: head_dim {} must be even", c.head_dim());
    int count = 0;
    CUDA_CHECK(cudaGetDeviceCount(&count));
    check(device >= 0 && device < count, "cuda engine: device {} does not exist ({} visible)", device, count);
    CUDA_CHECK(cudaSetDevice(device));
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    for (ProjectionInput input : {ProjectionInput::qkv, ProjectionInput::out, ProjectionInput::gate_up,
                                  ProjectionInput::down}) {
      const ProjectionQuantization pq = projection_quantization(c.activation_scheme, input, c.topk_fraction);
      check(pq.ternary_weights && pq.quantizer != ActivationQuantizer::none,
            "cuda engine: scheme {} has an unquantized projection input", to_string(c.activation_scheme));
      pq_[static_cast<int>(input)] = pq;
    }
    upload_weights();
  }

  ~CudaEngine() override {
    print_phase_times();
    for (auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  const ModelConfig& config() const override { return model_->config; }

  std::string describe() const override {
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, device_);
    return fmt::format("cuda {} (device {}), 2-bit ternary dp4a kernels{}, head {}", prop.name, device_,
                       fused_ ? ", persistent decode kernel" : "", int8_head_ ? "int8" : "f32");
  }

  std::unique_ptr<SequenceState> new_sequence(int64_t capacity_tokens) override {
    check(capacity_tokens > 0 && capacity_tokens <= model_->config.max_position_embeddings,
          "a sequence of {} positions does not fit the model's context of {}", capacity_tokens,
          model_->config.max_position_embeddings);
    CUDA_CHECK(cudaSetDevice(device_));
    return std::make_unique<CudaSequence>(model_->config, capacity_tokens, this);
  }

  std::vector<float> forward(std::span<const EngineStep> batch, SparsityStats* /*sparsity*/) override {
    const ModelConfig& c = model_->config;
    CUDA_CHECK(cudaSetDevice(device_));
    // Everything is checked before any state changes.
    check_engine_batch(c, batch);
    std::vector<CudaSequence*> seqs;
    int64_t rows = 0;
    for (std::size_t s = 0; s < batch.size(); ++s) {
      auto* seq = dynamic_cast<CudaSequence*>(batch[s].sequence);
      check(seq != nullptr && seq->owner() == this, "cuda engine: sequence {} was not made by this engine", s);
      seqs.push_back(seq);
      rows += static_cast<int64_t>(batch[s].tokens.size());
    }
    if (batch.empty()) return {};
    check(rows <= 65535, "cuda engine: {} tokens in one call (at most 65535)", rows);

    std::vector<int32_t> tokens;
    std::vector<cuda::KvSlot> slots;
    std::vector<int32_t> logit_rows;
    std::vector<cuda::AttentionTile> tiles;
    for (std::size_t s = 0; s < batch.size(); ++s) {
      const auto n = static_cast<int64_t>(batch[s].tokens.size());
      if (cuda::attention_prefill_supports(shape_)) {
        cuda::append_attention_tiles(static_cast<int32_t>(tokens.size()), static_cast<int32_t>(n), shape_, tiles);
      }
      for (int64_t t = 0; t < n; ++t) {
        if (batch[s].all_logits || t == n - 1) logit_rows.push_back(static_cast<int32_t>(tokens.size()));
        tokens.push_back(batch[s].tokens[static_cast<std::size_t>(t)]);
        slots.push_back(seqs[s]->slot(seqs[s]->size() + t));
      }
    }
    ensure_rows(rows);
    const auto n_logits = static_cast<int64_t>(logit_rows.size());
    CUDA_CHECK(cudaMemcpyAsync(tokens_.data(), tokens.data(), tokens.size() * sizeof(int32_t), cudaMemcpyHostToDevice, stream_));
    CUDA_CHECK(cudaMemcpyAsync(slots_.data(), slots.data(), slots.size() * sizeof(cuda::KvSlot), cudaMemcpyHostToDevice, stream_));
    CUDA_CHECK(cudaMemcpyAsync(logit_rows_.data(), logit_rows.data(), logit_rows.size() * sizeof(int32_t),
                               cudaMemcpyHostToDevice, stream_));
    n_tiles_ = use_tiled_attention(rows) ? static_cast<int>(tiles.size()) : 0;
    if (n_tiles_ > 0) {
      CUDA_CHECK(cudaMemcpyAsync(tiles_.data(), tiles.data(), tiles.size() * sizeof(cuda::AttentionTile),
                                 cudaMemcpyHostToDevice, stream_));
    }
    if (use_graphs_ && rows <= kGraphMaxRows) {
      const std::pair<int64_t, int64_t> key{rows, n_logits};
      auto it = graphs_.find(key);
      if (it == graphs_.end()) {
        cudaGraph_t graph = nullptr;
        CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
        try {
          run(rows, n_logits);
        } catch (...) {
          cudaStreamEndCapture(stream_, &graph);
          if (graph != nullptr) cudaGraphDestroy(graph);
          throw;
        }
        CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
        cudaGraphExec_t exec = nullptr;
        const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
        cudaGraphDestroy(graph);
        CUDA_CHECK(e);
        it = graphs_.emplace(key, exec).first;
      }
      CUDA_CHECK(cudaGraphLaunch(it->second, stream_));
    } else {
      run(rows, n_logits);
    }
    std::vector<float> logits(static_cast<std::size_t>(n_logits * c.vocab_size));
    CUDA_CHECK(cudaMemcpyAsync(logits.data(), logits_.data(), logits.size() * sizeof(float), cudaMemcpyDeviceToHost,
                               stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (!phase_clock_.empty() && fused_ && rows <= cuda::kDecodeMaxTokens) add_phase_times();
    for (std::size_t s = 0; s < batch.size(); ++s) seqs[s]->commit(static_cast<int64_t>(batch[s].tokens.size()));
    return logits;
  }

 private:
  void upload_weights() {
    const ModelConfig& c = model_->config;
    const ModelWeights& w = model_->weights;
    const int64_t d = c.hidden_size, f = c.intermediate_size;
    check(static_cast<int64_t>(w.embed_tokens.size()) == c.vocab_size * d, "cuda engine: embed_tokens has {} values",
          w.embed_tokens.size());
    check(static_cast<int64_t>(w.layers.size()) == c.num_hidden_layers, "cuda engine: {} layers, config says {}",
          w.layers.size(), c.num_hidden_layers);
    auto norm = [](const std::vector<float>& v, int64_t n, const char* name) {
      check(static_cast<int64_t>(v.size()) == n, "cuda engine: {} has {} values, expected {}", name, v.size(), n);
      return cuda::to_device(v);
    };
    auto linear = [](const LinearWeights& lw, int64_t n_out, int64_t n_in, const char* name) -> const LinearWeights& {
      check(lw.n_out == n_out && lw.n_in == n_in && static_cast<int64_t>(lw.ternary.size()) == n_out * n_in,
            "cuda engine: {} is [{}, {}] with {} codes, expected [{}, {}]", name, lw.n_out, lw.n_in, lw.ternary.size(),
            n_out, n_in);
      return lw;
    };
    for (const LayerWeights& lw : w.layers) {
      DeviceLayer L;
      L.attn_norm = norm(lw.attn_norm, d, "input_layernorm");
      L.attn_sub_norm = norm(lw.attn_sub_norm, c.q_size(), "attn_sub_norm");
      L.ffn_norm = norm(lw.ffn_norm, d, "post_attention_layernorm");
      L.ffn_sub_norm = norm(lw.ffn_sub_norm, f, "ffn_sub_norm");
      L.q = pack(linear(lw.q_proj, c.q_size(), d, "q_proj"), cuda::TernaryOrder::rows);
      L.k = pack(linear(lw.k_proj, c.kv_size(), d, "k_proj"), cuda::TernaryOrder::rows);
      L.v = pack(linear(lw.v_proj, c.kv_size(), d, "v_proj"), cuda::TernaryOrder::rows);
      L.o_rows = pack(linear(lw.o_proj, d, c.q_size(), "o_proj"), cuda::TernaryOrder::rows);
      if (sparse_input_) L.o_cols = pack(lw.o_proj, cuda::TernaryOrder::columns);
      L.gate = pack(linear(lw.gate_proj, f, d, "gate_proj"), cuda::TernaryOrder::rows);
      L.up = pack(linear(lw.up_proj, f, d, "up_proj"), cuda::TernaryOrder::rows);
      L.down_rows = pack(linear(lw.down_proj, d, f, "down_proj"), cuda::TernaryOrder::rows);
      if (sparse_input_) L.down_cols = pack(lw.down_proj, cuda::TernaryOrder::columns);
      layers_.push_back(std::move(L));
    }
    embed_ = cuda::to_device(w.embed_tokens);
    final_norm_ = norm(w.final_norm, d, "final norm");
    head_ = cuda::upload_head(w.output_matrix(), c.vocab_size, d, int8_head_);
    std::vector<float> cos_table, sin_table;
    cuda::rope_tables(c.head_dim(), c.rope_theta, c.max_position_embeddings, cos_table, sin_table);
    cos_ = cuda::to_device(cos_table);
    sin_ = cuda::to_device(sin_table);
    shape_.n_layers = static_cast<int>(c.num_hidden_layers);
    shape_.n_heads = static_cast<int>(c.num_attention_heads);
    shape_.n_kv_heads = static_cast<int>(c.num_key_value_heads);
    shape_.head_dim = static_cast<int>(c.head_dim());
    shape_.kv_bits = kv_cache_bits(c.attention_bits);
    shape_.query_bits = query_bits(c.attention_bits);
    attention_ws_ = cuda::AttentionWorkspace(shape_, kGraphMaxRows);
    std::vector<cuda::DecodeLayerWeights> table;
    for (const DeviceLayer& L : layers_) {
      cuda::DecodeLayerWeights t;
      t.attn_norm = L.attn_norm.data();
      t.attn_sub_norm = L.attn_sub_norm.data();
      t.ffn_norm = L.ffn_norm.data();
      t.ffn_sub_norm = L.ffn_sub_norm.data();
      t.q = L.q.words.data();
      t.k = L.k.words.data();
      t.v = L.v.words.data();
      t.o = L.o_rows.words.data();
      t.gate = L.gate.words.data();
      t.up = L.up.words.data();
      t.down = L.down_rows.words.data();
      t.q_scale = L.q.scale;
      t.k_scale = L.k.scale;
      t.v_scale = L.v.scale;
      t.o_scale = L.o_rows.scale;
      t.gate_scale = L.gate.scale;
      t.up_scale = L.up.scale;
      t.down_scale = L.down_rows.scale;
      table.push_back(t);
    }
    layer_table_ = DeviceBuffer<cuda::DecodeLayerWeights>(table.size());
    CUDA_CHECK(cudaMemcpy(layer_table_.data(), table.data(), table.size() * sizeof(table[0]), cudaMemcpyHostToDevice));
    if (env_on("A48_CUDA_PHASE_TIMES")) {
      phase_clock_ = DeviceBuffer<uint64_t>(static_cast<std::size_t>(c.num_hidden_layers * cuda::kDecodePhaseStamps + 1));
      phase_ns_.assign(cuda::kDecodePhaseStamps, 0.0);
    }
    barrier_ = DeviceBuffer<uint32_t>(2);
    barrier_.fill_bytes(0);
    CUDA_CHECK(cudaDeviceSynchronize());
  }

  void ensure_rows(int64_t rows) {
    if (rows <= capacity_rows_) return;
    const ModelConfig& c = model_->config;
    const int64_t r = std::max<int64_t>(rows, 16);
    const int64_t d = c.hidden_size, f = c.intermediate_size;
    auto floats = [](int64_t n) { return DeviceBuffer<float>(static_cast<std::size_t>(n)); };
    x_ = floats(r * d);
    x_alt_ = floats(r * d);
    delta_ = floats(r * d);
    normed_ = floats(r * d);
    q_ = floats(r * c.q_size());
    k_ = floats(r * c.kv_size());
    v_ = floats(r * c.kv_size());
    attn_ = floats(r * c.q_size());
    gate_ = floats(r * f);
    up_ = floats(r * f);
    acc_ = DeviceBuffer<int32_t>(static_cast<std::size_t>(r * d));
    acc_.fill_bytes(0, stream_);
    codes_in_.allocate(r, d);
    codes_mid_.allocate(r, std::max(c.q_size(), f));
    tokens_ = DeviceBuffer<int32_t>(static_cast<std::size_t>(r));
    logit_rows_ = DeviceBuffer<int32_t>(static_cast<std::size_t>(r));
    slots_ = DeviceBuffer<cuda::KvSlot>(static_cast<std::size_t>(r));
    tiles_ = DeviceBuffer<cuda::AttentionTile>(static_cast<std::size_t>(r));  // a tile holds >= 1 row
    logits_ = floats(r * c.vocab_size);
    capacity_rows_ = r;
    for (auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);  // they captured the old buffers
    graphs_.clear();
  }

  const ProjectionQuantization& pq(ProjectionInput input) const { return pq_[static_cast<int>(input)]; }

  int64_t keep(ProjectionInput input, int64_t n) const {
    const float fraction = pq(input).topk_keep_fraction;
    return fraction < 1.0f ? topk_keep_count(n, fraction) : n;
  }

  // The residual delta of the last projection into d outputs (o_proj or down_proj) as quantize_rows
  // reads it: the columns kernel's accumulator, or the rows kernel's floats.
  void set_delta(cuda::RowQuantArgs& a, const cuda::DeviceTernary& w, bool sparse) {
    if (sparse) {
      a.delta_acc = acc_.data();
      a.ld_acc = model_->config.hidden_size;
      a.delta_alpha = w.scale;
      a.delta_step = codes_mid_.step.data();
      a.delta_sum = codes_mid_.sum.data();
    } else {
      a.delta = delta_.data();
      a.ld_delta = model_->config.hidden_size;
    }
  }

  bool use_mma(int64_t rows) const { return mma_ && rows >= kMmaMinRows; }
  // Steps of more rows than the flash-decoding workspace takes run the tiled prefill attention.
  bool use_tiled_attention(int64_t rows) const {
    return rows > attention_ws_.max_tokens && cuda::attention_prefill_supports(shape_);
  }

  // A rows-order product (bitlinear.h's contract) on the kernel that suits the row count.
  void rows_product(const cuda::BitlinearOutput* outputs, int n_outputs, const cuda::ActivationCodes& codes,
                    const float* gate, int64_t ld_gate) {
    if (use_mma(codes.n_tokens)) {
      cuda::bitlinear_rows_mma(outputs, n_outputs, codes, gate, ld_gate, model_->config.hidden_act, stream_);
    } else {
      cuda::bitlinear_rows(outputs, n_outputs, codes, gate, ld_gate, model_->config.hidden_act, stream_);
    }
  }

  void project_to_hidden(const cuda::DeviceTernary& rows_w, const cuda::DeviceTernary& cols_w, int64_t rows,
                         bool sparse) {
    const cuda::ActivationCodes codes = codes_mid_.view(rows);
    if (sparse) {
      cuda::bitlinear_columns(cols_w, codes, acc_.data(), model_->config.hidden_size, stream_);
    } else {
      const cuda::BitlinearOutput out{&rows_w, delta_.data(), model_->config.hidden_size};
      rows_product(&out, 1, codes, nullptr, 0);
    }
  }

  // The layers of a step of few tokens as one persistent kernel (decode_layers.h); x_ + delta_
  // is then the final norm's input.
  void run_fused_layers(int64_t rows) {
    const ModelConfig& c = model_->config;
    cuda::DecodeLayersArgs a;
    a.n_tokens = static_cast<int>(rows);
    a.d = static_cast<int>(c.hidden_size);
    a.f = static_cast<int>(c.intermediate_size);
    a.quantizer_qkv = static_cast<int>(pq(ProjectionInput::qkv).quantizer);
    a.quantizer_out = static_cast<int>(pq(ProjectionInput::out).quantizer);
    a.quantizer_gate_up = static_cast<int>(pq(ProjectionInput::gate_up).quantizer);
    a.quantizer_down = static_cast<int>(pq(ProjectionInput::down).quantizer);
    a.keep_out = static_cast<int>(keep(ProjectionInput::out, c.q_size()));
    a.keep_down = static_cast<int>(keep(ProjectionInput::down, c.intermediate_size));
    a.act = c.hidden_act == HiddenActivation::relu2 ? 0 : 1;
    a.eps = static_cast<float>(c.rms_norm_eps);
    a.layers = layer_table_.data();
    a.x_a = x_.data();
    a.x_b = x_alt_.data();
    a.delta_d = delta_.data();
    a.delta_o = delta_.data();  // o_proj's delta is consumed (phase E) before down_proj's is written
    a.q = q_.data();
    a.k = k_.data();
    a.v = v_.data();
    a.attn = attn_.data();
    a.gate = gate_.data();
    a.up = up_.data();
    a.slots = slots_.data();
    a.shape = shape_;
    a.max_positions = static_cast<int>(c.max_position_embeddings);
    a.cos_table = cos_.data();
    a.sin_table = sin_.data();
    a.workspace = &attention_ws_;
    a.barrier = barrier_.data();
    a.phase_clock = phase_clock_.empty() ? nullptr : phase_clock_.data();
    cuda::decode_layers(a, stream_);
  }

  // A48_CUDA_PHASE_TIMES=1: the persistent kernel's phase stamps (decode_layers.h) are summed over
  // the steps and printed to stderr when the engine goes, as the mean per layer of each phase's
  // own work (block 0's) and of its barrier wait.
  void add_phase_times() {
    std::vector<uint64_t> t(phase_clock_.size());
    CUDA_CHECK(cudaMemcpy(t.data(), phase_clock_.data(), t.size() * sizeof(uint64_t), cudaMemcpyDeviceToHost));
    const int64_t layers = model_->config.num_hidden_layers;
    for (int64_t l = 0; l < layers; ++l) {
      for (int k = 0; k < cuda::kDecodePhaseStamps; ++k) {
        const std::size_t i = static_cast<std::size_t>(1 + l * cuda::kDecodePhaseStamps + k);
        phase_ns_[static_cast<std::size_t>(k)] += static_cast<double>(t[i] - t[i - 1]);
      }
    }
    ++phase_steps_;
  }

  void print_phase_times() const {
    if (phase_steps_ == 0) return;
    const double per = 1e-3 / static_cast<double>(phase_steps_ * model_->config.num_hidden_layers);
    std::string line = "a48: persistent decode kernel, us per layer (work / barrier):";
    double total = 0;
    for (int k = 0; k < cuda::kDecodePhases; ++k) {
      const double work = phase_ns_[static_cast<std::size_t>(2 * k)] * per;
      const double wait = phase_ns_[static_cast<std::size_t>(2 * k + 1)] * per;
      line += fmt::format(" {}={:.2f}/{:.2f}", static_cast<char>('A' + k), work, wait);
      total += work + wait;
    }
    fmt::print(stderr, "{} total={:.2f} over {} steps\n", line, total, phase_steps_);
  }

  // The whole step for `rows` tokens (inputs already on the device); logits of n_logits rows.
  void run(int64_t rows, int64_t n_logits) {
    const ModelConfig& c = model_->config;
    const int64_t d = c.hidden_size, f = c.intermediate_size, qs = c.q_size(), kv = c.kv_size();
    const float eps = static_cast<float>(c.rms_norm_eps);
    const bool sparse = sparse_input_ && rows <= kSparseMaxRows;
    cuda::embed_rows(embed_.data(), d, tokens_.data(), rows, x_.data(), d, stream_);
    const cuda::DeviceTernary* last = nullptr;  // the projection whose delta is pending
    const bool fused = fused_ && rows <= cuda::kDecodeMaxTokens;
    if (fused) run_fused_layers(rows);
    for (std::size_t l = 0; l < (fused ? 0 : layers_.size()); ++l) {
      const DeviceLayer& L = layers_[l];
      const int layer = static_cast<int>(l);
      cuda::RowQuantArgs a;
      a.n_tokens = rows;
      a.n = d;
      a.x = x_.data();
      a.ld_x = d;
      if (last != nullptr) set_delta(a, *last, sparse);
      a.norm_weight = L.attn_norm.data();
      a.eps = eps;
      a.keep = d;
      a.quantizer = pq(ProjectionInput::qkv).quantizer;
      codes_in_.receive(a);
      cuda::quantize_rows(a, stream_);

      const cuda::BitlinearOutput qkv[3] = {{&L.q, q_.data(), qs}, {&L.k, k_.data(), kv}, {&L.v, v_.data(), kv}};
      rows_product(qkv, 3, codes_in_.view(rows), nullptr, 0);
      cuda::rope_store_kv(q_.data(), qs, k_.data(), v_.data(), kv, slots_.data(), rows, layer, shape_, cos_.data(),
                          sin_.data(), stream_);
      if (n_tiles_ > 0) {
        cuda::attention_prefill(q_.data(), qs, slots_.data(), tiles_.data(), n_tiles_, layer, shape_, attn_.data(), qs,
                                stream_);
      } else {
        cuda::attention(q_.data(), qs, slots_.data(), rows, layer, shape_, c.max_position_embeddings, attn_.data(),
                        qs, stream_, &attention_ws_);
      }

      cuda::RowQuantArgs o;
      o.n_tokens = rows;
      o.n = qs;
      o.x = attn_.data();
      o.ld_x = qs;
      o.norm_weight = L.attn_sub_norm.data();
      o.eps = eps;
      o.keep = keep(ProjectionInput::out, qs);
      o.quantizer = pq(ProjectionInput::out).quantizer;
      codes_mid_.receive(o);
      cuda::quantize_rows(o, stream_);
      project_to_hidden(L.o_rows, L.o_cols, rows, sparse);

      cuda::RowQuantArgs g = a;
      g.delta = nullptr;
      g.delta_acc = nullptr;
      set_delta(g, sparse ? L.o_cols : L.o_rows, sparse);
      g.norm_weight = L.ffn_norm.data();
      g.quantizer = pq(ProjectionInput::gate_up).quantizer;
      cuda::quantize_rows(g, stream_);
      if (use_mma(rows)) {  // prefill: nearly every up row has an active gate channel somewhere
        const cuda::BitlinearOutput gate_out{&L.gate, gate_.data(), f}, up_out{&L.up, up_.data(), f};
        rows_product(&gate_out, 1, codes_in_.view(rows), nullptr, 0);
        rows_product(&up_out, 1, codes_in_.view(rows), gate_.data(), f);
      } else {
        cuda::bitlinear_glu(L.gate, L.up, codes_in_.view(rows), gate_.data(), up_.data(), f, c.hidden_act, stream_);
      }

      cuda::RowQuantArgs dn;
      dn.n_tokens = rows;
      dn.n = f;
      dn.gate = gate_.data();
      dn.up = up_.data();
      dn.ld_glu = f;
      dn.act = c.hidden_act;
      dn.norm_weight = L.ffn_sub_norm.data();
      dn.eps = eps;
      dn.keep = keep(ProjectionInput::down, f);
      dn.quantizer = pq(ProjectionInput::down).quantizer;
      codes_mid_.receive(dn);
      cuda::quantize_rows(dn, stream_);
      project_to_hidden(L.down_rows, L.down_cols, rows, sparse);
      last = sparse ? &L.down_cols : &L.down_rows;
    }
    cuda::RowQuantArgs fin;
    fin.n_tokens = rows;
    fin.n = d;
    fin.x = x_.data();
    fin.ld_x = d;
    if (last != nullptr) set_delta(fin, *last, sparse);
    if (fused) {
      fin.delta = delta_.data();
      fin.ld_delta = d;
    }
    fin.norm_weight = final_norm_.data();
    fin.eps = eps;
    fin.keep = d;
    fin.quantizer = ActivationQuantizer::none;
    fin.normed = normed_.data();
    fin.ld_normed = d;
    cuda::quantize_rows(fin, stream_);
    cuda::head_logits(head_, normed_.data(), d, logit_rows_.data(), n_logits, logits_.data(), stream_);
  }

  std::shared_ptr<const Model> model_;
  int device_;
  bool int8_head_;
  // A48_CUDA_GRAPHS=0 runs every kernel launch directly (benchmarks compare both).
  bool use_graphs_ = std::getenv("A48_CUDA_GRAPHS") == nullptr || std::string(std::getenv("A48_CUDA_GRAPHS")) != "0";
  bool sparse_input_ = env_on("A48_CUDA_SPARSE_INPUT");
  bool mma_ = std::getenv("A48_CUDA_MMA") == nullptr || std::string(std::getenv("A48_CUDA_MMA")) != "0";
  // A48_CUDA_FUSED=1: steps of up to cuda::kDecodeMaxTokens tokens run the layers as one persistent
  // kernel (decode_layers.h) instead of kernel by kernel. Off by default: on the H100 it is slower
  // (every block redoes the row passes; docs/BENCHMARKS.md, "The persistent decode kernel").
  bool fused_ = env_on("A48_CUDA_FUSED");
  cudaStream_t stream_ = nullptr;
  ProjectionQuantization pq_[4];
  cuda::AttentionWorkspace attention_ws_;
  std::vector<DeviceLayer> layers_;
  DeviceBuffer<float> embed_, final_norm_, cos_, sin_;
  cuda::DeviceHead head_;
  cuda::AttentionShape shape_;
  int64_t capacity_rows_ = 0;
  DeviceBuffer<cuda::DecodeLayerWeights> layer_table_;
  DeviceBuffer<uint32_t> barrier_;
  DeviceBuffer<uint64_t> phase_clock_;
  std::vector<double> phase_ns_;
  int64_t phase_steps_ = 0;
  DeviceBuffer<float> x_, x_alt_, delta_, normed_, q_, k_, v_, attn_, gate_, up_, logits_;
  DeviceBuffer<int32_t> acc_, tokens_, logit_rows_;
  DeviceBuffer<cuda::KvSlot> slots_;
  DeviceBuffer<cuda::AttentionTile> tiles_;
  int n_tiles_ = 0;  // tiles of this call's tiled prefill attention (0: flash-decoding / one-block)
  CodesBuffer codes_in_, codes_mid_;
  std::map<std::pair<int64_t, int64_t>, cudaGraphExec_t> graphs_;
};

}  // namespace

std::unique_ptr<Engine> make_cuda_engine(std::shared_ptr<const Model> model, int device, bool int8_head) {
  return std::make_unique<CudaEngine>(std::move(model), device, int8_head);
}

}  // namespace a48
