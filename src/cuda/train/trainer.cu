// The CUDA trainer's host side: allocation, batch checks and upload, the loss, and the optimizer
// entry points. The passes themselves are trainer_forward.cu and trainer_backward.cu.
#include "cuda/train/trainer.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "cuda/common/check.h"
#include "cuda/train/cross_entropy.cuh"
#include "cuda/train/embedding.cuh"
#include "cuda/train/optimizer.cuh"
#include "cuda/train/rmsnorm.cuh"
#include "cuda/train/trainer_state.cuh"
#include "quant/topk_sparsify.h"
#include "train/parameter_names.h"

namespace a48::cuda {

namespace {

// The layout must be `config`'s: same tensors at the same offsets.
void check_layout(const ModelConfig& config, const ParameterLayout& layout) {
  const ParameterLayout expected(config);
  check(layout.tensors().size() == expected.tensors().size() && layout.total() == expected.total(),
        "cuda::Trainer: the layout has {} tensors and {} values, the config needs {} and {}",
        layout.tensors().size(), layout.total(), expected.tensors().size(), expected.total());
  for (std::size_t i = 0; i < expected.tensors().size(); ++i) {
    const ParameterTensor& a = layout.tensors()[i];
    const ParameterTensor& b = expected.tensors()[i];
    check(a.name == b.name && a.shape == b.shape && a.offset == b.offset,
          "cuda::Trainer: layout tensor {} is '{}', the config expects '{}' at the same place", i,
          a.name, b.name);
  }
}

template <class T>
DeviceBuffer<T> buffer(int64_t count) {
  return DeviceBuffer<T>(static_cast<std::size_t>(count));
}

void allocate_activations(TrainerState& s) {
  const ModelConfig& c = s.config;
  const int64_t n = s.max_tokens, d = c.hidden_size, qs = c.q_size(), kvs = c.kv_size();
  const int64_t f = c.intermediate_size, t = s.seq_len, h = c.num_attention_heads;
  const int64_t probs = s.max_seqs * h * t * t;
  s.layers.resize(static_cast<std::size_t>(c.num_hidden_layers));
  for (LayerActivationsDevice& a : s.layers) {
    a.x = buffer<float>(n * d);
    a.qkv_in = buffer<float>(n * d);
    a.q = buffer<float>(n * qs);
    a.k = buffer<float>(n * kvs);
    a.v = buffer<float>(n * kvs);
    a.probs = buffer<float>(probs);
    a.attn = buffer<float>(n * qs);
    a.o_in = buffer<float>(n * qs);
    a.h = buffer<float>(n * d);
    a.ffn_in = buffer<float>(n * d);
    a.gate_up = buffer<float>(n * 2 * f);
    a.glu = buffer<float>(n * f);
    a.down_in = buffer<float>(n * f);
  }
  const int64_t wide = std::max({d, qs, f}), qkv = qs + 2 * kvs;
  s.x_final = buffer<float>(n * d);
  s.final_normed = buffer<float>(n * d);
  s.logits = buffer<float>(n * c.vocab_size);
  s.normed = buffer<float>(n * wide);
  s.codes = buffer<float>(n * wide);
  s.step = buffer<float>(n);
  s.raw = buffer<float>(n * std::max(qkv, d));
  s.attn_heads = buffer<float>(n * qs);
  s.nonzero = buffer<int>(n);
  s.active_gates = buffer<int>(n);
  s.d_res = buffer<float>(n * d);
  s.d_in = buffer<float>(n * wide);
  s.d_mid = buffer<float>(n * std::max(qs, f));
  s.d_gate_up = buffer<float>(n * 2 * f);
  s.d_qkv = buffer<float>(n * qkv);
  s.dq = buffer<float>(n * qs);
  s.dk = buffer<float>(n * kvs);
  s.dv = buffer<float>(n * kvs);
  s.d_heads = buffer<float>(n * qs);
  s.dprobs = buffer<float>(probs);
  s.rms_r = buffer<double>(n);
  s.rms_scratch = buffer<double>(rmsnorm_weight_scratch(n, wide));
  s.row_loss = buffer<double>(n);
  s.loss_sum = buffer<double>(1);
  s.norm_scratch = buffer<double>(kSumSquaresBlocks);
  s.norm_result = buffer<double>(1);
  s.inputs = buffer<int32_t>(n);
  s.targets = buffer<int32_t>(n);
  s.bucket_unique = buffer<int32_t>(n);
  s.bucket_starts = buffer<int32_t>(n + 1);
  s.bucket_positions = buffer<int32_t>(n);
  s.non_finite = buffer<int>(1);
}

void set_up_parameters(TrainerState& s) {
  const ModelConfig& c = s.config;
  const int64_t total = s.layout.total(), padded = total + Trainer::kPadding;
  s.embed_offset = s.layout.at(std::string(kEmbedTokensName)).offset;
  s.final_norm_offset = s.layout.at(std::string(kFinalNormName)).offset;
  s.head_offset = c.tie_word_embeddings ? s.embed_offset : s.layout.at(std::string(kLmHeadName)).offset;
  std::vector<int64_t> offsets, numels;  // of every projection, in alpha order
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    LayerOffsets o;
    const auto at = [&](LayerTensor t) { return s.layout.at(layer_tensor_name(l, t)); };
    o.attn_norm = at(LayerTensor::attn_norm).offset;
    o.attn_sub_norm = at(LayerTensor::attn_sub_norm).offset;
    o.ffn_norm = at(LayerTensor::ffn_norm).offset;
    o.ffn_sub_norm = at(LayerTensor::ffn_sub_norm).offset;
    const LayerTensor projections[kProjections] = {
        LayerTensor::q_proj,    LayerTensor::k_proj,  LayerTensor::v_proj,   LayerTensor::o_proj,
        LayerTensor::gate_proj, LayerTensor::up_proj, LayerTensor::down_proj};
    for (int j = 0; j < kProjections; ++j) {
      const ParameterTensor& t = at(projections[j]);
      o.projection[j] = t.offset;
      offsets.push_back(t.offset);
      numels.push_back(t.numel);
    }
    // The fused products need q|k|v and gate|up adjacent, as the layout order puts them.
    check(o.projection[kK] == o.projection[kQ] + c.q_size() * c.hidden_size &&
              o.projection[kV] == o.projection[kK] + c.kv_size() * c.hidden_size &&
              o.projection[kUp] == o.projection[kGate] + c.intermediate_size * c.hidden_size,
          "cuda::Trainer: layer {}'s q/k/v or gate/up weights are not adjacent in the layout", l);
    s.offsets.push_back(o);
  }
  s.params = buffer<float>(padded);
  s.grads = buffer<float>(padded);
  s.m = buffer<float>(padded);
  s.v = buffer<float>(padded);
  for (DeviceBuffer<float>* b : {&s.params, &s.grads, &s.m, &s.v}) b->fill_bytes(0, s.stream);
  std::vector<uint8_t> mask(static_cast<std::size_t>(padded), 0);
  for (const ParameterTensor& t : s.layout.tensors()) {
    std::fill_n(mask.begin() + t.offset, t.numel, static_cast<uint8_t>(t.weight_decay ? 1 : 0));
  }
  s.decay_mask = to_device(mask);
  s.w_codes = buffer<float>(total);
  s.w_hat = buffer<float>(total);
  s.alpha = buffer<float>(static_cast<int64_t>(offsets.size()));
  s.ones = to_device(std::vector<float>(offsets.size(), 1.0f));
  s.ternary = std::make_unique<TernaryMatrices>(offsets, numels);
  const RopeTables rope = rope_tables(c.head_dim(), c.rope_theta, s.seq_len);
  s.rope_cos = to_device(rope.cos);
  s.rope_sin = to_device(rope.sin);
}

// Checks the batch as loss_and_gradient_cpu does, uploads it and (for training) its token
// buckets. Returns the number of scored targets (> 0).
int64_t upload_batch(TrainerState& s, const Batch& batch, bool buckets) {
  const ModelConfig& c = s.config;
  const int64_t scored = validate_batch(c, batch);
  check(batch.n_seqs <= s.max_seqs && batch.seq_len <= s.seq_len,
        "training batch: shape [{}, {}] exceeds the CUDA trainer's [{}, {}]", batch.n_seqs,
        batch.seq_len, s.max_seqs, s.seq_len);
  const int64_t n = batch.n_seqs * batch.seq_len;
  const auto bytes = static_cast<std::size_t>(n) * sizeof(int32_t);
  CUDA_CHECK(cudaMemcpyAsync(s.inputs.data(), batch.inputs.data(), bytes, cudaMemcpyHostToDevice,
                             s.stream));
  CUDA_CHECK(cudaMemcpyAsync(s.targets.data(), batch.targets.data(), bytes,
                             cudaMemcpyHostToDevice, s.stream));
  TokenBuckets b;
  if (buckets) {
    b = bucket_tokens(batch.inputs, c.vocab_size);
    s.n_unique = static_cast<int64_t>(b.unique.size());
    const auto upload = [&](DeviceBuffer<int32_t>& dst, const std::vector<int32_t>& src) {
      CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), src.size() * sizeof(int32_t),
                                 cudaMemcpyHostToDevice, s.stream));
    };
    upload(s.bucket_unique, b.unique);
    upload(s.bucket_starts, b.starts);
    upload(s.bucket_positions, b.positions);
  }
  CUDA_CHECK(cudaStreamSynchronize(s.stream));  // the host vectors may go once we return
  return scored;
}

