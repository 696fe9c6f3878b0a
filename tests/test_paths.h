// Where tests find data: the repo, the test folder, and ../shared/data (skip when absent).
#pragma once

#include <filesystem>

namespace a48::test {

inline std::filesystem::path source_dir() { return A48_SOURCE_DIR; }
inline std::filesystem::path test_data_dir() { return A48_TEST_DATA_DIR; }
inline std::filesystem::path shared_data_dir() { return A48_SHARED_DATA_DIR; }

}  // namespace a48::test

// Skips the current test when ../shared/data is not there (e.g. a clone on its own).
#define A48_REQUIRE_SHARED_DATA()                                                     \
  do {                                                                                \
    if (!std::filesystem::exists(::a48::test::shared_data_dir()))                     \
      GTEST_SKIP() << "shared data not found at " << ::a48::test::shared_data_dir(); \
  } while (0)
