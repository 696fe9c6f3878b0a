// Token shard writer and validating reader (layout in token_shard.h and docs/FORMATS.md).
#include "train/token_shard.h"

#include <bit>
#include <cstring>
#include <limits>
#include <system_error>

#include "core/error.h"

namespace a48 {
namespace {

static_assert(std::endian::native == std::endian::little,
              "token shards are little-endian; a big-endian host would need byte swaps");

constexpr char kMagic[8] = {'A', '4', '8', 'T', 'O', 'K', 'S', '\0'};
constexpr std::size_t kWriteBufferBytes = 1 << 20;

template <class T>
T read_le(std::span<const std::byte> bytes, std::size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

template <class T>
void write_le(std::byte* out, std::size_t offset, T value) {
  std::memcpy(out + offset, &value, sizeof(T));
}

std::array<std::byte, kTokenShardHeaderBytes> encode_header(const TokenShardInfo& info) {
  std::array<std::byte, kTokenShardHeaderBytes> header{};  // reserved bytes stay zero
  std::memcpy(header.data(), kMagic, 8);
  write_le<uint32_t>(header.data(), 8, kTokenShardVersion);
  write_le<uint32_t>(header.data(), 12, static_cast<uint32_t>(info.token_bytes));
  write_le<uint64_t>(header.data(), 16, static_cast<uint64_t>(info.n_tokens));
  write_le<uint64_t>(header.data(), 24, static_cast<uint64_t>(info.vocab_size));
  std::memcpy(header.data() + 32, info.tokenizer_sha256.data(), 32);
  return header;
}

void check_vocab_size(int64_t vocab_size, const std::string& what) {
  check(vocab_size >= 1 && vocab_size <= std::numeric_limits<int32_t>::max(),
        "{}: vocab_size {} is outside [1, 2^31)", what, vocab_size);
}

}  // namespace

int token_shard_bytes_per_token(int64_t vocab_size) { return vocab_size <= 65536 ? 2 : 4; }

TokenShardWriter::TokenShardWriter(const std::filesystem::path& path, int64_t vocab_size,
                                   const Sha256Digest& tokenizer_sha256)
    : path_(path), temp_(path.string() + ".tmp") {
  check_vocab_size(vocab_size, path.string());
  info_.vocab_size = vocab_size;
  info_.token_bytes = token_shard_bytes_per_token(vocab_size);
  info_.tokenizer_sha256 = tokenizer_sha256;
  out_.open(temp_, std::ios::binary | std::ios::trunc);
  check(out_.good(), "cannot create {}", temp_.string());
  const auto header = encode_header(info_);  // rewritten with the final count in finish()
  out_.write(reinterpret_cast<const char*>(header.data()), header.size());
  buffer_.reserve(kWriteBufferBytes);
}

TokenShardWriter::~TokenShardWriter() {
  if (finished_) return;
  out_.close();
  std::error_code ignored;
  std::filesystem::remove(temp_, ignored);
}

void TokenShardWriter::append(std::span<const int32_t> ids) {
  check(!finished_, "{}: append after finish", path_.string());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    check(id >= 0 && id < info_.vocab_size,
          "{}: token id {} (token {} of the shard) is outside the vocabulary [0, {})",
          path_.string(), id, info_.n_tokens + static_cast<int64_t>(i), info_.vocab_size);
    std::byte bytes[4];
    if (info_.token_bytes == 2) {
      write_le<uint16_t>(bytes, 0, static_cast<uint16_t>(id));
    } else {
      write_le<uint32_t>(bytes, 0, static_cast<uint32_t>(id));
    }
    buffer_.insert(buffer_.end(), bytes, bytes + info_.token_bytes);
    if (buffer_.size() >= kWriteBufferBytes) {
      out_.write(reinterpret_cast<const char*>(buffer_.data()),
                 static_cast<std::streamsize>(buffer_.size()));
      buffer_.clear();
    }
  }
  info_.n_tokens += static_cast<int64_t>(ids.size());
  check(out_.good(), "cannot write {} (disk full?)", temp_.string());
}

void TokenShardWriter::finish() {
  check(!finished_, "{}: finish called twice", path_.string());
  out_.write(reinterpret_cast<const char*>(buffer_.data()),
             static_cast<std::streamsize>(buffer_.size()));
  buffer_.clear();
  const auto header = encode_header(info_);
  out_.seekp(0);
  out_.write(reinterpret_cast<const char*>(header.data()), header.size());
  out_.close();
  check(out_.good(), "cannot write {} (disk full?)", temp_.string());
  std::error_code error;
  std::filesystem::rename(temp_, path_, error);
  check(!error, "cannot rename {} to {}: {}", temp_.string(), path_.string(), error.message());
  finished_ = true;
}

void write_token_shard(const std::filesystem::path& path, std::span<const int32_t> ids,
                       int64_t vocab_size, const Sha256Digest& tokenizer_sha256) {
  TokenShardWriter writer(path, vocab_size, tokenizer_sha256);
  writer.append(ids);
  writer.finish();
}

TokenShard::TokenShard(const std::filesystem::path& path) : file_(path) {
  const std::string name = path.string();
  const std::span<const std::byte> bytes = file_.bytes();
  check(bytes.size() >= kTokenShardHeaderBytes,
        "{}: not a token shard: {} bytes, shorter than the {}-byte header (truncated?)", name,
        bytes.size(), kTokenShardHeaderBytes);
  check(std::memcmp(bytes.data(), kMagic, 8) == 0,
        "{}: not a token shard (the file does not start with \"A48TOKS\\0\")", name);
  const auto version = read_le<uint32_t>(bytes, 8);
  check(version == kTokenShardVersion, "{}: token shard format version {}, this a48 reads {}",
        name, version, kTokenShardVersion);
  const auto token_bytes = read_le<uint32_t>(bytes, 12);
  const auto n_tokens = read_le<uint64_t>(bytes, 16);
  const auto vocab_size = read_le<uint64_t>(bytes, 24);
  check(vocab_size >= 1 && vocab_size <= static_cast<uint64_t>(std::numeric_limits<int32_t>::max()),
        "{}: vocab_size {} is outside [1, 2^31)", name, vocab_size);
  const int expected_bytes = token_shard_bytes_per_token(static_cast<int64_t>(vocab_size));
  check(token_bytes == static_cast<uint32_t>(expected_bytes),
        "{}: {} bytes per token, but a vocabulary of {} is stored with {}", name, token_bytes,
        vocab_size, expected_bytes);
  for (std::size_t i = 64; i < kTokenShardHeaderBytes; ++i)
    check(bytes[i] == std::byte{0}, "{}: reserved header byte {} is not zero", name, i);
  const uint64_t data_bytes = bytes.size() - kTokenShardHeaderBytes;
  // Compared by division so that a hostile n_tokens cannot overflow the product.
  check(data_bytes % token_bytes == 0 && data_bytes / token_bytes == n_tokens,
        "{}: the header says {} tokens of {} bytes, but {} bytes of ids follow it (truncated?)",
        name, n_tokens, token_bytes, data_bytes);

  info_.n_tokens = static_cast<int64_t>(n_tokens);
  info_.vocab_size = static_cast<int64_t>(vocab_size);
  info_.token_bytes = static_cast<int>(token_bytes);
  std::memcpy(info_.tokenizer_sha256.data(), bytes.data() + 32, 32);
  ids_ = bytes.subspan(kTokenShardHeaderBytes);

  // Every id once, now: the loader then never meets an id the model cannot embed.
  for (int64_t i = 0; i < info_.n_tokens; ++i) {
    const uint32_t id = token_bytes == 2
                            ? read_le<uint16_t>(ids_, static_cast<std::size_t>(i) * 2)
                            : read_le<uint32_t>(ids_, static_cast<std::size_t>(i) * 4);
    check(id < vocab_size, "{}: token {} has id {}, outside the vocabulary [0, {})", name, i, id,
          vocab_size);
  }
}

int32_t TokenShard::at(int64_t index) const {
  check(index >= 0 && index < info_.n_tokens, "{}: token index {} is outside [0, {})",
        path().string(), index, info_.n_tokens);
  const auto offset = static_cast<std::size_t>(index) * static_cast<std::size_t>(info_.token_bytes);
  return info_.token_bytes == 2 ? read_le<uint16_t>(ids_, offset)
                                : static_cast<int32_t>(read_le<uint32_t>(ids_, offset));
}

void TokenShard::copy(int64_t begin, std::span<int32_t> out) const {
  const auto count = static_cast<int64_t>(out.size());
  check(begin >= 0 && begin <= info_.n_tokens && count <= info_.n_tokens - begin,
        "{}: tokens [{}, {}) are outside the shard's {}", path().string(), begin, begin + count,
        info_.n_tokens);
  const auto first = static_cast<std::size_t>(begin);
  if (info_.token_bytes == 4) {
    // Validated ids are < 2^31, so their u32 bits are the int32 values.
    if (count > 0) std::memcpy(out.data(), ids_.data() + first * 4, out.size() * 4);
    return;
  }
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = read_le<uint16_t>(ids_, (first + i) * 2);
}

void TokenShard::check_tokenizer(const Sha256Digest& tokenizer_sha256,
                                 const std::string& tokenizer_name) const {
  check(tokenizer_sha256 == info_.tokenizer_sha256,
        "{} was made with another tokenizer (its tokenizer.json sha256 is {}; {} has {})",
        path().string(), to_hex(info_.tokenizer_sha256), tokenizer_name, to_hex(tokenizer_sha256));
}

}  // namespace a48
