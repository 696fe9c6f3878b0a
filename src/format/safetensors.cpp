// safetensors reader and writer. The reader treats every file as hostile: all sizes are checked
// (with overflow-checked arithmetic) before any byte of tensor data is touched, and the layout is
// held to the rules of the reference implementation (huggingface/safetensors): tensors tile the
// data section exactly, with no overlaps, holes or trailing bytes.
#include "format/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <system_error>

#include "core/error.h"
#include "core/half.h"

namespace a48 {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors is little-endian; a big-endian host would need byte swaps");

// A header larger than this is not a model file (the 2B4T header is ~40 KB).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

bool checked_mul(int64_t a, int64_t b, int64_t& out) { return !__builtin_mul_overflow(a, b, &out); }

// numel * dtype bytes of a shape, or fails naming `what` on overflow.
int64_t checked_byte_size(DType dtype, std::span<const int64_t> shape, const std::string& what) {
  int64_t numel = 1;
  for (const int64_t dim : shape) {
    check(dim >= 0, "{}: negative dimension {}", what, dim);
    check(checked_mul(numel, dim, numel), "{}: shape product overflows 64 bits", what);
  }
  int64_t bytes = 0;
  check(checked_mul(numel, dtype_bytes(dtype), bytes), "{}: byte size overflows 64 bits", what);
  return bytes;
}

std::string shape_string(std::span<const int64_t> shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// nlohmann keeps the last of duplicate keys; a duplicated tensor name would hide a tensor, so the
// parse callback records the first duplicate key at any depth and the caller rejects the file.
struct DuplicateKeyFinder {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  bool found = false;

  bool operator()(int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) {
      open_objects.emplace_back();
    } else if (event == Event::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == Event::key && !open_objects.empty()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second && !found) {
        found = true;
        duplicate = key;
      }
    }
    return true;
  }
};

// A JSON integer that fits int64 and is >= 0, or fails naming the field.
int64_t non_negative_integer(const nlohmann::json& value, const std::string& what) {
  if (value.is_number_unsigned()) {
    const uint64_t v = value.get<uint64_t>();
    check(v <= static_cast<uint64_t>(INT64_MAX), "{} is too large ({})", what, v);
    return static_cast<int64_t>(v);
  }
  check(value.is_number_integer(), "{} must be an integer, got {}", what, value.type_name());
  const int64_t v = value.get<int64_t>();
  check(v >= 0, "{} must not be negative ({})", what, v);
  return v;
}

}  // namespace

DType parse_dtype(std::string_view name) {
  if (name == "F64") return DType::f64;
  if (name == "F32") return DType::f32;
  if (name == "F16") return DType::f16;
  if (name == "BF16") return DType::bf16;
  if (name == "I64") return DType::i64;
  if (name == "I32") return DType::i32;
  if (name == "I16") return DType::i16;
  if (name == "I8") return DType::i8;
  if (name == "U8") return DType::u8;
  if (name == "BOOL") return DType::boolean;
  fail("unsupported safetensors dtype '{}' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)",
       name);
}

std::string_view to_string(DType dtype) {
  switch (dtype) {
    case DType::f64:
      return "F64";
    case DType::f32:
      return "F32";
    case DType::f16:
      return "F16";
    case DType::bf16:
      return "BF16";
    case DType::i64:
      return "I64";
    case DType::i32:
      return "I32";
    case DType::i16:
      return "I16";
    case DType::i8:
      return "I8";
    case DType::u8:
      return "U8";
    case DType::boolean:
      return "BOOL";
  }
  return "?";
}

