// RAII device memory: one cudaMalloc'd array of T, freed on destruction, movable, not copyable.
// Transfers are synchronous with respect to the host (they finish before returning) unless a
// stream is given, in which case they are ordered on that stream.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "cuda/common/check.h"

namespace a48::cuda {

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t count) : count_(count) {
    if (count_ > 0) CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), count_ * sizeof(T)));
  }
  ~DeviceBuffer() {
    if (data_ != nullptr) cudaFree(data_);  // no throw from a destructor
  }
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), count_(std::exchange(other.count_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      if (data_ != nullptr) cudaFree(data_);
      data_ = std::exchange(other.data_, nullptr);
      count_ = std::exchange(other.count_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }

  // Copies host values into elements [offset, offset + values.size()).
  void upload(std::span<const T> values, std::size_t offset = 0) {
    check_range(offset, values.size(), "upload");
    if (!values.empty()) {
      CUDA_CHECK(cudaMemcpy(data_ + offset, values.data(), values.size() * sizeof(T),
                            cudaMemcpyHostToDevice));
    }
  }
  void download(std::span<T> out, std::size_t offset = 0) const {
    check_range(offset, out.size(), "download");
    if (!out.empty()) {
      CUDA_CHECK(cudaMemcpy(out.data(), data_ + offset, out.size() * sizeof(T),
                            cudaMemcpyDeviceToHost));
    }
  }
  std::vector<T> to_host() const {
    std::vector<T> out(count_);
    download(out);
    return out;
  }
  // Every byte set to `byte`: 0 for zeros, 0xFF to poison floats with NaN before a kernel runs.
  void fill_bytes(int byte, cudaStream_t stream = nullptr) {
    if (count_ > 0) CUDA_CHECK(cudaMemsetAsync(data_, byte, count_ * sizeof(T), stream));
  }

 private:
  void check_range(std::size_t offset, std::size_t count, const char* who) const {
    check(offset <= count_ && count <= count_ - offset,
          "DeviceBuffer::{}: [{}, {}) is outside the buffer of {}", who, offset, offset + count,
          count_);
  }

  T* data_ = nullptr;
  std::size_t count_ = 0;
};

// Host values copied into a new device buffer.
template <class T>
DeviceBuffer<T> to_device(std::span<const T> values) {
  DeviceBuffer<T> buffer(values.size());
  buffer.upload(values);
  return buffer;
}
template <class T>
DeviceBuffer<T> to_device(const std::vector<T>& values) {
  return to_device(std::span<const T>(values));
}

}  // namespace a48::cuda