int64_t keep_count(int64_t n, const ProjectionQuantization& pq) {
  return pq.topk_keep_fraction < 1.0f ? topk_keep_count(n, pq.topk_keep_fraction) : n;
}

PassPlan make_plan(const TrainerState& s, const Batch& batch, ActivationScheme scheme) {
  const ModelConfig& c = s.config;
  PassPlan p;
  p.shape = {batch.n_seqs, batch.seq_len, c.num_attention_heads, c.num_key_value_heads,
             c.head_dim()};
  p.tokens = batch.n_seqs * batch.seq_len;
  p.qkv = projection_quantization(scheme, ProjectionInput::qkv, c.topk_fraction);
  p.out = projection_quantization(scheme, ProjectionInput::out, c.topk_fraction);
  p.gate_up = projection_quantization(scheme, ProjectionInput::gate_up, c.topk_fraction);
  p.down = projection_quantization(scheme, ProjectionInput::down, c.topk_fraction);
  p.keep_qkv = keep_count(c.hidden_size, p.qkv);
  p.keep_out = keep_count(c.q_size(), p.out);
  p.keep_gate_up = keep_count(c.hidden_size, p.gate_up);
  p.keep_down = keep_count(c.intermediate_size, p.down);
  p.ternary = p.qkv.ternary_weights;
  return p;
}