int64_t dtype_bytes(DType dtype) {
  switch (dtype) {
    case DType::f64:
    case DType::i64:
      return 8;
    case DType::f32:
    case DType::i32:
      return 4;
    case DType::f16:
    case DType::bf16:
    case DType::i16:
      return 2;
    case DType::i8:
    case DType::u8:
    case DType::boolean:
      return 1;
  }
  fail("unknown dtype {}", static_cast<int>(dtype));
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (const int64_t dim : shape) n *= dim;  // validated against overflow when the file was read
  return n;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : file_(path) {
  const std::string file_name = path.string();
  const std::span<const std::byte> bytes = file_.bytes();
  check(bytes.size() >= 8,
        "{}: not a safetensors file: {} bytes, shorter than the 8-byte header length", file_name,
        bytes.size());
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, bytes.data(), 8);
  check(header_bytes <= kMaxHeaderBytes, "{}: header length {} is absurd (limit {} bytes)",
        file_name, header_bytes, kMaxHeaderBytes);
  check(header_bytes <= bytes.size() - 8,
        "{}: header length {} exceeds the {} bytes after it (truncated?)", file_name, header_bytes,
        bytes.size() - 8);
  const std::string_view header_text(reinterpret_cast<const char*>(bytes.data()) + 8, header_bytes);
  const std::span<const std::byte> data = bytes.subspan(8 + header_bytes);  // the data section

  DuplicateKeyFinder duplicates;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_text, std::ref(duplicates));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: header is not valid JSON: {}", file_name, e.what());
  }
  check(!duplicates.found, "{}: header has the key '{}' twice", file_name, duplicates.duplicate);
  check(header.is_object(), "{}: header must be a JSON object, got {}", file_name,
        header.type_name());

  struct Range {
    int64_t begin, end;
    std::size_t index;
  };
  std::vector<Range> ranges;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      check(entry.is_object(), "{}: __metadata__ must be an object, got {}", file_name,
            entry.type_name());
      for (const auto& [key, value] : entry.items()) {
        check(value.is_string(), "{}: __metadata__ '{}' must be a string, got {}", file_name, key,
              value.type_name());
        metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    const std::string what = fmt::format("{}: tensor '{}'", file_name, name);
    check(entry.is_object(), "{} must be an object, got {}", what, entry.type_name());
    for (const char* field : {"dtype", "shape", "data_offsets"})
      check(entry.contains(field), "{} has no '{}'", what, field);
    const nlohmann::json& dtype_json = entry["dtype"];
    const nlohmann::json& shape_json = entry["shape"];
    const nlohmann::json& offsets_json = entry["data_offsets"];
    check(dtype_json.is_string(), "{}: dtype must be a string, got {}", what,
          dtype_json.type_name());
    check(shape_json.is_array(), "{}: shape must be an array, got {}", what,
          shape_json.type_name());
    check(offsets_json.is_array() && offsets_json.size() == 2,
          "{}: data_offsets must be an array of two integers", what);

    TensorInfo info;
    info.name = name;
    try {
      info.dtype = parse_dtype(dtype_json.get<std::string>());
    } catch (const Error& e) {
      fail("{}: {}", what, e.what());
    }
    for (std::size_t i = 0; i < shape_json.size(); ++i)
      info.shape.push_back(
          non_negative_integer(shape_json[i], fmt::format("{}: shape[{}]", what, i)));
    const int64_t byte_size = checked_byte_size(info.dtype, info.shape, what);
    const int64_t begin = non_negative_integer(offsets_json[0], what + ": data_offsets[0]");
    const int64_t end = non_negative_integer(offsets_json[1], what + ": data_offsets[1]");
    check(begin <= end, "{}: data_offsets [{}, {}] has begin > end", what, begin, end);
    check(static_cast<uint64_t>(end) <= data.size(),
          "{}: data_offsets [{}, {}] run past the {}-byte data section (truncated?)", what, begin,
          end, data.size());
    check(end - begin == byte_size, "{}: data_offsets [{}, {}] hold {} bytes, but {} {} needs {}",
          what, begin, end, end - begin, to_string(info.dtype), shape_string(info.shape),
          byte_size);
    info.data = data.subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(byte_size));
    ranges.push_back({begin, end, tensors_.size()});
    tensors_.push_back(std::move(info));
  }

  // The tensors must tile the data section: sorted by offset, each begins where the last ended.
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  int64_t expected = 0;
  const std::string* previous = nullptr;
  for (const Range& range : ranges) {
    const std::string& name = tensors_[range.index].name;
    check(range.begin >= expected,
          "{}: tensor '{}' (bytes [{}, {})) overlaps tensor '{}' (ending at {})", file_name, name,
          range.begin, range.end, previous ? *previous : "", expected);
    check(range.begin == expected,
          "{}: bytes [{}, {}) of the data section belong to no tensor (before '{}')", file_name,
          expected, range.begin, name);
    expected = range.end;
    previous = &name;
  }
  check(static_cast<uint64_t>(expected) == data.size(),
        "{}: {} trailing bytes after the last tensor's data", file_name, data.size() - expected);

  // Keep file order (by offset), which is also the order the writer laid the tensors out in.
  std::vector<TensorInfo> ordered;
  ordered.reserve(tensors_.size());
  for (const Range& range : ranges) ordered.push_back(std::move(tensors_[range.index]));
  tensors_ = std::move(ordered);
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  for (const TensorInfo& tensor : tensors_)
    if (tensor.name == name) return &tensor;
  return nullptr;
}

