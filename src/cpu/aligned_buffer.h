// A fixed-size, zero-initialised byte buffer aligned to a cache line (64 bytes): packed weights
// and the kernels' padded activations live in these so that every 64-byte strip of the packed
// ternary format (ternary_pack.h) is one aligned load and one cache line.
//
// Buffers of 2 MiB and more are aligned to 2 MiB and asked for transparent huge pages: the
// sparse-input kernels read one short run per non-zero column, a new 4 KiB page almost every time,
// and with 4 KiB pages each run paid a TLB miss (a nested page walk in a VM).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace a48::cpu {

inline constexpr std::size_t kCacheLineBytes = 64;
inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t bytes) { resize(bytes); }

  // Discards the contents; the new buffer is zero-filled.
  void resize(std::size_t bytes);
  // Grows (never shrinks) and zero-fills [0, bytes): the scratch-buffer use.
  void reserve_zeroed(std::size_t bytes);

  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  std::size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t, Free> data_;
  std::size_t size_ = 0;
};

}  // namespace a48::cpu
