// Model directories in the HF layout (config.json + safetensors), latent or packed ternary
// (docs/FORMATS.md). Every tensor the model needs must be present with the right shape and
// dtype, and every tensor present must be used: a file that does not match the config is an
// error naming the tensor and the file, never a silently half-loaded model.
#include "format/model_files.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/half.h"
#include "format/hf_ternary_pack.h"
#include "format/safetensors.h"

namespace a48 {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kWeightsFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

json read_json_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), "cannot open {}", path.string());
  std::stringstream text;
  text << in.rdbuf();
  try {
    return json::parse(text.str());
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", path.string(), e.what());
  }
}

// How a packed file's weight_scale s relates to alpha (W ~ alpha * codes). transformers has two
// readers of the same layout (integrations/bitnet.py): AutoBitLinear multiplies the output by s,
// BitLinear divides it by s; config.json's quantization_config.linear_class picks one.
enum class ScaleConvention { multiply, divide };

ScaleConvention packed_scale_convention(const json& config, const fs::path& config_path) {
  const std::string file = config_path.string();
  check(config.contains("quantization_config") && config["quantization_config"].is_object(),
        "{}: packed (U8) weights need a quantization_config object to say how weight_scale is "
        "applied",
        file);
  const json& quant = config["quantization_config"];
  const auto string_field = [&](const char* field, const char* fallback) {
    if (!quant.contains(field) || quant[field].is_null()) return std::string(fallback);
    check(quant[field].is_string(), "{}: quantization_config.{} must be a string", file, field);
    return quant[field].get<std::string>();
  };
  const std::string method = string_field("quant_method", "");
  check(method == "bitnet",
        "{}: quantization_config.quant_method '{}' is not supported (expected bitnet)", file,
        method);
  check(!quant.contains("use_rms_norm") || !quant["use_rms_norm"].is_boolean() ||
            !quant["use_rms_norm"].get<bool>(),
        "{}: quantization_config.use_rms_norm (a norm inside every BitLinear) is not supported",
        file);
  // BitNetQuantConfig's default linear_class is "bitlinear".
  const std::string linear_class = string_field("linear_class", "bitlinear");
  if (linear_class == "autobitlinear") return ScaleConvention::multiply;
  if (linear_class == "bitlinear") return ScaleConvention::divide;
  fail(
      "{}: quantization_config.linear_class '{}' is not supported (expected bitlinear or "
      "autobitlinear)",
      file, linear_class);
}

// All tensors of the model's safetensors file(s), each used at most once by the loader.
class TensorStore {
 public:
  explicit TensorStore(const fs::path& dir) {
    if (fs::exists(dir / kWeightsFile)) {  // as HF does, the single file wins over an index
      open(dir / kWeightsFile);
      for (const TensorInfo& info : files_.back()->tensors()) tensors_[info.name] = {0, &info};
      return;
    }
    check(fs::exists(dir / kIndexFile), "{}: neither {} nor {} exists", dir.string(), kWeightsFile,
          kIndexFile);
    load_sharded(dir, dir / kIndexFile);
  }

  // The tensor and the file that holds it, or nullptr; marks it used.
  const TensorInfo* find(const std::string& name) {
    const auto it = tensors_.find(name);
    if (it == tensors_.end()) return nullptr;
    used_.insert(name);
    return it->second.info;
  }
  const TensorInfo& require(const std::string& name) {
    const TensorInfo* info = find(name);
    check(info != nullptr, "{}: missing tensor '{}'", source_, name);
    return *info;
  }
  const SafetensorsFile& file_of(const std::string& name) const {
    return *files_[tensors_.at(name).file];
  }

  std::vector<float> read_float(const std::string& name, std::vector<int64_t> shape) {
    require(name);
    return file_of(name).read_f32(name, shape);
  }

