// `a48 tokenize`: text corpora (plain or .xz) -> one token shard for training (train/token_shard.h).
// The text is read and encoded in pieces that split where the pre-tokenizer would split anyway
// (train/text_source.h), so memory stays bounded and the ids equal those of encoding the whole
// text at once. Lines "<|endoftext|>" in the corpus become the tokenizer's special token.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <filesystem>

#include "cli/app.h"
#include "core/error.h"
#include "core/progress.h"
#include "tokenizer/tokenizer.h"
#include "train/text_source.h"
#include "train/token_shard.h"

namespace a48::cli {
namespace {

struct TokenizeOptions {
  std::vector<std::string> inputs;
  std::string out;
  std::string tokenizer = A48_TOKENIZER_PATH;
  int64_t chunk_kib = 1024;
  bool eos_after_file = false;
  bool no_progress = false;
};

void run_tokenize(const TokenizeOptions& options) {
  check(options.chunk_kib >= 1 && options.chunk_kib <= (1 << 20),
        "--chunk-kib {} must be in [1, 1048576]", options.chunk_kib);
  const Tokenizer tokenizer = Tokenizer::from_hf_json(options.tokenizer);
  const Sha256Digest tokenizer_sha256 = sha256_file(options.tokenizer);
  std::optional<int32_t> eos;
  if (options.eos_after_file) {
    eos = tokenizer.eos_id();
    check(eos.has_value(), "--eos-after-file: {} has no eos token", options.tokenizer);
  }

  int64_t total_file_bytes = 0;
  for (const std::string& input : options.inputs) {
    std::error_code error;
    const auto bytes = std::filesystem::file_size(input, error);
    check(!error, "cannot read {}: {}", input, error.message());
    total_file_bytes += static_cast<int64_t>(bytes);
  }
  const std::filesystem::path out = options.out;
  if (out.has_parent_path()) std::filesystem::create_directories(out.parent_path());

  const auto start = std::chrono::steady_clock::now();
  TokenShardWriter writer(out, tokenizer.vocab_size(), tokenizer_sha256);
  ProgressBar progress("tokenize", total_file_bytes, !options.no_progress);
  int64_t done_file_bytes = 0, text_bytes = 0;
  const auto chunk_bytes = static_cast<std::size_t>(options.chunk_kib) * 1024;
  for (const std::string& input : options.inputs) {
    int64_t file_progress = 0;
    read_text_chunks(input, chunk_bytes,
                     [&](std::string_view chunk, int64_t offset, int64_t file_bytes_read) {
                       std::vector<int32_t> ids;
                       try {
                         ids = tokenizer.encode(chunk, /*parse_special=*/true);
                       } catch (const Error& e) {
                         fail("{}: text bytes [{}, {}): {}", input, offset,
                              offset + static_cast<int64_t>(chunk.size()), e.what());
                       }
                       writer.append(ids);
                       text_bytes += static_cast<int64_t>(chunk.size());
                       file_progress = file_bytes_read;
                       progress.update(done_file_bytes + file_progress,
                                       fmt::format("{} tokens", writer.n_tokens()));
                     });
    if (eos) writer.append(std::span<const int32_t>(&*eos, 1));
    done_file_bytes += static_cast<int64_t>(std::filesystem::file_size(input));
  }
  writer.finish();
  progress.finish(fmt::format("{} tokens", writer.n_tokens()));

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double text_mb = static_cast<double>(text_bytes) / 1e6;
  fmt::print(stderr,
             "a48: {} file(s), {:.2f} MB of text -> {} tokens ({:.2f} bytes/token) in {:.1f} s "
             "({:.2f} MB/s); wrote {} ({}-byte ids, vocab {})\n",
             options.inputs.size(), text_mb, writer.n_tokens(),
             writer.n_tokens() > 0 ? static_cast<double>(text_bytes) / writer.n_tokens() : 0.0,
             seconds, seconds > 0 ? text_mb / seconds : 0.0, out.string(),
             token_shard_bytes_per_token(tokenizer.vocab_size()), tokenizer.vocab_size());
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto options = std::make_shared<TokenizeOptions>();
  CLI::App* command = app.add_subcommand(
      "tokenize", "Tokenize text files (plain or .xz) into one token shard for training");
  command->add_option("inputs", options->inputs, "Text files, plain or xz-compressed")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_option("-o,--out", options->out, "Output token shard")->required();
  command->add_option("--tokenizer", options->tokenizer, "tokenizer.json to use")
      ->capture_default_str()
      ->check(CLI::ExistingFile);
  command->add_option("--chunk-kib", options->chunk_kib, "Text encoded per piece, in KiB")
      ->capture_default_str();
  command->add_flag("--eos-after-file", options->eos_after_file,
                    "Append the eos token after each file (when files are whole documents)");
  command->add_flag("--no-progress", options->no_progress, "No progress bar");
  command->callback([options] { run_tokenize(*options); });
}

}  // namespace a48::cli