const TensorInfo& SafetensorsFile::at(std::string_view name) const {
  const TensorInfo* tensor = find(name);
  check(tensor != nullptr, "{}: no tensor named '{}'", path().string(), name);
  return *tensor;
}

std::vector<float> SafetensorsFile::read_f32(std::string_view name,
                                             std::span<const int64_t> expected_shape) const {
  const TensorInfo& tensor = at(name);
  check(std::equal(tensor.shape.begin(), tensor.shape.end(), expected_shape.begin(),
                   expected_shape.end()),
        "{}: tensor '{}' has shape {}, expected {}", path().string(), name,
        shape_string(tensor.shape), shape_string(expected_shape));
  const auto n = static_cast<std::size_t>(tensor.numel());
  std::vector<float> out(n);
  // Tensor data may sit at any byte offset, so every element is read with memcpy.
  const std::byte* src = tensor.data.data();
  switch (tensor.dtype) {
    case DType::f32:
      if (n) std::memcpy(out.data(), src, n * sizeof(float));
      break;
    case DType::f16:
    case DType::bf16:
      for (std::size_t i = 0; i < n; ++i) {
        uint16_t bits = 0;
        std::memcpy(&bits, src + 2 * i, 2);
        out[i] = tensor.dtype == DType::f16 ? f16_to_f32(bits) : bf16_to_f32(bits);
      }
      break;
    default:
      fail("{}: tensor '{}' has dtype {}, expected a float type (F32, F16 or BF16)",
           path().string(), name, to_string(tensor.dtype));
  }
  return out;
}

void write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata) {
  // ordered_json keeps __metadata__ first and the tensors in the order their data is laid out.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string_view> names;
  int64_t offset = 0;
  for (const TensorToWrite& tensor : tensors) {
    const std::string what = fmt::format("{}: tensor '{}'", path.string(), tensor.name);
    check(tensor.name != "__metadata__", "{}: the name is reserved", what);
    check(names.insert(tensor.name).second, "{}: name given twice", what);
    const int64_t bytes = checked_byte_size(tensor.dtype, tensor.shape, what);
    check(static_cast<uint64_t>(bytes) == tensor.data.size(), "{}: {} {} needs {} bytes, got {}",
          what, to_string(tensor.dtype), shape_string(tensor.shape), bytes, tensor.data.size());
    header[tensor.name] = {{"dtype", std::string(to_string(tensor.dtype))},
                           {"shape", tensor.shape},
                           {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string header_text = header.dump();
  // Pad with spaces (valid JSON whitespace) so that the data section starts 8-byte aligned, as
  // the HF library does.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  const uint64_t header_bytes = header_text.size();

  const std::filesystem::path temp = path.string() + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    check(out.good(), "cannot create {}", temp.string());
    out.write(reinterpret_cast<const char*>(&header_bytes), 8);
    out.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
    for (const TensorToWrite& tensor : tensors)
      out.write(reinterpret_cast<const char*>(tensor.data.data()),
                static_cast<std::streamsize>(tensor.data.size()));
    out.close();
    if (!out.good()) {
      std::error_code ignored;
      std::filesystem::remove(temp, ignored);
      fail("cannot write {} (disk full?)", temp.string());
    }
  }
  std::error_code error;
  std::filesystem::rename(temp, path, error);
  if (error) {
    const std::string reason = error.message();
    std::filesystem::remove(temp, error);
    fail("cannot rename {} to {}: {}", temp.string(), path.string(), reason);
  }
}

}  // namespace a48