  // Fails naming the tensors no part of the model used (rotary inv_freq buffers are derived data
  // that some exporters save; they are skipped).
  void check_all_used() const {
    std::vector<std::string> unknown;
    for (const auto& [name, where] : tensors_) {
      if (used_.count(name) || name.ends_with("rotary_emb.inv_freq")) continue;
      unknown.push_back(
          fmt::format("'{}' ({})", name, files_[where.file]->path().filename().string()));
    }
    if (unknown.empty()) return;
    std::string list;
    for (std::size_t i = 0; i < unknown.size() && i < 8; ++i) list += (i ? ", " : "") + unknown[i];
    if (unknown.size() > 8) list += fmt::format(", and {} more", unknown.size() - 8);
    fail("{}: {} unknown tensor(s) the model config does not use: {}", source_, unknown.size(),
         list);
  }

 private:
  struct Where {
    std::size_t file;
    const TensorInfo* info;
  };

  void open(const fs::path& path) {
    files_.push_back(std::make_unique<SafetensorsFile>(path));
    source_ = source_.empty() ? path.string() : source_;
  }

  void load_sharded(const fs::path& dir, const fs::path& index_path) {
    source_ = index_path.string();
    const json index = read_json_file(index_path);
    check(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(),
          "{}: has no weight_map object", source_);
    std::map<std::string, std::size_t> shard_ids;  // shard file name -> files_ index
    std::map<std::string, std::string> shard_of;   // tensor name -> shard file name
    for (const auto& [name, shard] : index["weight_map"].items()) {
      check(shard.is_string(), "{}: weight_map['{}'] must be a file name", source_, name);
      const std::string shard_name = shard.get<std::string>();
      // Shards live beside the index: a path here could reach outside the model directory.
      check(!shard_name.empty() && shard_name != "." && shard_name != ".." &&
                fs::path(shard_name).filename().string() == shard_name,
            "{}: weight_map['{}'] = '{}' is not a plain file name", source_, name, shard_name);
      shard_of[name] = shard_name;
      if (!shard_ids.count(shard_name)) {
        shard_ids[shard_name] = files_.size();
        files_.push_back(std::make_unique<SafetensorsFile>(dir / shard_name));
      }
    }
    for (const auto& [shard_name, id] : shard_ids) {
      for (const TensorInfo& info : files_[id]->tensors()) {
        const auto listed = shard_of.find(info.name);
        check(listed != shard_of.end() && listed->second == shard_name,
              "{}: tensor '{}' is in shard {} but the weight_map {}", source_, info.name,
              shard_name,
              listed == shard_of.end() ? "does not list it" : "puts it in " + listed->second);
        tensors_[info.name] = {id, &info};
      }
    }
    for (const auto& [name, shard_name] : shard_of)
      check(tensors_.count(name) != 0, "{}: tensor '{}' is missing from shard {}", source_, name,
            shard_name);
  }

  std::string source_;  // the file named in errors: model.safetensors or the index
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, Where> tensors_;
  std::set<std::string> used_;
};

