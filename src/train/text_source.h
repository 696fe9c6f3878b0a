// Reading a text corpus for tokenization: plain or xz-compressed files (recognised by the xz
// magic bytes, decompressed on the fly through liblzma), handed out in bounded chunks that a
// byte-level BPE tokenizer encodes exactly as it would encode the whole text.
//
// Why the chunk ends are safe: the pre-tokenizers a48 supports (GPT-2's and LLaMA-3's regexes,
// src/tokenizer/pretokenizer.h) never put a piece across
//   (a) a '\n' whose neighbours are both printable ASCII non-space characters ("x\ny": the
//       newline is a piece of its own, or, in LLaMA-3, the tail of the punctuation before it), or
//   (b) the boundary between an ASCII letter and " " + ASCII letter ("x| y": a word ends, and
//       " y" starts the next piece),
// and BPE merges never cross pieces. Special tokens such as "<|endoftext|>" hold neither pattern,
// so no split cuts one. Rule (a) is preferred; (b) is the fallback for text without newlines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace a48 {

// Reads a plain or xz file sequentially.
class TextFileReader {
 public:
  explicit TextFileReader(const std::filesystem::path& path);  // throws a48::Error naming it
  ~TextFileReader();
  TextFileReader(const TextFileReader&) = delete;
  TextFileReader& operator=(const TextFileReader&) = delete;

  // Appends up to max_bytes of (decompressed) text to `out`; returns how many, 0 at the end.
  // Throws naming the file for corrupt or truncated xz data.
  std::size_t read(std::string& out, std::size_t max_bytes);

  bool compressed() const;
  int64_t file_bytes() const;       // the size on disk
  int64_t file_bytes_read() const;  // on-disk bytes consumed so far (for progress)

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The last safe split position in `text` (split before text[i]) by rule (a), else by rule (b);
// 0 when there is none. Positions 0 and text.size() are never returned.
std::size_t find_text_split(std::string_view text);

// Calls on_chunk for consecutive pieces of the file, each of about chunk_bytes (more when no safe
// split comes sooner) and ending at a safe split or at the end of the file; `offset` is the
// piece's position in the text and `file_bytes_read` the on-disk progress. Throws when no safe
// split occurs within max_piece_bytes (0: max(64 MiB, 16 * chunk_bytes)), rather than hold
// unbounded text.
void read_text_chunks(
    const std::filesystem::path& path, std::size_t chunk_bytes,
    const std::function<void(std::string_view chunk, int64_t offset, int64_t file_bytes_read)>&
        on_chunk,
    std::size_t max_piece_bytes = 0);

}  // namespace a48
