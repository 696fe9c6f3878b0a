// Token shards: a tokenized corpus as one flat file of token ids, read memory-mapped by the data
// loader. Layout (little-endian; docs/FORMATS.md, "Token shards"):
//   [0, 8)     magic "A48TOKS\0"
//   [8, 12)    u32 format version (1)
//   [12, 16)   u32 bytes per token: 2 when vocab_size <= 65536, else 4
//   [16, 24)   u64 n_tokens
//   [24, 32)   u64 vocab_size (ids are < vocab_size)
//   [32, 64)   SHA-256 of the tokenizer.json bytes that made the ids
//   [64, 128)  reserved, zero
//   [128, ...) n_tokens ids (u16 or u32); the file ends exactly after the last one
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "train/sha256.h"

namespace a48 {

inline constexpr std::size_t kTokenShardHeaderBytes = 128;
inline constexpr uint32_t kTokenShardVersion = 1;

struct TokenShardInfo {
  int64_t n_tokens = 0;
  int64_t vocab_size = 0;
  int token_bytes = 0;  // 2 or 4
  Sha256Digest tokenizer_sha256{};
};

// 2 when every id of a vocab_size vocabulary fits 16 bits, else 4.
int token_shard_bytes_per_token(int64_t vocab_size);

// Streams ids into `path`.tmp and renames it over `path` in finish(), so that a shard at `path` is
// always complete. Memory stays bounded whatever the corpus size.
class TokenShardWriter {
 public:
  TokenShardWriter(const std::filesystem::path& path, int64_t vocab_size,
                   const Sha256Digest& tokenizer_sha256);
  ~TokenShardWriter();  // without a successful finish(), removes the temp file
  TokenShardWriter(const TokenShardWriter&) = delete;
  TokenShardWriter& operator=(const TokenShardWriter&) = delete;

  void append(std::span<const int32_t> ids);  // throws a48::Error for ids outside [0, vocab)
  int64_t n_tokens() const { return info_.n_tokens; }
  void finish();

 private:
  std::filesystem::path path_, temp_;
  std::ofstream out_;
  TokenShardInfo info_;
  std::vector<std::byte> buffer_;
  bool finished_ = false;
};

void write_token_shard(const std::filesystem::path& path, std::span<const int32_t> ids,
                       int64_t vocab_size, const Sha256Digest& tokenizer_sha256);

// A memory-mapped shard. Opening validates the whole file (header fields, exact size, and every id
// against vocab_size: one linear pass, so that nothing later can read a bad id).
class TokenShard {
 public:
  explicit TokenShard(const std::filesystem::path& path);  // throws a48::Error naming the path

  const std::filesystem::path& path() const { return file_.path(); }
  const TokenShardInfo& info() const { return info_; }
  int64_t size() const { return info_.n_tokens; }

  int32_t at(int64_t index) const;  // throws when index is outside [0, size)
  // Copies ids [begin, begin + out.size()) into out; throws when the range leaves the shard.
  void copy(int64_t begin, std::span<int32_t> out) const;

  // Throws, naming both fingerprints, when the shard was made with another tokenizer.
  void check_tokenizer(const Sha256Digest& tokenizer_sha256, const std::string& tokenizer_name) const;

 private:
  MappedFile file_;
  TokenShardInfo info_;
  std::span<const std::byte> ids_;  // [n_tokens * token_bytes]
};

}  // namespace a48