std::string shape_string(std::span<const int64_t> shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

bool is_float(DType dtype) {
  return dtype == DType::f32 || dtype == DType::f16 || dtype == DType::bf16;
}

LinearWeights load_linear(TensorStore& store, const std::string& prefix, int64_t n_out,
                          int64_t n_in, const std::function<ScaleConvention()>& convention) {
  const std::string name = prefix + ".weight", scale_name = prefix + ".weight_scale";
  const TensorInfo& info = store.require(name);
  const std::string file = store.file_of(name).path().string();
  LinearWeights linear;
  linear.n_out = n_out;
  linear.n_in = n_in;
  if (is_float(info.dtype)) {  // latent weights
    check(store.find(scale_name) == nullptr,
          "{}: tensor '{}' goes with packed U8 weights, but '{}' is {} (latent)", file, scale_name,
          name, to_string(info.dtype));
    linear.latent = store.read_float(name, {n_out, n_in});
    linear.quantize_from_latent();
    return linear;
  }
  check(info.dtype == DType::u8,
        "{}: tensor '{}' has dtype {}, expected F32/F16/BF16 (latent) or U8 (packed)", file, name,
        to_string(info.dtype));
  check(n_out % 4 == 0, "{}: tensor '{}' is packed U8, but n_out = {} is not a multiple of 4", file,
        name, n_out);
  const std::vector<int64_t> packed_shape = {n_out / 4, n_in};
  check(info.shape == packed_shape, "{}: packed tensor '{}' has shape {}, expected {}", file, name,
        shape_string(info.shape), shape_string(packed_shape));
  try {
    linear.ternary = unpack_ternary_hf(
        {reinterpret_cast<const uint8_t*>(info.data.data()), info.data.size()}, n_out, n_in);
  } catch (const Error& e) {
    fail("{}: tensor '{}': {}", file, name, e.what());
  }

  const TensorInfo* scale = store.find(scale_name);
  check(scale != nullptr, "{}: packed tensor '{}' has no '{}'", file, name, scale_name);
  check(scale->numel() == 1 && scale->shape.size() <= 1,
        "{}: tensor '{}' must hold one value (shape [1]), has shape {}", file, scale_name,
        shape_string(scale->shape));
  const float s = store.file_of(scale_name).read_f32(scale_name, scale->shape)[0];
  const ScaleConvention how = convention();
  if (how == ScaleConvention::multiply) {
    check(std::isfinite(s) && s >= 0, "{}: tensor '{}' = {} is not a valid scale", file, scale_name,
          s);
    linear.scale = s;
  } else {
    check(std::isfinite(s) && s > 0, "{}: tensor '{}' = {} is not a valid inverse scale", file,
          scale_name, s);
    linear.scale = 1.0f / s;
  }
  return linear;
}

}  // namespace

Model load_model(const fs::path& dir) {
  const fs::path config_path = dir / "config.json";
  const json config_json = read_json_file(config_path);
  Model model;
  try {
    model.config = parse_model_config(config_json);
  } catch (const Error& e) {
    fail("{}: {}", config_path.string(), e.what());
  }
  const ModelConfig& c = model.config;
  // Read only when a packed tensor appears, so latent checkpoints need no quantization_config.
  std::optional<ScaleConvention> convention;
  const std::function<ScaleConvention()> scale_convention = [&] {
    if (!convention) convention = packed_scale_convention(config_json, config_path);
    return *convention;
  };

  TensorStore store(dir);
  const int64_t d = c.hidden_size, v = c.vocab_size, f = c.intermediate_size;
  ModelWeights& w = model.weights;
  w.embed_tokens = store.read_float("model.embed_tokens.weight", {v, d});
  w.final_norm = store.read_float("model.norm.weight", {d});
  // A tied model's lm_head.weight, when a file carries one anyway, is ignored as HF does.
  if (c.tie_word_embeddings)
    store.find("lm_head.weight");
  else
    w.lm_head = store.read_float("lm_head.weight", {v, d});

  w.layers.resize(static_cast<std::size_t>(c.num_hidden_layers));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    LayerWeights& layer = w.layers[static_cast<std::size_t>(l)];
    const std::string p = fmt::format("model.layers.{}.", l);
    layer.attn_norm = store.read_float(p + "input_layernorm.weight", {d});
    layer.q_proj = load_linear(store, p + "self_attn.q_proj", c.q_size(), d, scale_convention);
    layer.k_proj = load_linear(store, p + "self_attn.k_proj", c.kv_size(), d, scale_convention);
    layer.v_proj = load_linear(store, p + "self_attn.v_proj", c.kv_size(), d, scale_convention);
    layer.attn_sub_norm = store.read_float(p + "self_attn.attn_sub_norm.weight", {c.q_size()});
    layer.o_proj = load_linear(store, p + "self_attn.o_proj", d, c.q_size(), scale_convention);
    layer.ffn_norm = store.read_float(p + "post_attention_layernorm.weight", {d});
    layer.gate_proj = load_linear(store, p + "mlp.gate_proj", f, d, scale_convention);
    layer.up_proj = load_linear(store, p + "mlp.up_proj", f, d, scale_convention);
    layer.ffn_sub_norm = store.read_float(p + "mlp.ffn_sub_norm.weight", {f});
    layer.down_proj = load_linear(store, p + "mlp.down_proj", d, f, scale_convention);
  }
  store.check_all_used();
  return model;
}

