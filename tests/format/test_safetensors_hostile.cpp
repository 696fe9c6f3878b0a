// The safetensors reader against hostile files: every truncation of a valid file, and a table of
// malformed headers. Each must throw a48::Error naming the file (and the tensor or field), never
// crash, hang or read out of bounds (this also runs under ASan/UBSan).
#include <gtest/gtest.h>

#include <cstring>

#include "format/safetensors.h"
#include "format_test_util.h"

namespace a48 {
namespace {

using test::TempDir;
using test::throws_error_with;

// A file made of an explicit header length, header text and data section.
std::vector<char> make_file(uint64_t header_length, const std::string& header,
                            std::size_t data_bytes) {
  std::vector<char> bytes(8 + header.size() + data_bytes);
  std::memcpy(bytes.data(), &header_length, 8);
  std::copy(header.begin(), header.end(), bytes.begin() + 8);
  for (std::size_t i = 0; i < data_bytes; ++i)
    bytes[8 + header.size() + i] = static_cast<char>(i * 37 + 1);
  return bytes;
}
std::vector<char> make_file(const std::string& header, std::size_t data_bytes) {
  return make_file(header.size(), header, data_bytes);
}

TEST(SafetensorsHostile, EveryTruncationOfAValidFileThrows) {
  TempDir dir;
  const std::vector<std::byte> a(12, std::byte{3}), b(5, std::byte{4}), c(2, std::byte{5});
  const std::vector<TensorToWrite> tensors = {
      {"a", DType::f32, {3}, a}, {"b", DType::u8, {5}, b}, {"c", DType::bf16, {1}, c}};
  write_safetensors(dir / "valid.safetensors", tensors, {{"format", "pt"}});
  const std::vector<char> valid = test::read_bytes(dir / "valid.safetensors");
  ASSERT_NO_THROW(SafetensorsFile(dir / "valid.safetensors"));
  for (std::size_t length = 0; length < valid.size(); ++length) {
    const auto path = dir / "cut.safetensors";
    test::write_bytes(path,
                      std::vector<char>(valid.begin(), valid.begin() + static_cast<long>(length)));
    EXPECT_TRUE(throws_error_with([&] { SafetensorsFile file(path); }, {"cut.safetensors"}))
        << "truncated to " << length << " of " << valid.size() << " bytes";
  }
  // One byte too many is an error as well (the reference library rejects trailing data).
  std::vector<char> longer = valid;
  longer.push_back(0);
  test::write_bytes(dir / "long.safetensors", longer);
  EXPECT_TRUE(
      throws_error_with([&] { SafetensorsFile file(dir / "long.safetensors"); }, {"trailing"}));
}

struct HostileCase {
  const char* label;
  std::vector<char> bytes;
  std::vector<std::string> needles;  // the message must contain each
};

std::vector<HostileCase> hostile_cases() {
  const std::string ok_entry = R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const auto one = [](const std::string& entry) { return "{\"w\":" + entry + "}"; };
  return {
      {"empty file", {}, {"shorter than"}},
      {"header length past the end", make_file(1000, "{}", 0), {"1000", "exceeds"}},
      {"absurd header length", make_file(uint64_t{1} << 40, "{}", 0), {"absurd"}},
      {"header length all ones", make_file(~uint64_t{0}, "{}", 0), {"absurd"}},
      {"not JSON", make_file("{\"w\": ", 0), {"not valid JSON"}},
      {"binary junk", make_file(std::string("\xff\xfe\x00\x01", 4), 0), {"not valid JSON"}},
      {"JSON array", make_file("[1, 2]", 0), {"must be a JSON object", "array"}},
      {"JSON string", make_file("\"w\"", 0), {"must be a JSON object"}},
      {"entry not an object", make_file(one("5"), 0), {"'w'", "must be an object"}},
      {"missing dtype",
       make_file(one(R"({"shape":[2],"data_offsets":[0,8]})"), 8),
       {"'w'", "'dtype'"}},
      {"missing shape",
       make_file(one(R"({"dtype":"F32","data_offsets":[0,8]})"), 8),
       {"'w'", "'shape'"}},
      {"missing data_offsets",
       make_file(one(R"({"dtype":"F32","shape":[2]})"), 8),
       {"'w'", "'data_offsets'"}},
      {"dtype not a string",
       make_file(one(R"({"dtype":4,"shape":[2],"data_offsets":[0,8]})"), 8),
       {"'w'", "dtype must be a string"}},
      {"unknown dtype",
       make_file(one(R"({"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]})"), 2),
       {"'w'", "F8_E4M3"}},
      {"shape not an array",
       make_file(one(R"({"dtype":"F32","shape":2,"data_offsets":[0,8]})"), 8),
       {"'w'", "shape must be an array"}},
      {"negative dimension",
       make_file(one(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"), 8),
       {"'w'", "shape[0]", "negative"}},
      {"fractional dimension",
       make_file(one(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,8]})"), 8),
       {"'w'", "shape[0]", "integer"}},
      {"string dimension",
       make_file(one(R"({"dtype":"F32","shape":["2"],"data_offsets":[0,8]})"), 8),
       {"'w'", "shape[0]"}},
      {"dimension past int64",
       make_file(one(R"({"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,8]})"), 8),
       {"'w'", "too large"}},
      {"shape product overflows",
       make_file(
           one(R"({"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,8]})"), 8),
       {"'w'", "overflow"}},
      {"byte size overflows",
       make_file(one(R"({"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]})"), 8),
       {"'w'", "overflow"}},
      {"one offset",
       make_file(one(R"({"dtype":"F32","shape":[2],"data_offsets":[8]})"), 8),
       {"'w'", "data_offsets"}},
      {"three offsets",
       make_file(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8,8]})"), 8),
       {"'w'", "data_offsets"}},
      {"negative offset",
       make_file(one(R"({"dtype":"F32","shape":[2],"data_offsets":[-8,0]})"), 8),
       {"'w'", "data_offsets[0]", "negative"}},
      {"begin after end",
       make_file(one(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})"), 8),
       {"'w'", "begin > end"}},
      {"offsets past the data",
       make_file(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})"), 6),
       {"'w'", "run past"}},
      {"huge end offset",
       make_file(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,9223372036854775807]})"), 8),
       {"'w'", "run past"}},
      {"size does not match shape",
       make_file(one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})"), 8),
       {"'w'", "12"}},
      {"overlapping tensors",
       make_file(
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
           12),
       {"overlaps", "'a'", "'b'"}},
      {"same bytes twice",
       make_file(
           R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
           8),
       {"overlaps"}},
      {"hole between tensors",
       make_file(
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
           20),
       {"belong to no tensor", "'b'"}},
      {"trailing data", make_file(one(ok_entry), 10), {"2 trailing bytes"}},
      {"duplicate tensor name",
       make_file("{\"w\":" + ok_entry + ",\"w\":" + ok_entry + "}", 8),
       {"'w' twice"}},
      {"duplicate field",
       make_file(one(R"({"dtype":"F32","dtype":"U8","shape":[2],"data_offsets":[0,8]})"), 8),
       {"'dtype' twice"}},
      {"metadata not an object",
       make_file(R"({"__metadata__":[1]})", 0),
       {"__metadata__", "object"}},
      {"metadata value not a string",
       make_file(R"({"__metadata__":{"format":1}})", 0),
       {"'format'", "string"}},
  };
}

