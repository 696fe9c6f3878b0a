// One sequence's KV cache for all layers, stored at the configured attention bits (§3.1):
// fp32 rows when unquantized, else unsigned absmax codes (one byte each in this reference layout)
// plus one gamma per (layer, position, kv head). With 3-bit KV the bos position keeps 4 bits.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/config.h"

namespace a48 {

class KvCache {
 public:
  KvCache(const ModelConfig& config, int64_t capacity_tokens);

  int64_t size() const { return size_; }  // positions committed
  int64_t capacity() const { return capacity_; }
  int bits() const { return bits_; }  // 16 = fp32 storage
  int64_t n_layers() const { return n_layers_; }
  int64_t n_kv_heads() const { return n_kv_heads_; }
  int64_t head_dim() const { return head_dim_; }
  void clear() { size_ = 0; }
  void truncate(int64_t n_tokens);  // keep the first n_tokens positions

  // Writes K and V of one token at `position` (== size() + offset within the current batch) for
  // `layer`, quantizing each head post-RoPE. k, v: [H_kv * hd].
  void store(int64_t layer, int64_t position, std::span<const float> k, std::span<const float> v);
  // Dequantized head vectors. out: [hd].
  void load_k(int64_t layer, int64_t position, int64_t kv_head, std::span<float> out) const;
  void load_v(int64_t layer, int64_t position, int64_t kv_head, std::span<float> out) const;
  // Marks n more positions as valid once every layer has stored them.
  void commit(int64_t n_tokens);

  // Raw storage of one layer for the fast attention kernels (cpu/attention_kernel.h), positions
  // [0, capacity) with stride H_kv * hd: fp32 rows when bits() == 16 (codes/gammas null), else
  // codes in [0, 2^bits) and one gamma per (position, kv head) (fp32 rows null).
  const float* k_rows(int64_t layer) const { return layer_ptr(k_f32_, layer, head_dim_); }
  const float* v_rows(int64_t layer) const { return layer_ptr(v_f32_, layer, head_dim_); }
  const uint8_t* k_codes(int64_t layer) const { return layer_ptr(k_codes_, layer, head_dim_); }
  const uint8_t* v_codes(int64_t layer) const { return layer_ptr(v_codes_, layer, head_dim_); }
  const float* k_gammas(int64_t layer) const { return layer_ptr(k_gamma_, layer, 1); }
  const float* v_gammas(int64_t layer) const { return layer_ptr(v_gamma_, layer, 1); }

  // Bytes the cache would take at its bit width, densely packed (codes + one fp16 gamma per head),
  // for `n_tokens` positions: what a deployment pays, not this reference layout.
  int64_t packed_bytes(int64_t n_tokens) const;

 private:
  void store_row(std::vector<float>& f32, std::vector<uint8_t>& codes, std::vector<float>& gammas,
                 int64_t layer, int64_t position, std::span<const float> row);
  void load_row(const std::vector<float>& f32, const std::vector<uint8_t>& codes,
                const std::vector<float>& gammas, int64_t layer, int64_t position,
                int64_t kv_head, std::span<float> out) const;

  template <class T>
  const T* layer_ptr(const std::vector<T>& v, int64_t layer, int64_t per_head) const {
    return v.empty() ? nullptr : v.data() + layer * capacity_ * n_kv_heads_ * per_head;
  }

  int64_t n_layers_, n_kv_heads_, head_dim_, capacity_;
  int64_t size_ = 0;
  int bits_;
  std::vector<float> k_f32_, v_f32_;        // [L, capacity, H_kv, hd] when bits_ == 16
  std::vector<uint8_t> k_codes_, v_codes_;  // [L, capacity, H_kv, hd] otherwise
  std::vector<float> k_gamma_, v_gamma_;    // [L, capacity, H_kv]
};

}  // namespace a48