namespace {

// One tensor of a model being saved, owning its bytes until the file is written.
struct OwnedTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<std::byte> bytes;
};

class TensorWriter {
 public:
  // Stores `values` ([shape], row-major) as F32 or BF16.
  void add_floats(std::string name, std::vector<int64_t> shape, std::span<const float> values,
                  DType dtype) {
    int64_t numel = 1;
    for (const int64_t dim : shape) numel *= dim;  // validated config sizes: no overflow
    check(static_cast<int64_t>(values.size()) == numel,
          "cannot save tensor '{}': the model holds {} values, the config's shape {} needs {}",
          name, values.size(), shape_string(shape), numel);
    OwnedTensor tensor{std::move(name), dtype, std::move(shape), {}};
    if (dtype == DType::f32) {
      tensor.bytes.resize(values.size() * 4);
      if (!values.empty()) std::memcpy(tensor.bytes.data(), values.data(), tensor.bytes.size());
    } else {
      check(dtype == DType::bf16, "cannot save tensor '{}' as {}", tensor.name, to_string(dtype));
      tensor.bytes.resize(values.size() * 2);
      for (std::size_t i = 0; i < values.size(); ++i) {
        const uint16_t bits = f32_to_bf16(values[i]);
        std::memcpy(tensor.bytes.data() + 2 * i, &bits, 2);
      }
    }
    tensors_.push_back(std::move(tensor));
  }

  void add_linear(const std::string& prefix, const LinearWeights& linear, int64_t n_out,
                  int64_t n_in, WeightStorage storage) {
    const std::string name = prefix + ".weight";
    check(linear.n_out == n_out && linear.n_in == n_in,
          "cannot save '{}': the projection is [{}, {}], the config needs [{}, {}]", name,
          linear.n_out, linear.n_in, n_out, n_in);
    const auto numel = static_cast<std::size_t>(n_out * n_in);
    if (storage != WeightStorage::packed_ternary && !linear.latent.empty()) {
      add_floats(name, {n_out, n_in}, linear.latent,
                 storage == WeightStorage::f32 ? DType::f32 : DType::bf16);
      return;
    }
    check(linear.ternary.size() == numel, "cannot save '{}': it has {} ternary codes, expected {}",
          name, linear.ternary.size(), numel);
    check(std::isfinite(linear.scale) && linear.scale >= 0,
          "cannot save '{}': scale {} is not valid", name, linear.scale);
    if (storage !=
        WeightStorage::packed_ternary) {  // no latent weights: write Q_w(W) = scale * codes
      std::vector<float> values(numel);
      for (std::size_t i = 0; i < numel; ++i) values[i] = linear.scale * linear.ternary[i];
      add_floats(name, {n_out, n_in}, values,
                 storage == WeightStorage::f32 ? DType::f32 : DType::bf16);
      return;
    }
    std::vector<uint8_t> packed;
    try {
      packed = pack_ternary_hf(linear.ternary, n_out, n_in);
    } catch (const Error& e) {
      fail("cannot save '{}': {}", name, e.what());
    }
    OwnedTensor weight{name, DType::u8, {n_out / 4, n_in}, std::vector<std::byte>(packed.size())};
    std::memcpy(weight.bytes.data(), packed.data(), packed.size());
    tensors_.push_back(std::move(weight));
    // weight_scale = alpha, read by AutoBitLinear as a multiplier (docs/FORMATS.md). F32 rather
    // than the 2B4T file's BF16 so that alpha survives a save/load round trip exactly.
    add_floats(prefix + ".weight_scale", {1}, std::span<const float>(&linear.scale, 1), DType::f32);
  }

  void write(const fs::path& path) const {
    std::vector<TensorToWrite> views;
    views.reserve(tensors_.size());
    for (const OwnedTensor& t : tensors_) views.push_back({t.name, t.dtype, t.shape, t.bytes});
    // transformers refuses safetensors files whose metadata lacks format = pt.
    write_safetensors(path, views, {{"format", "pt"}});
  }

