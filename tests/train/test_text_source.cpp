// Text reading for tokenization: split rules, chunking that loses no byte, and xz decoding
// (files compressed by the xz command-line tool, a build dependency).
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <random>

#include "test_paths.h"
#include "train/text_source.h"
#include "train_io_test_util.h"

namespace a48 {
namespace {

using test::error_of;
using test::read_bytes;
using test::write_bytes;
namespace fs = std::filesystem;

TEST(FindTextSplit, RulesByHand) {
  EXPECT_EQ(find_text_split("ab\ncd"), 3u);          // "ab\n" | "cd"
  EXPECT_EQ(find_text_split("a\nb\nc"), 4u);         // the last one
  EXPECT_EQ(find_text_split("ab \ncd"), 0u);         // a space before the newline
  EXPECT_EQ(find_text_split("ab\n cd"), 0u);         // a space after it
  EXPECT_EQ(find_text_split("x\n\ny"), 0u);          // two newlines: one whitespace run
  EXPECT_EQ(find_text_split("ab\n"), 0u);            // the next character is not seen yet
  EXPECT_EQ(find_text_split("hello world"), 5u);     // rule (b): "hello" | " world"
  EXPECT_EQ(find_text_split("a\nb cd ef"), 2u);      // rule (a) wins over later (b) splits
  EXPECT_EQ(find_text_split("1 2"), 0u);             // (b) needs letters
  EXPECT_EQ(find_text_split("\xc3\xa9 \xc3\xa9"), 0u);  // "é é": not ASCII letters
  EXPECT_EQ(find_text_split("<|endoftext|>\nNext"), 14u);
  EXPECT_EQ(find_text_split(""), 0u);
}

class TextSourceTest : public test::TempDirTest {
 protected:
  // Rule (a) "graphic \n | graphic" or rule (b) "letter | space letter" at the cut, restated.
  static bool is_safe_cut(const std::string& left, const std::string& right) {
    const auto graphic = [](char c) { return c > ' ' && c < 127; };
    const auto letter = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; };
    const std::size_t n = left.size();
    const bool rule_a = n >= 2 && left[n - 1] == '\n' && graphic(left[n - 2]) && !right.empty() &&
                        graphic(right[0]);
    const bool rule_b = n >= 1 && letter(left[n - 1]) && right.size() >= 2 && right[0] == ' ' &&
                        letter(right[1]);
    return rule_a || rule_b;
  }
  // Text with long lines, blank lines, trailing spaces, tabs, CRLF and non-ASCII letters.
  static std::string awkward_text(std::size_t n_lines, uint32_t seed) {
    static const char* kPieces[] = {"the", "scheduler", " ", "  ", "\t", "\n", "\n\n", "\r\n",
                                    ".", "x=1;", "é", "日本", "<|endoftext|>\n", "'s", "42"};
    std::mt19937 rng(seed);
    std::string text;
    for (std::size_t i = 0; i < n_lines * 8; ++i) text += kPieces[rng() % std::size(kPieces)];
    return text;
  }
  // The pieces read_text_chunks gives for `path`, checking offsets and split points on the way.
  static std::vector<std::string> chunks_of(const fs::path& path, std::size_t chunk_bytes) {
    std::vector<std::string> chunks;
    int64_t expected_offset = 0, last_progress = 0;
    read_text_chunks(path, chunk_bytes, [&](std::string_view chunk, int64_t offset, int64_t progress) {
      EXPECT_EQ(offset, expected_offset);
      EXPECT_GE(progress, last_progress);
      EXPECT_FALSE(chunk.empty());
      expected_offset += static_cast<int64_t>(chunk.size());
      last_progress = progress;
      chunks.emplace_back(chunk);
    });
    return chunks;
  }
  static std::string joined(const std::vector<std::string>& chunks) {
    std::string all;
    for (const std::string& c : chunks) all += c;
    return all;
  }
  void xz(const fs::path& in, const fs::path& out, const std::string& flags = "") {
    const std::string command =
        "xz -c " + flags + " '" + in.string() + "' > '" + out.string() + "'";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
};

TEST_F(TextSourceTest, ChunksCoverTheTextAndEndAtSafeSplits) {
  const std::string text = awkward_text(400, 1);
  write_bytes(dir_ / "t.txt", text);
  for (const std::size_t chunk_bytes : {1, 7, 64, 1000, 1 << 20}) {
    const std::vector<std::string> chunks = chunks_of(dir_ / "t.txt", chunk_bytes);
    EXPECT_EQ(joined(chunks), text) << chunk_bytes;
    for (std::size_t i = 0; i + 1 < chunks.size(); ++i) {
      EXPECT_TRUE(is_safe_cut(chunks[i], chunks[i + 1])) << chunk_bytes << " chunk " << i;
      EXPECT_GE(chunks[i].size(), std::min<std::size_t>(chunk_bytes, 1));
    }
    if (chunk_bytes == 64) {
      EXPECT_GT(chunks.size(), 10u);
    }
  }
  EXPECT_EQ(chunks_of(dir_ / "t.txt", 1 << 20).size(), 1u);
}

TEST_F(TextSourceTest, EmptyFileGivesNoChunk) {
  write_bytes(dir_ / "empty.txt", "");
  EXPECT_TRUE(chunks_of(dir_ / "empty.txt", 16).empty());
}

TEST_F(TextSourceTest, TextWithoutSplitsIsRefusedPastTheLimit) {
  write_bytes(dir_ / "long.txt", std::string(1000, 'a'));
  const std::string error = error_of([&] {
    read_text_chunks(dir_ / "long.txt", 16, [](std::string_view, int64_t, int64_t) {}, 256);
  });
  EXPECT_NE(error.find("long.txt"), std::string::npos) << error;
  EXPECT_NE(error.find("cannot cut"), std::string::npos) << error;
  // Within the limit, an unsplittable file is one piece.
  int calls = 0;
  read_text_chunks(dir_ / "long.txt", 16, [&](std::string_view c, int64_t, int64_t) {
    ++calls;
    EXPECT_EQ(c.size(), 1000u);
  }, 4096);
  EXPECT_EQ(calls, 1);
}

TEST_F(TextSourceTest, XzFilesAreDecompressed) {
  const std::string text = awkward_text(2000, 2);
  write_bytes(dir_ / "t.txt", text);
  xz(dir_ / "t.txt", dir_ / "t.txt.xz");
  TextFileReader reader(dir_ / "t.txt.xz");
  EXPECT_TRUE(reader.compressed());
  EXPECT_EQ(reader.file_bytes(), static_cast<int64_t>(fs::file_size(dir_ / "t.txt.xz")));
  std::string out;
  while (reader.read(out, 333) > 0) {
  }
  EXPECT_EQ(out, text);
  EXPECT_EQ(reader.file_bytes_read(), reader.file_bytes());
  EXPECT_EQ(joined(chunks_of(dir_ / "t.txt.xz", 100)), text);
  // Recognised by content, not by name.
  fs::copy_file(dir_ / "t.txt.xz", dir_ / "renamed.bin");
  EXPECT_EQ(joined(chunks_of(dir_ / "renamed.bin", 4096)), text);
  EXPECT_FALSE(TextFileReader(dir_ / "t.txt").compressed());
}

TEST_F(TextSourceTest, ConcatenatedXzStreamsAreRead) {
  write_bytes(dir_ / "a.txt", "first part\n");
  write_bytes(dir_ / "b.txt", "second part\n");
  xz(dir_ / "a.txt", dir_ / "a.xz");
  xz(dir_ / "b.txt", dir_ / "b.xz");
  write_bytes(dir_ / "ab.xz", read_bytes(dir_ / "a.xz") + read_bytes(dir_ / "b.xz"));
  EXPECT_EQ(joined(chunks_of(dir_ / "ab.xz", 4)), "first part\nsecond part\n");
}

TEST_F(TextSourceTest, BrokenXzFilesAreNamed) {
  write_bytes(dir_ / "t.txt", awkward_text(500, 3));
  xz(dir_ / "t.txt", dir_ / "t.xz");
  const std::string good = read_bytes(dir_ / "t.xz");
  const auto error_for = [&](const std::string& bytes) {
    write_bytes(dir_ / "bad.xz", bytes);
    return error_of([&] { chunks_of(dir_ / "bad.xz", 256); });
  };
  for (const std::size_t size : {std::size_t{12}, good.size() / 2, good.size() - 1}) {
    const std::string error = error_for(good.substr(0, size));
    EXPECT_NE(error.find("bad.xz"), std::string::npos) << size << ": " << error;
    EXPECT_NE(error.find("truncated"), std::string::npos) << size << ": " << error;
  }
  std::string corrupt = good;
  corrupt[good.size() / 2] = static_cast<char>(corrupt[good.size() / 2] ^ 0x5a);
  const std::string error = error_for(corrupt);
  EXPECT_NE(error.find("bad.xz"), std::string::npos) << error;
  EXPECT_NE(error.find("corrupt"), std::string::npos) << error;
  EXPECT_NE(error_of([&] { TextFileReader reader(dir_ / "absent.txt"); }).find("absent.txt"),
            std::string::npos);
}

TEST_F(TextSourceTest, SharedCorpusDecompressesToItsDocumentedSize) {
  A48_REQUIRE_SHARED_DATA();
  const fs::path valid = test::shared_data_dir() / "docs-corpus/valid.txt.xz";
  int64_t bytes = 0, separators = 0;
  read_text_chunks(valid, 64 << 10, [&](std::string_view chunk, int64_t, int64_t) {
    bytes += static_cast<int64_t>(chunk.size());
    for (std::size_t at = chunk.find("<|endoftext|>"); at != std::string_view::npos;
         at = chunk.find("<|endoftext|>", at + 1))
      ++separators;
  });
  EXPECT_EQ(bytes, 1141670);  // shared/data/README.md
  // 101 documents, each followed by its separator line; no cut falls inside "<|endoftext|>".
  EXPECT_EQ(separators, 101);
}

}  // namespace
}  // namespace a48
