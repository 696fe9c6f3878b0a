#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/mapped_file.h"

namespace a48 {
namespace {

namespace fs = std::filesystem;

TEST(MappedFile, ReadsBytesInPlace) {
  const fs::path path = fs::temp_directory_path() / "a48_mapped_file_test.bin";
  std::ofstream(path, std::ios::binary) << "ternary";
  const MappedFile file(path);
  ASSERT_EQ(file.bytes().size(), 7u);
  EXPECT_EQ(static_cast<char>(file.bytes()[3]), 'n');
  MappedFile moved = MappedFile(path);
  EXPECT_EQ(moved.bytes().size(), 7u);
  fs::remove(path);
}

TEST(MappedFile, EmptyFileHasNoBytes) {
  const fs::path path = fs::temp_directory_path() / "a48_mapped_file_empty.bin";
  std::ofstream(path, std::ios::binary).flush();
  EXPECT_TRUE(MappedFile(path).bytes().empty());
  fs::remove(path);
}

TEST(MappedFile, MissingFileAndDirectoryAreNamed) {
  try {
    MappedFile file("/nonexistent/a48/weights.safetensors");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/a48/weights.safetensors"), std::string::npos);
  }
  EXPECT_THROW(MappedFile(fs::temp_directory_path()), Error);
}

}  // namespace
}  // namespace a48