 private:
  std::vector<OwnedTensor> tensors_;
};

void write_text_file(const fs::path& path, const std::string& text) {
  const fs::path temp = path.string() + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    check(out.good(), "cannot create {}", temp.string());
    out << text;
    out.close();
    check(out.good(), "cannot write {}", temp.string());
  }
  std::error_code error;
  fs::rename(temp, path, error);
  check(!error, "cannot rename {} to {}: {}", temp.string(), path.string(), error.message());
}

}  // namespace

void save_model(const Model& model, const fs::path& dir, WeightStorage storage) {
  const ModelConfig& c = model.config;
  c.validate();
  const ModelWeights& w = model.weights;
  check(static_cast<int64_t>(w.layers.size()) == c.num_hidden_layers,
        "cannot save: the model has {} layers, the config says {}", w.layers.size(),
        c.num_hidden_layers);
  std::error_code error;
  fs::create_directories(dir, error);
  check(!error, "cannot create {}: {}", dir.string(), error.message());

  // Norms and embeddings stay float: F32 with f32 storage, BF16 otherwise (as in the 2B4T file).
  const DType float_dtype = storage == WeightStorage::f32 ? DType::f32 : DType::bf16;
  const int64_t d = c.hidden_size, v = c.vocab_size, f = c.intermediate_size;
  TensorWriter out;
  out.add_floats("model.embed_tokens.weight", {v, d}, w.embed_tokens, float_dtype);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const LayerWeights& layer = w.layers[static_cast<std::size_t>(l)];
    const std::string p = fmt::format("model.layers.{}.", l);
    out.add_floats(p + "input_layernorm.weight", {d}, layer.attn_norm, float_dtype);
    out.add_linear(p + "self_attn.q_proj", layer.q_proj, c.q_size(), d, storage);
    out.add_linear(p + "self_attn.k_proj", layer.k_proj, c.kv_size(), d, storage);
    out.add_linear(p + "self_attn.v_proj", layer.v_proj, c.kv_size(), d, storage);
    out.add_floats(p + "self_attn.attn_sub_norm.weight", {c.q_size()}, layer.attn_sub_norm,
                   float_dtype);
    out.add_linear(p + "self_attn.o_proj", layer.o_proj, d, c.q_size(), storage);
    out.add_floats(p + "post_attention_layernorm.weight", {d}, layer.ffn_norm, float_dtype);
    out.add_linear(p + "mlp.gate_proj", layer.gate_proj, f, d, storage);
    out.add_linear(p + "mlp.up_proj", layer.up_proj, f, d, storage);
    out.add_floats(p + "mlp.ffn_sub_norm.weight", {f}, layer.ffn_sub_norm, float_dtype);
    out.add_linear(p + "mlp.down_proj", layer.down_proj, d, f, storage);
  }
  out.add_floats("model.norm.weight", {d}, w.final_norm, float_dtype);
  if (c.tie_word_embeddings) {
    check(w.lm_head.empty(),
          "cannot save: tie_word_embeddings is set but the model has its own lm_head");
  } else {
    out.add_floats("lm_head.weight", {v, d}, w.lm_head, float_dtype);
  }
  out.write(dir / kWeightsFile);

  // quantization_config tells transformers how to run the projections: offline AutoBitLinear
  // (packed codes, output * weight_scale) or online AutoBitLinear (absmean-ternarize latent
  // weights in every forward, as for the 2B4T bf16 master weights). A full-precision model gets
  // none, so HF runs it as plain nn.Linear.
  json config = model_config_to_json(c);
  config["torch_dtype"] = storage == WeightStorage::f32 ? "float32" : "bfloat16";
  if (storage == WeightStorage::packed_ternary || c.activation_scheme != ActivationScheme::fp) {
    config["quantization_config"] = {
        {"quant_method", "bitnet"},
        {"linear_class", "autobitlinear"},
        {"quantization_mode", storage == WeightStorage::packed_ternary ? "offline" : "online"}};
  }
  write_text_file(dir / "config.json", config.dump(2) + "\n");
}

}  // namespace a48