// Eq. 2 for this pass (ternary schemes) and a cleared non-finite flag.
void begin_pass(TrainerState& s, const PassPlan& p) {
  s.non_finite.fill_bytes(0, s.stream);
  if (p.ternary) {
    s.ternary->quantize(s.params.data(), s.w_codes.data(), s.w_hat.data(), s.alpha.data(),
                        s.non_finite.data(), s.stream);
  }
}

// Cross-entropy over the logits (dlogits = scale * d loss_row / d logits when write_gradient),
// then the batch's mean loss. Throws if the pass met NaN/Inf anywhere.
double finish_loss(TrainerState& s, const PassPlan& p, int64_t scored, double scale,
                   bool write_gradient) {
  cross_entropy(s.logits.data(), s.targets.data(), p.tokens, s.config.vocab_size, scale,
                write_gradient, s.row_loss.data(), s.non_finite.data(), s.stream);
  sum_in_order(s.row_loss.data(), p.tokens, s.loss_sum.data(), s.stream);
  double loss_sum = 0.0;
  int non_finite = 0;
  CUDA_CHECK(cudaMemcpyAsync(&loss_sum, s.loss_sum.data(), sizeof(double), cudaMemcpyDeviceToHost,
                             s.stream));
  CUDA_CHECK(cudaMemcpyAsync(&non_finite, s.non_finite.data(), sizeof(int),
                             cudaMemcpyDeviceToHost, s.stream));
  CUDA_CHECK(cudaStreamSynchronize(s.stream));
  check(non_finite == 0,
        "cuda::Trainer: the forward met NaN or Inf (in the weights, an activation or the "
        "logits); no gradient was added");
  return loss_sum * (1.0 / static_cast<double>(scored));  // as loss_and_gradient_cpu
}

