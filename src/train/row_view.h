// Row views of the [T, n] activation matrices the training forward keeps and the backward reads.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace a48::train_rows {

// Row t of a [T, n] matrix.
inline std::span<float> row(std::vector<float>& m, int64_t t, int64_t n) {
  return std::span<float>(m).subspan(static_cast<std::size_t>(t * n), static_cast<std::size_t>(n));
}
inline std::span<const float> row(const std::vector<float>& m, int64_t t, int64_t n) {
  return std::span<const float>(m).subspan(static_cast<std::size_t>(t * n),
                                           static_cast<std::size_t>(n));
}

inline std::vector<float> zeros(int64_t n) { return std::vector<float>(static_cast<std::size_t>(n)); }

}  // namespace a48::train_rows
