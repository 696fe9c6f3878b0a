// SHA-256 through OpenSSL's libcrypto: fingerprints the tokenizer.json bytes in a token shard's
// header, so that a shard is never trained or evaluated with a tokenizer other than the one that
// made it. The hex digest is what `sha256sum` prints.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

namespace a48 {

using Sha256Digest = std::array<uint8_t, 32>;

// Incremental hashing (for data that arrives in pieces).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::span<const std::byte> bytes);
  Sha256Digest finish();  // the object must not be updated afterwards

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

Sha256Digest sha256(std::span<const std::byte> bytes);
Sha256Digest sha256_file(const std::filesystem::path& path);  // throws a48::Error naming it
std::string to_hex(const Sha256Digest& digest);

}  // namespace a48