void check_total(const TrainerState& s, std::size_t size, const char* who) {
  check(static_cast<int64_t>(size) == s.layout.total(), "cuda::Trainer::{}: {} values, the layout {}",
        who, size, s.layout.total());
}

void copy(void* dst, const void* src, std::size_t count, cudaMemcpyKind kind, cudaStream_t stream) {
  if (count == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, count * sizeof(float), kind, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace

TrainerState::~TrainerState() {
  cudaSetDevice(device);
  gemm.reset();
  if (stream != nullptr) cudaStreamDestroy(stream);
}

Trainer::Trainer(const ModelConfig& config, const ParameterLayout& layout, int64_t max_seqs,
                 int64_t seq_len, int device) {
  config.validate();
  check(config.head_dim() % 2 == 0, "cuda::Trainer: head_dim {} must be even for RoPE",
        config.head_dim());
  check_layout(config, layout);
  check(max_seqs >= 1 && seq_len >= 1 && seq_len <= config.max_position_embeddings,
        "cuda::Trainer: batch shape [{}, {}] (seq_len at most max_position_embeddings {})",
        max_seqs, seq_len, config.max_position_embeddings);
  int count = 0;
  CUDA_CHECK(cudaGetDeviceCount(&count));
  check(device >= 0 && device < count, "cuda::Trainer: device {} of {}", device, count);
  CUDA_CHECK(cudaSetDevice(device));
  s_ = std::make_unique<TrainerState>(config, layout);
  TrainerState& s = *s_;
  s.device = device;
  s.max_seqs = max_seqs;
  s.seq_len = seq_len;
  s.max_tokens = max_seqs * seq_len;
  s.eps = static_cast<float>(config.rms_norm_eps);
  CUDA_CHECK(cudaStreamCreate(&s.stream));  // a blocking stream: it orders with cudaMemcpy
  s.gemm = std::make_unique<GemmContext>(s.stream);
  set_up_parameters(s);
  allocate_activations(s);
  CUDA_CHECK(cudaStreamSynchronize(s.stream));
}

Trainer::~Trainer() = default;

int64_t Trainer::parameter_count() const { return s_->layout.total(); }
int Trainer::device() const { return s_->device; }
float* Trainer::parameters_device() { return s_->params.data(); }
float* Trainer::gradients_device() { return s_->grads.data(); }
cudaStream_t Trainer::stream() const { return s_->stream; }
void Trainer::synchronize() const { CUDA_CHECK(cudaStreamSynchronize(s_->stream)); }
void Trainer::set_gemm_timing(bool on) { s_->gemm->set_timing(on); }
double Trainer::gemm_elapsed_ms() { return s_->gemm->elapsed_ms(); }

void Trainer::upload_parameters(std::span<const float> params) {
  check_total(*s_, params.size(), "upload_parameters");
  CUDA_CHECK(cudaSetDevice(s_->device));
  copy(s_->params.data(), params.data(), params.size(), cudaMemcpyHostToDevice, s_->stream);
}

void Trainer::download_parameters(std::span<float> params) const {
  check_total(*s_, params.size(), "download_parameters");
  CUDA_CHECK(cudaSetDevice(s_->device));
  copy(params.data(), s_->params.data(), params.size(), cudaMemcpyDeviceToHost, s_->stream);
}

double Trainer::forward_backward(const Batch& batch, ActivationScheme scheme, float loss_scale) {
  check(std::isfinite(loss_scale), "cuda::Trainer::forward_backward: loss_scale {} is not finite",
        loss_scale);
  CUDA_CHECK(cudaSetDevice(s_->device));
  TrainerState& s = *s_;
  const int64_t scored = upload_batch(s, batch, /*buckets=*/true);
  const PassPlan plan = make_plan(s, batch, scheme);
  begin_pass(s, plan);
  trainer_forward(s, plan, nullptr);
  const double scale = static_cast<double>(loss_scale) / static_cast<double>(scored);
  const double loss = finish_loss(s, plan, scored, scale, /*write_gradient=*/true);
  trainer_backward(s, plan);
  return loss;
}

double Trainer::evaluate(const Batch& batch, ActivationScheme scheme, SparsityStats* sparsity) {
  CUDA_CHECK(cudaSetDevice(s_->device));
  TrainerState& s = *s_;
  const int64_t scored = upload_batch(s, batch, /*buckets=*/false);
  const PassPlan plan = make_plan(s, batch, scheme);
  begin_pass(s, plan);
  SparsityStats stats;
  trainer_forward(s, plan, sparsity != nullptr ? &stats : nullptr);
  const double loss = finish_loss(s, plan, scored, 0.0, /*write_gradient=*/false);
  if (sparsity != nullptr) sparsity->add(stats);
  return loss;
}

void Trainer::zero_gradients() {
  CUDA_CHECK(cudaSetDevice(s_->device));
  s_->grads.fill_bytes(0, s_->stream);
}

void Trainer::download_gradients(std::span<float> grad) const {
  check_total(*s_, grad.size(), "download_gradients");
  CUDA_CHECK(cudaSetDevice(s_->device));
  copy(grad.data(), s_->grads.data(), grad.size(), cudaMemcpyDeviceToHost, s_->stream);
}

void Trainer::upload_gradients(std::span<const float> grad) {
  check_total(*s_, grad.size(), "upload_gradients");
  CUDA_CHECK(cudaSetDevice(s_->device));
  copy(s_->grads.data(), grad.data(), grad.size(), cudaMemcpyHostToDevice, s_->stream);
}

double Trainer::gradient_norm() {
  CUDA_CHECK(cudaSetDevice(s_->device));
  TrainerState& s = *s_;
  sum_squares(s.grads.data(), s.layout.total(), s.norm_scratch.data(), s.norm_result.data(),
              s.stream);
  double sum = 0.0;
  CUDA_CHECK(cudaMemcpyAsync(&sum, s.norm_result.data(), sizeof(double), cudaMemcpyDeviceToHost,
                             s.stream));
  CUDA_CHECK(cudaStreamSynchronize(s.stream));
  return std::sqrt(sum);
}

void Trainer::scale_gradients(float factor) {
  CUDA_CHECK(cudaSetDevice(s_->device));
  scale_values(s_->grads.data(), s_->layout.total(), factor, s_->stream);
}

void Trainer::adamw_step(const AdamWHyper& hyper, int64_t t, double grad_scale, int64_t offset,
                         int64_t count) {
  TrainerState& s = *s_;
  check(offset >= 0 && count >= 0 && offset <= s.layout.total() &&
            count <= s.layout.total() - offset,
        "cuda::Trainer::adamw_step: range [{}, {}) outside the {} parameters", offset,
        offset + count, s.layout.total());
  CUDA_CHECK(cudaSetDevice(s.device));
  adamw_update(s.params.data() + offset, s.grads.data() + offset, s.m.data() + offset,
               s.v.data() + offset, s.decay_mask.data() + offset, count, hyper, t, grad_scale,
               s.stream);
}

void Trainer::download_optimizer_state(std::span<float> m, std::span<float> v) const {
  check_total(*s_, m.size(), "download_optimizer_state (m)");
  check_total(*s_, v.size(), "download_optimizer_state (v)");
  CUDA_CHECK(cudaSetDevice(s_->device));
  copy(m.data(), s_->m.data(), m.size(), cudaMemcpyDeviceToHost, s_->stream);
  copy(v.data(), s_->v.data(), v.size(), cudaMemcpyDeviceToHost, s_->stream);
}

void Trainer::upload_optimizer_state(std::span<const float> m, std::span<const float> v) {
  check_total(*s_, m.size(), "upload_optimizer_state (m)");
  check_total(*s_, v.size(), "upload_optimizer_state (v)");
  CUDA_CHECK(cudaSetDevice(s_->device));
  copy(s_->m.data(), m.data(), m.size(), cudaMemcpyHostToDevice, s_->stream);
  copy(s_->v.data(), v.data(), v.size(), cudaMemcpyHostToDevice, s_->stream);
}

}  // namespace a48::cuda
