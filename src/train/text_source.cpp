// Plain and xz text files, read in pieces that tokenize exactly as the whole (see text_source.h).
#include "train/text_source.h"

#include <lzma.h>

#include <algorithm>
#include <array>
#include <fstream>

#include "core/error.h"

namespace a48 {
namespace {

constexpr std::array<unsigned char, 6> kXzMagic = {0xFD, '7', 'z', 'X', 'Z', 0x00};
constexpr std::size_t kInputBufferBytes = 1 << 16;

bool is_ascii_graphic(char c) { return c > ' ' && c < 127; }
bool is_ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string lzma_error_text(lzma_ret code) {
  switch (code) {
    case LZMA_FORMAT_ERROR:
      return "not in the xz format";
    case LZMA_OPTIONS_ERROR:
      return "uses unsupported xz options";
    case LZMA_DATA_ERROR:
      return "is corrupt (xz data error)";
    case LZMA_BUF_ERROR:
      return "is truncated (the xz stream ends early)";
    case LZMA_MEM_ERROR:
      return "needs more memory than is available to decompress";
    case LZMA_UNSUPPORTED_CHECK:
      return "uses an unsupported xz integrity check";
    default:
      return "cannot be decompressed (liblzma error " + std::to_string(static_cast<int>(code)) + ")";
  }
}

}  // namespace

struct TextFileReader::Impl {
  std::filesystem::path path;
  std::ifstream in;
  int64_t file_bytes = 0, file_bytes_read = 0;
  bool compressed = false;
  bool finished = false;
  lzma_stream stream = LZMA_STREAM_INIT;
  std::array<uint8_t, kInputBufferBytes> input{};

  ~Impl() {
    if (compressed) lzma_end(&stream);
  }

  std::size_t read_plain(std::string& out, std::size_t max_bytes) {
    const std::size_t old_size = out.size();
    out.resize(old_size + max_bytes);
    in.read(out.data() + old_size, static_cast<std::streamsize>(max_bytes));
    const auto got = static_cast<std::size_t>(in.gcount());
    out.resize(old_size + got);
    check(!in.bad(), "cannot read {}", path.string());
    file_bytes_read += static_cast<int64_t>(got);
    return got;
  }

  std::size_t read_xz(std::string& out, std::size_t max_bytes) {
    const std::size_t old_size = out.size();
    out.resize(old_size + max_bytes);
    stream.next_out = reinterpret_cast<uint8_t*>(out.data() + old_size);
    stream.avail_out = max_bytes;
    while (stream.avail_out > 0 && !finished) {
      lzma_action action = LZMA_RUN;
      if (stream.avail_in == 0) {
        in.read(reinterpret_cast<char*>(input.data()), static_cast<std::streamsize>(input.size()));
        check(!in.bad(), "cannot read {}", path.string());
        stream.next_in = input.data();
        stream.avail_in = static_cast<std::size_t>(in.gcount());
        file_bytes_read += in.gcount();
      }
      if (stream.avail_in == 0) action = LZMA_FINISH;  // end of file: no more input
      const lzma_ret code = lzma_code(&stream, action);
      if (code == LZMA_STREAM_END) {
        finished = true;
      } else if (code != LZMA_OK) {
        fail("{} {}", path.string(), lzma_error_text(code));
      }
    }
    const std::size_t got = max_bytes - stream.avail_out;
    out.resize(old_size + got);
    return got;
  }
};

TextFileReader::TextFileReader(const std::filesystem::path& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  std::error_code error;
  check(std::filesystem::is_regular_file(path, error), "{} is not a readable file", path.string());
  impl_->file_bytes = static_cast<int64_t>(std::filesystem::file_size(path, error));
  check(!error, "cannot stat {}: {}", path.string(), error.message());
  impl_->in.open(path, std::ios::binary);
  check(impl_->in.good(), "cannot open {}", path.string());
  std::array<unsigned char, kXzMagic.size()> head{};
  impl_->in.read(reinterpret_cast<char*>(head.data()), head.size());
  impl_->compressed = impl_->in.gcount() == static_cast<std::streamsize>(head.size()) &&
                      head == kXzMagic;
  impl_->in.clear();
  impl_->in.seekg(0);
  if (impl_->compressed) {
    // LZMA_CONCATENATED: `xz` output may hold several streams back to back (as after `cat`).
    const lzma_ret code = lzma_stream_decoder(&impl_->stream, UINT64_MAX, LZMA_CONCATENATED);
    check(code == LZMA_OK, "{}: cannot start the xz decoder (liblzma error {})", path.string(),
          static_cast<int>(code));
  }
}

TextFileReader::~TextFileReader() = default;

std::size_t TextFileReader::read(std::string& out, std::size_t max_bytes) {
  return impl_->compressed ? impl_->read_xz(out, max_bytes) : impl_->read_plain(out, max_bytes);
}

bool TextFileReader::compressed() const { return impl_->compressed; }
int64_t TextFileReader::file_bytes() const { return impl_->file_bytes; }
int64_t TextFileReader::file_bytes_read() const { return impl_->file_bytes_read; }

std::size_t find_text_split(std::string_view text) {
  // Rule (a): split after a '\n' between two printable ASCII non-space characters.
  for (std::size_t i = text.size(); i >= 3; --i) {
    if (text[i - 2] == '\n' && is_ascii_graphic(text[i - 3]) && is_ascii_graphic(text[i - 1])) {
      return i - 1;
    }
  }
  // Rule (b): split before the space of "letter space letter".
  for (std::size_t i = text.size(); i >= 3; --i) {
    if (text[i - 2] == ' ' && is_ascii_letter(text[i - 3]) && is_ascii_letter(text[i - 1])) {
      return i - 2;
    }
  }
  return 0;
}

void read_text_chunks(
    const std::filesystem::path& path, std::size_t chunk_bytes,
    const std::function<void(std::string_view chunk, int64_t offset, int64_t file_bytes_read)>&
        on_chunk,
    std::size_t max_piece_bytes) {
  check(chunk_bytes >= 1, "read_text_chunks: chunk_bytes must be >= 1");
  const std::size_t max_pending =
      max_piece_bytes > 0 ? max_piece_bytes
                          : std::max<std::size_t>(std::size_t{64} << 20, 16 * chunk_bytes);
  TextFileReader reader(path);
  std::string pending;
  int64_t offset = 0;
  bool at_end = false;
  while (!at_end) {
    while (pending.size() < chunk_bytes && !at_end) {
      at_end = reader.read(pending, chunk_bytes - pending.size()) == 0;
    }
    if (at_end) break;
    // The split is looked for in what was read since the text reached chunk_bytes and the next
    // byte too (rule (a) needs the character after the newline).
    std::size_t split = find_text_split(pending);
    while (split == 0 && !at_end) {
      check(pending.size() < max_pending,
            "{}: no line break between printable characters and no space between words in the "
            "{} bytes after text offset {}; cannot cut the text into pieces for tokenization",
            path.string(), pending.size(), offset);
      at_end = reader.read(pending, chunk_bytes) == 0;
      split = find_text_split(pending);
    }
    if (split == 0) break;  // the rest of the file is one piece
    on_chunk(std::string_view(pending).substr(0, split), offset, reader.file_bytes_read());
    offset += static_cast<int64_t>(split);
    pending.erase(0, split);
  }
  if (!pending.empty()) on_chunk(pending, offset, reader.file_bytes_read());
}

}  // namespace a48
