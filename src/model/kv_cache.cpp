// KV cache storage (§3.1 "Low-bit attention"): post-RoPE K and V heads, quantized per token and
// per head with the unsigned absmax quantizer of quant/kv_quant.h; 3-bit caches keep the bos
// position at 4 bits (kv_bits_for_position).
#include "model/kv_cache.h"

#include <algorithm>

#include "core/error.h"
#include "quant/kv_quant.h"

namespace a48 {

KvCache::KvCache(const ModelConfig& config, int64_t capacity_tokens)
    : n_layers_(config.num_hidden_layers),
      n_kv_heads_(config.num_key_value_heads),
      head_dim_(config.head_dim()),
      capacity_(capacity_tokens),
      bits_(kv_cache_bits(config.attention_bits)) {
  config.validate();
  check(capacity_tokens > 0, "KV cache: capacity {} must be positive", capacity_tokens);
  const auto values = static_cast<std::size_t>(n_layers_ * capacity_ * n_kv_heads_ * head_dim_);
  if (bits_ == 16) {
    k_f32_.assign(values, 0.0f);
    v_f32_.assign(values, 0.0f);
  } else {
    k_codes_.assign(values, 0);
    v_codes_.assign(values, 0);
    const auto heads = static_cast<std::size_t>(n_layers_ * capacity_ * n_kv_heads_);
    k_gamma_.assign(heads, 0.0f);
    v_gamma_.assign(heads, 0.0f);
  }
}

void KvCache::truncate(int64_t n_tokens) {
  check(n_tokens >= 0 && n_tokens <= size_, "KV cache: cannot truncate to {} positions (size {})",
        n_tokens, size_);
  size_ = n_tokens;
}

void KvCache::commit(int64_t n_tokens) {
  check(n_tokens >= 0 && size_ + n_tokens <= capacity_,
        "KV cache: committing {} positions to {} exceeds the capacity {}", n_tokens, size_,
        capacity_);
  size_ += n_tokens;
}

void KvCache::store(int64_t layer, int64_t position, std::span<const float> k,
                    std::span<const float> v) {
  check(layer >= 0 && layer < n_layers_, "KV cache: layer {} outside [0, {})", layer, n_layers_);
  check(position >= size_ && position < capacity_,
        "KV cache: cannot store position {} (committed {}, capacity {})", position, size_,
        capacity_);
  const int64_t row = n_kv_heads_ * head_dim_;
  check(static_cast<int64_t>(k.size()) == row && static_cast<int64_t>(v.size()) == row,
        "KV cache: k has {} and v {} values, expected H_kv {} * hd {}", k.size(), v.size(),
        n_kv_heads_, head_dim_);
  store_row(k_f32_, k_codes_, k_gamma_, layer, position, k);
  store_row(v_f32_, v_codes_, v_gamma_, layer, position, v);
}

void KvCache::load_k(int64_t layer, int64_t position, int64_t kv_head, std::span<float> out) const {
  load_row(k_f32_, k_codes_, k_gamma_, layer, position, kv_head, out);
}

void KvCache::load_v(int64_t layer, int64_t position, int64_t kv_head, std::span<float> out) const {
  load_row(v_f32_, v_codes_, v_gamma_, layer, position, kv_head, out);
}

void KvCache::store_row(std::vector<float>& f32, std::vector<uint8_t>& codes,
                        std::vector<float>& gammas, int64_t layer, int64_t position,
                        std::span<const float> row) {
  const int64_t head_index = (layer * capacity_ + position) * n_kv_heads_;  // of head 0
  const auto hd = static_cast<std::size_t>(head_dim_);
  if (bits_ == 16) {
    std::copy(row.begin(), row.end(), f32.begin() + head_index * head_dim_);
    return;
  }
  const int bits = kv_bits_for_position(bits_, position);
  for (int64_t g = 0; g < n_kv_heads_; ++g) {
    const auto index = static_cast<std::size_t>(head_index + g);
    gammas[index] =
        quantize_absmax_unsigned(row.subspan(static_cast<std::size_t>(g) * hd, hd), bits,
                                 std::span<uint8_t>(codes).subspan(index * hd, hd));
  }
}

void KvCache::load_row(const std::vector<float>& f32, const std::vector<uint8_t>& codes,
                       const std::vector<float>& gammas, int64_t layer, int64_t position,
                       int64_t kv_head, std::span<float> out) const {
  check(layer >= 0 && layer < n_layers_, "KV cache: layer {} outside [0, {})", layer, n_layers_);
  check(position >= 0 && position < capacity_, "KV cache: position {} outside [0, {})", position,
        capacity_);
  check(kv_head >= 0 && kv_head < n_kv_heads_, "KV cache: kv head {} outside [0, {})", kv_head,
        n_kv_heads_);
  check(static_cast<int64_t>(out.size()) == head_dim_, "KV cache: output has {} values, hd is {}",
        out.size(), head_dim_);
  const auto index =
      static_cast<std::size_t>((layer * capacity_ + position) * n_kv_heads_ + kv_head);
  const auto hd = static_cast<std::size_t>(head_dim_);
  if (bits_ == 16) {
    std::copy_n(f32.begin() + static_cast<std::ptrdiff_t>(index * hd), hd, out.begin());
    return;
  }
  dequantize_absmax_unsigned(std::span<const uint8_t>(codes).subspan(index * hd, hd),
                             kv_bits_for_position(bits_, position), gammas[index], out);
}

int64_t KvCache::packed_bytes(int64_t n_tokens) const {
  check(n_tokens >= 0, "KV cache: negative token count {}", n_tokens);
  // Per token: K and V, for every layer and kv head, ceil(bits * hd / 8) code bytes + an fp16 gamma
  // (fp16 rows and no gamma when unquantized).
  auto head_bytes = [&](int bits) {
    if (bits == 16) return 2 * head_dim_;
    return (bits * head_dim_ + 7) / 8 + 2;
  };
  auto bits_at = [&](int64_t position) {
    return bits_ == 16 ? 16 : kv_bits_for_position(bits_, position);
  };
  int64_t per_layer_head = 0;  // bytes of one (layer, kv head) over all n_tokens positions
  if (n_tokens > 0) {          // position 0 (bos) may be wider; all later positions are alike
    per_layer_head = head_bytes(bits_at(0)) + (n_tokens - 1) * head_bytes(bits_at(1));
  }
  return 2 * n_layers_ * n_kv_heads_ * per_layer_head;
}

}  // namespace a48