TEST(SafetensorsHostile, MalformedHeadersThrowNamingTheProblem) {
  TempDir dir;
  for (const HostileCase& c : hostile_cases()) {
    const auto path = dir / "bad.safetensors";
    test::write_bytes(path, c.bytes);
    std::vector<std::string> needles = c.needles;
    needles.push_back("bad.safetensors");  // every message names the file
    bool passed = false;
    try {
      SafetensorsFile file(path);
    } catch (const Error& e) {
      const std::string message = e.what();
      passed = true;
      for (const std::string& needle : needles) {
        if (message.find(needle) == std::string::npos) {
          ADD_FAILURE() << c.label << ": message \"" << message << "\" lacks \"" << needle << "\"";
          passed = false;
        }
      }
    }
    EXPECT_TRUE(passed) << c.label;
  }
}

TEST(SafetensorsHostile, ValidEdgeCasesAreAccepted) {
  // Zero-sized tensors may share an offset, the header may end in padding spaces, and a scalar has
  // the empty shape: all valid in the reference implementation.
  TempDir dir;
  const auto path = dir / "edge.safetensors";
  test::write_bytes(path, make_file(R"({"z":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},)"
                                    R"("y":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},)"
                                    R"("s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}   )",
                                    4));
  const SafetensorsFile file(path);
  ASSERT_EQ(file.tensors().size(), 3u);
  EXPECT_EQ(file.at("s").numel(), 1);
  EXPECT_EQ(file.at("z").numel(), 0);
  EXPECT_TRUE(file.at("z").data.empty());
}

TEST(SafetensorsHostile, MissingFileAndDirectory) {
  TempDir dir;
  EXPECT_TRUE(throws_error_with([&] { SafetensorsFile f(dir / "absent.safetensors"); },
                                {"absent.safetensors"}));
  EXPECT_TRUE(throws_error_with([&] { SafetensorsFile f(dir.path()); }, {"not a regular file"}));
}

}  // namespace
}  // namespace a48
