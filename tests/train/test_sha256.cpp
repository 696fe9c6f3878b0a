// SHA-256 against the FIPS 180-2 example vectors and `sha256sum` of the repo's tokenizer.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include "test_paths.h"
#include "train/sha256.h"

namespace a48 {
namespace {

std::string hex_of(std::string_view text) {
  return to_hex(sha256(std::as_bytes(std::span<const char>(text.data(), text.size()))));
}

TEST(Sha256, FipsExampleVectors) {
  EXPECT_EQ(hex_of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // 56 bytes: the length no longer fits the first block, so padding takes a second one.
  EXPECT_EQ(hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(hex_of(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, PiecewiseUpdatesEqualOneShot) {
  std::mt19937 rng(48);
  for (const std::size_t size : {1, 7, 31, 55, 56, 63, 64, 65, 127, 128, 257}) {
    std::string text(size, '\0');
    for (char& c : text) c = static_cast<char>(rng());
    const auto bytes = std::as_bytes(std::span<const char>(text.data(), text.size()));
    Sha256 hash;
    std::size_t done = 0;
    while (done < size) {
      const std::size_t take = std::min<std::size_t>(size - done, 1 + rng() % 70);
      hash.update(bytes.subspan(done, take));
      done += take;
    }
    EXPECT_EQ(to_hex(hash.finish()), to_hex(sha256(bytes))) << size;
  }
}

TEST(Sha256, FileDigestMatchesTheTokenizerReadme) {
  // models/tokenizer/README.md gives the `sha256sum` of the tokenizer it documents.
  std::ifstream readme(test::source_dir() / "models/tokenizer/README.md");
  const std::string text((std::istreambuf_iterator<char>(readme)), std::istreambuf_iterator<char>());
  // The first run of 64 lower-case hex digits in the README.
  std::string documented;
  for (std::size_t i = 0; i < text.size() && documented.empty(); ++i) {
    std::size_t n = 0;
    while (i + n < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + n])) &&
           !std::isupper(static_cast<unsigned char>(text[i + n])))
      ++n;
    if (n == 64) documented = text.substr(i, 64);
    i += n;
  }
  ASSERT_EQ(documented.size(), 64u) << "no sha256 in models/tokenizer/README.md";
  EXPECT_EQ(to_hex(sha256_file(test::source_dir() / "models/tokenizer/tokenizer.json")),
            documented);
}

}  // namespace
}  // namespace a48
