// safetensors: an 8-byte little-endian header length, a JSON header of
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the data.
// Reading is memory-mapped and validates everything against hostile files: header size, JSON,
// dtypes, shapes, offsets in bounds and not overlapping, sizes that match dtype * shape.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/mapped_file.h"

namespace a48 {

enum class DType { f64, f32, f16, bf16, i64, i32, i16, i8, u8, boolean };

DType parse_dtype(std::string_view name);  // "F32", "BF16", ...; throws naming the dtype
std::string_view to_string(DType dtype);
int64_t dtype_bytes(DType dtype);

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::span<const std::byte> data;  // inside the mapped file
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);  // throws a48::Error naming path

  const std::filesystem::path& path() const { return file_.path(); }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorInfo* find(std::string_view name) const;  // nullptr when absent
  const TensorInfo& at(std::string_view name) const;    // throws naming the tensor

  // Converts a f32/f16/bf16 tensor to fp32, checking its shape; throws naming the tensor when the
  // dtype is not a float type or the shape differs.
  std::vector<float> read_f32(std::string_view name, std::span<const int64_t> expected_shape) const;

 private:
  MappedFile file_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::span<const std::byte> data;
};

// Writes to `path`.tmp, then renames, so a crash never leaves a half-written file at `path`.
void write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace a48
