// safetensors writer + reader: round trips of every dtype and awkward shapes, the byte layout the
// HF library writes, fp16/bf16 conversion in read_f32, and the writer's own input checks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "format/safetensors.h"
#include "format_test_util.h"

namespace a48 {
namespace {

using test::TempDir;
using test::throws_error_with;

struct OwnedTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<std::byte> bytes;
};

std::vector<TensorToWrite> views_of(const std::vector<OwnedTensor>& tensors) {
  std::vector<TensorToWrite> views;
  for (const OwnedTensor& t : tensors) views.push_back({t.name, t.dtype, t.shape, t.bytes});
  return views;
}

OwnedTensor random_tensor(std::mt19937& rng, std::string name, DType dtype,
                          std::vector<int64_t> shape) {
  int64_t numel = 1;
  for (int64_t dim : shape) numel *= dim;
  OwnedTensor t{std::move(name), dtype, std::move(shape), {}};
  t.bytes.resize(static_cast<std::size_t>(numel * dtype_bytes(dtype)));
  for (std::byte& b : t.bytes) b = static_cast<std::byte>(rng() & 0xFF);
  return t;
}

std::vector<std::byte> as_bytes(const std::vector<uint16_t>& values) {
  std::vector<std::byte> bytes(values.size() * 2);
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

TEST(Safetensors, DTypeNamesAndSizes) {
  const std::vector<std::pair<DType, int64_t>> table = {
      {DType::f64, 8}, {DType::f32, 4}, {DType::f16, 2}, {DType::bf16, 2}, {DType::i64, 8},
      {DType::i32, 4}, {DType::i16, 2}, {DType::i8, 1},  {DType::u8, 1},   {DType::boolean, 1}};
  for (const auto& [dtype, bytes] : table) {
    EXPECT_EQ(parse_dtype(to_string(dtype)), dtype);
    EXPECT_EQ(dtype_bytes(dtype), bytes) << to_string(dtype);
  }
  EXPECT_TRUE(throws_error_with([] { parse_dtype("F8_E4M3"); }, {"F8_E4M3"}));
  EXPECT_TRUE(throws_error_with([] { parse_dtype("f32"); }, {"'f32'"}));  // names are upper case
}

TEST(Safetensors, RoundTripEveryDTypeAndOddShapes) {
  std::mt19937 rng(1234);
  const std::vector<std::vector<int64_t>> shapes = {{},     {0},       {1},           {7},
                                                    {3, 5}, {2, 3, 5}, {1, 1, 1, 31}, {4, 0, 3}};
  const std::vector<DType> dtypes = {DType::f64, DType::f32,    DType::f16, DType::bf16,
                                     DType::i64, DType::i32,    DType::i16, DType::i8,
                                     DType::u8,  DType::boolean};
  std::vector<OwnedTensor> tensors;
  for (std::size_t i = 0; i < dtypes.size(); ++i) {
    for (std::size_t j = 0; j < shapes.size(); ++j) {
      // Names out of alphabetical order, so that the layout order is the order given.
      tensors.push_back(random_tensor(
          rng, fmt::format("t{}.{}", 97 - i * shapes.size() - j, to_string(dtypes[i])), dtypes[i],
          shapes[j]));
    }
  }
  const std::map<std::string, std::string> metadata = {{"format", "pt"},
                                                       {"note", "odd \"quoted\" \xc3\xa9"}};
  TempDir dir;
  write_safetensors(dir / "m.safetensors", views_of(tensors), metadata);
  EXPECT_FALSE(std::filesystem::exists(dir / "m.safetensors.tmp"));

  const SafetensorsFile file(dir / "m.safetensors");
  EXPECT_EQ(file.metadata(), metadata);
  ASSERT_EQ(file.tensors().size(), tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& info = file.tensors()[i];  // layout (offset) order == the order written
    EXPECT_EQ(info.name, tensors[i].name);
    EXPECT_EQ(info.dtype, tensors[i].dtype) << info.name;
    EXPECT_EQ(info.shape, tensors[i].shape) << info.name;
    ASSERT_EQ(info.data.size(), tensors[i].bytes.size()) << info.name;
    EXPECT_TRUE(std::equal(info.data.begin(), info.data.end(), tensors[i].bytes.begin()))
        << info.name;
    EXPECT_EQ(file.find(info.name), &info);
  }
  EXPECT_EQ(file.find("absent"), nullptr);
  EXPECT_TRUE(throws_error_with([&] { file.at("absent"); }, {"'absent'", "m.safetensors"}));
}

TEST(Safetensors, HeaderIsSpacePaddedToEightBytes) {
  // For each header length mod 8 there is a name length that produces it; the data must always
  // start 8-byte aligned, with the padding made of spaces after the JSON.
  for (int name_length = 1; name_length <= 8; ++name_length) {
    const std::vector<std::byte> data(3, std::byte{7});
    const TensorToWrite tensor{
        std::string(static_cast<std::size_t>(name_length), 'x'), DType::u8, {3}, data};
    TempDir dir;
    write_safetensors(dir / "p.safetensors", std::span(&tensor, 1));
    const std::vector<char> bytes = test::read_bytes(dir / "p.safetensors");
    uint64_t header_bytes = 0;
    std::memcpy(&header_bytes, bytes.data(), 8);
    EXPECT_EQ(header_bytes % 8, 0u);
    EXPECT_EQ(bytes.size(), 8 + header_bytes + 3);
    const std::string header(bytes.data() + 8, header_bytes);
    const std::size_t json_end = header.rfind('}');
    EXPECT_EQ(header.find_first_not_of(' ', json_end + 1), std::string::npos) << header;
    EXPECT_EQ(bytes[8 + header_bytes], 7);
  }
}

TEST(Safetensors, ReadF32ConvertsHalfTypes) {
  // f16: 0x3C00 = 1, 0xC000 = -2, 0x3555 = 0.333251953125, 0x0001 = 2^-24 (subnormal).
  // bf16: 0x3F80 = 1, 0x4049 = 3.140625, 0xC2F7 = -123.5, 0x0000 = 0.
  const std::vector<std::byte> f16 = as_bytes({0x3C00, 0xC000, 0x3555, 0x0001});
  const std::vector<std::byte> bf16 = as_bytes({0x3F80, 0x4049, 0xC2F7, 0x0000});
  const std::vector<float> f32_values = {1.5f, -0.0f, 1e-30f, -7.25f};
  std::vector<std::byte> f32(16);
  std::memcpy(f32.data(), f32_values.data(), 16);
  const std::vector<std::byte> i32(16, std::byte{1});
  const std::vector<TensorToWrite> tensors = {{"a", DType::f16, {2, 2}, f16},
                                              {"b", DType::bf16, {4}, bf16},
                                              {"c", DType::f32, {1, 4}, f32},
                                              {"d", DType::i32, {4}, i32}};
  TempDir dir;
  write_safetensors(dir / "h.safetensors", tensors);
  const SafetensorsFile file(dir / "h.safetensors");
  const std::vector<int64_t> s22 = {2, 2}, s4 = {4}, s14 = {1, 4};
  EXPECT_EQ(file.read_f32("a", s22),
            (std::vector<float>{1.0f, -2.0f, 0.333251953125f, 0x1.0p-24f}));
  EXPECT_EQ(file.read_f32("b", s4), (std::vector<float>{1.0f, 3.140625f, -123.5f, 0.0f}));
  EXPECT_EQ(file.read_f32("c", s14), f32_values);
  EXPECT_TRUE(std::signbit(file.read_f32("c", s14)[1]));
  EXPECT_TRUE(throws_error_with([&] { file.read_f32("a", s4); },
                                {"'a'", "[2, 2]", "[4]", "h.safetensors"}));
  EXPECT_TRUE(throws_error_with([&] { file.read_f32("d", s4); }, {"'d'", "I32"}));
  EXPECT_TRUE(throws_error_with([&] { file.read_f32("zz", s4); }, {"'zz'"}));
}

TEST(Safetensors, WriterRejectsBadInput) {
  TempDir dir;
  const std::vector<std::byte> bytes(8);
  const auto write = [&](std::vector<TensorToWrite> tensors) {
    write_safetensors(dir / "w.safetensors", tensors);
  };
  EXPECT_TRUE(throws_error_with(
      [&] {
        write({{"x", DType::f32, {3}, bytes}});
      },
      {"'x'", "12", "8"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        write({{"x", DType::u8, {8}, bytes}, {"x", DType::u8, {8}, bytes}});
      },
      {"'x'", "twice"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        write({{"__metadata__", DType::u8, {8}, bytes}});
      },
      {"reserved"}));
  EXPECT_TRUE(throws_error_with([&] { write({{"x", DType::u8, {-8}, bytes}}); }, {"negative"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        write({{"x", DType::f32, {int64_t{1} << 40, int64_t{1} << 40}, bytes}});
      },
      {"overflow"}));
  EXPECT_FALSE(std::filesystem::exists(dir / "w.safetensors"));
  EXPECT_TRUE(throws_error_with(
      [&] { write_safetensors(dir / "no" / "such" / "dir.safetensors", {}); }, {"cannot create"}));
}

TEST(Safetensors, EmptyFileListRoundTrips) {
  TempDir dir;
  write_safetensors(dir / "e.safetensors", {}, {{"k", "v"}});
  const SafetensorsFile file(dir / "e.safetensors");
  EXPECT_TRUE(file.tensors().empty());
  EXPECT_EQ(file.metadata().at("k"), "v");
}

TEST(Safetensors, OverwritesAnExistingFileWhole) {
  TempDir dir;
  const std::vector<std::byte> big(1000, std::byte{1}), small(4, std::byte{2});
  const TensorToWrite first{"big", DType::u8, {1000}, big}, second{"small", DType::u8, {4}, small};
  write_safetensors(dir / "o.safetensors", std::span(&first, 1));
  write_safetensors(dir / "o.safetensors", std::span(&second, 1));
  const SafetensorsFile file(dir / "o.safetensors");
  ASSERT_EQ(file.tensors().size(), 1u);
  EXPECT_EQ(file.tensors()[0].name, "small");
}

}  // namespace
}  // namespace a48
