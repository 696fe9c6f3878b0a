// Token shards: the byte layout, round trips at both id widths, and hostile files.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "train/token_shard.h"
#include "train_io_test_util.h"

namespace a48 {
namespace {

using test::error_of;
using test::read_bytes;
using test::write_bytes;

Sha256Digest digest_of(std::string_view text) {
  return sha256(std::as_bytes(std::span<const char>(text.data(), text.size())));
}

std::vector<int32_t> random_ids(std::size_t n, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(vocab - 1));
  std::vector<int32_t> ids(n);
  for (int32_t& x : ids) x = id(rng);
  return ids;
}

class TokenShardTest : public test::TempDirTest {};

TEST_F(TokenShardTest, ByteLayoutOfASmallShard) {
  const auto path = dir_ / "small.tok";
  const Sha256Digest digest = digest_of("tokenizer");
  write_token_shard(path, std::vector<int32_t>{1, 258, 7}, 300, digest);
  const std::string bytes = read_bytes(path);
  // 128-byte header + 3 ids of 2 bytes (vocab 300 <= 65536).
  ASSERT_EQ(bytes.size(), 134u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("A48TOKS\0", 8));
  const auto u32 = [&](std::size_t at) {
    uint32_t v;
    std::memcpy(&v, bytes.data() + at, 4);
    return v;
  };
  const auto u64 = [&](std::size_t at) {
    uint64_t v;
    std::memcpy(&v, bytes.data() + at, 8);
    return v;
  };
  EXPECT_EQ(u32(8), 1u);     // version
  EXPECT_EQ(u32(12), 2u);    // bytes per token
  EXPECT_EQ(u64(16), 3u);    // n_tokens
  EXPECT_EQ(u64(24), 300u);  // vocab_size
  EXPECT_EQ(std::memcmp(bytes.data() + 32, digest.data(), 32), 0);
  EXPECT_EQ(bytes.substr(64, 64), std::string(64, '\0'));
  // 1 = 01 00, 258 = 0x0102 = 02 01, 7 = 07 00 (little-endian).
  EXPECT_EQ(bytes.substr(128), std::string("\x01\x00\x02\x01\x07\x00", 6));
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
}

TEST_F(TokenShardTest, RoundTripsAtBothIdWidths) {
  // 65536 ids still fit 16 bits; 65537 do not.
  for (const int64_t vocab : {23, 8192, 65536, 65537, 200000}) {
    for (const std::size_t n : {0, 1, 7, 257, 3001}) {
      const auto path = dir_ / "shard.tok";
      std::vector<int32_t> ids = random_ids(n, vocab, static_cast<uint32_t>(vocab + n));
      if (n > 1) ids[1] = static_cast<int32_t>(vocab - 1);  // the largest id
      write_token_shard(path, ids, vocab, digest_of("t"));
      const TokenShard shard(path);
      EXPECT_EQ(shard.info().token_bytes, vocab <= 65536 ? 2 : 4);
      EXPECT_EQ(shard.info().vocab_size, vocab);
      ASSERT_EQ(shard.size(), static_cast<int64_t>(n));
      EXPECT_EQ(std::filesystem::file_size(path), 128 + n * shard.info().token_bytes);
      std::vector<int32_t> copied(n, -1);
      shard.copy(0, copied);
      EXPECT_EQ(copied, ids) << "vocab " << vocab << " n " << n;
      if (n > 0) {
        EXPECT_EQ(shard.at(static_cast<int64_t>(n) - 1), ids.back());
      }
      if (n >= 7) {
        std::vector<int32_t> middle(3, -1);
        shard.copy(4, middle);
        EXPECT_EQ(middle, std::vector<int32_t>(ids.begin() + 4, ids.begin() + 7));
      }
    }
  }
}

TEST_F(TokenShardTest, StreamingWriterEqualsOneShot) {
  const std::vector<int32_t> ids = random_ids(1000, 8192, 3);
  write_token_shard(dir_ / "one.tok", ids, 8192, digest_of("t"));
  {
    TokenShardWriter writer(dir_ / "pieces.tok", 8192, digest_of("t"));
    for (std::size_t begin = 0; begin < ids.size(); begin += 33) {
      const std::size_t end = std::min(ids.size(), begin + 33);
      writer.append(std::span<const int32_t>(ids).subspan(begin, end - begin));
    }
    EXPECT_EQ(writer.n_tokens(), 1000);
    writer.finish();
  }
  EXPECT_EQ(read_bytes(dir_ / "one.tok"), read_bytes(dir_ / "pieces.tok"));
}

TEST_F(TokenShardTest, WriterRefusesIdsOutsideTheVocabularyAndLeavesNoFile) {
  const auto path = dir_ / "bad.tok";
  for (const int32_t bad : {300, -1}) {
    const std::string error = error_of([&] {
      write_token_shard(path, std::vector<int32_t>{1, 2, bad}, 300, digest_of("t"));
    });
    EXPECT_NE(error.find("outside the vocabulary"), std::string::npos) << error;
    EXPECT_NE(error.find("token 2"), std::string::npos) << error;
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
  }
  {  // a writer abandoned before finish() leaves nothing either
    TokenShardWriter writer(path, 300, digest_of("t"));
    writer.append(std::vector<int32_t>{5, 6});
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
}

TEST_F(TokenShardTest, ReaderChecksTheTokenizerAndRanges) {
  const auto path = dir_ / "s.tok";
  write_token_shard(path, std::vector<int32_t>{3, 1, 4, 1, 5}, 10, digest_of("mine"));
  const TokenShard shard(path);
  EXPECT_NO_THROW(shard.check_tokenizer(digest_of("mine"), "mine.json"));
  const std::string error =
      error_of([&] { shard.check_tokenizer(digest_of("other"), "other.json"); });
  EXPECT_NE(error.find(to_hex(digest_of("mine"))), std::string::npos) << error;
  EXPECT_NE(error.find(to_hex(digest_of("other"))), std::string::npos) << error;
  EXPECT_NE(error.find("other.json"), std::string::npos) << error;
  std::vector<int32_t> out(3);
  EXPECT_THROW(shard.copy(3, out), Error);
  EXPECT_THROW(shard.copy(-1, out), Error);
  EXPECT_NO_THROW(shard.copy(2, out));
  EXPECT_THROW(shard.at(5), Error);
  EXPECT_THROW(shard.at(-1), Error);
}

class TokenShardHostileTest : public test::TempDirTest {
 protected:
  void SetUp() override {
    test::TempDirTest::SetUp();
    write_token_shard(dir_ / "good.tok", std::vector<int32_t>{3, 1, 4, 1, 5, 9, 2}, 10,
                      digest_of("t"));
    good_ = read_bytes(dir_ / "good.tok");
  }
  // The error of opening `bytes` as a shard ("" if it opens).
  std::string open_error(const std::string& bytes) {
    write_bytes(dir_ / "hostile.tok", bytes);
    return error_of([&] { TokenShard shard(dir_ / "hostile.tok"); });
  }
  std::string patched(std::size_t at, const void* value, std::size_t size) {
    std::string bytes = good_;
    std::memcpy(bytes.data() + at, value, size);
    return bytes;
  }
  std::string good_;
};

TEST_F(TokenShardHostileTest, EveryTruncationIsRefused) {
  ASSERT_EQ(open_error(good_), "");
  for (std::size_t size = 0; size < good_.size(); ++size) {
    const std::string error = open_error(good_.substr(0, size));
    EXPECT_NE(error.find("hostile.tok"), std::string::npos) << size << ": " << error;
    EXPECT_NE(error.find("truncated"), std::string::npos) << size << ": " << error;
  }
  EXPECT_NE(open_error(good_ + "x").find("bytes of ids follow"), std::string::npos);
}

TEST_F(TokenShardHostileTest, BadHeaderFieldsAreNamed) {
  EXPECT_NE(open_error(patched(0, "A48TOKZ", 7)).find("not a token shard"), std::string::npos);
  const uint32_t version = 2, width4 = 4, width3 = 3;
  EXPECT_NE(open_error(patched(8, &version, 4)).find("version 2"), std::string::npos);
  EXPECT_NE(open_error(patched(12, &width4, 4)).find("4 bytes per token"), std::string::npos);
  EXPECT_NE(open_error(patched(12, &width3, 4)).find("3 bytes per token"), std::string::npos);
  const uint64_t huge = uint64_t{1} << 62, zero = 0, too_big_vocab = uint64_t{1} << 31;
  // n_tokens * 2 would overflow 64 bits: the reader must not multiply.
  EXPECT_NE(open_error(patched(16, &huge, 8)).find("4611686018427387904 tokens"),
            std::string::npos);
  EXPECT_NE(open_error(patched(24, &zero, 8)).find("vocab_size 0"), std::string::npos);
  EXPECT_NE(open_error(patched(24, &too_big_vocab, 8)).find("vocab_size 2147483648"),
            std::string::npos);
  EXPECT_NE(open_error(patched(100, "\x01", 1)).find("reserved header byte 100"),
            std::string::npos);
}

TEST_F(TokenShardHostileTest, IdsOutsideTheVocabularyAreFoundAtOpen) {
  const uint16_t bad = 10;  // vocab is 10: ids 0..9
  const std::string error = open_error(patched(128 + 2 * 5, &bad, 2));
  EXPECT_NE(error.find("token 5 has id 10"), std::string::npos) << error;
}

}  // namespace
}  // namespace a48
