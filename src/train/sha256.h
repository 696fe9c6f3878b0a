// SHA-256 (FIPS 180-4): fingerprints the tokenizer.json bytes in a token shard's header, so that a
// shard is never trained or evaluated with a tokenizer other than the one that made it. The hex
// digest is what `sha256sum` prints.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

namespace a48 {

using Sha256Digest = std::array<uint8_t, 32>;

class Sha256 {
 public:
  Sha256();
  void update(std::span<const std::byte> bytes);
  Sha256Digest finish();  // the object must not be updated afterwards

 private:
  void compress(const uint8_t* block);  // one 64-byte block
  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

Sha256Digest sha256(std::span<const std::byte> bytes);
Sha256Digest sha256_file(const std::filesystem::path& path);  // throws a48::Error naming it
std::string to_hex(const Sha256Digest& digest);

}  // namespace a48
