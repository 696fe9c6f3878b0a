// Shared helpers for the tokenizer tests: files, the committed expected vectors, and tokenizers
// loaded once per process (GPT-2's tokenizer.json and LLaMA-3's ranks take ~0.1-0.5 s each).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace a48::test {

inline std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::filesystem::path tokenizer_data_dir() { return test_data_dir() / "tokenizer" / "data"; }
inline std::filesystem::path shared_tokenizers_dir() { return shared_data_dir() / "tokenizers"; }

// A file in a per-process temporary folder, for hand-made and hostile tokenizer files.
inline std::filesystem::path write_temp_file(const std::string& name, const std::string& content) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("a48_test_tokenizer_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

struct VectorCase {
  std::string text;
  std::vector<int32_t> ids;        // parse_special = true
  std::vector<int32_t> ids_plain;  // parse_special = false
  std::string decoded;             // HF decode(ids)
};

// tests/tokenizer/data/<name>.expected.json, written by tools/make_tokenizer_vectors.py.
inline std::vector<VectorCase> load_expected(const std::string& name) {
  const auto doc =
      nlohmann::json::parse(read_text_file(tokenizer_data_dir() / (name + ".expected.json")));
  std::vector<VectorCase> cases;
  for (const auto& c : doc.at("cases"))
    cases.push_back({c.at("text").get<std::string>(), c.at("ids").get<std::vector<int32_t>>(),
                     c.at("ids_plain").get<std::vector<int32_t>>(),
                     c.at("decoded").get<std::string>()});
  return cases;
}

inline std::string base64_encode(std::string_view s) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < s.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, s.size() - i);
    uint32_t v = 0;
    for (std::size_t k = 0; k < 3; ++k)
      v = (v << 8) | (k < n ? static_cast<unsigned char>(s[i + k]) : 0u);
    for (std::size_t k = 0; k < 4; ++k) out += k <= n ? alphabet[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

// A tiktoken ranks file: the 256 bytes as ranks 0..255, then `merged` from rank 256 on.
inline std::string tiny_tiktoken_file(const std::vector<std::string>& merged) {
  std::string file;
  for (int b = 0; b < 256; ++b)
    file += base64_encode(std::string(1, static_cast<char>(b))) + " " + std::to_string(b) + "\n";
  int rank = 256;
  for (const std::string& t : merged)
    file += base64_encode(t) + " " + std::to_string(rank++) + "\n";
  return file;
}

// The tokenizers, loaded once. LLaMA-3 needs ../shared/data: call A48_REQUIRE_SHARED_DATA first.
inline const Tokenizer& gpt2_tokenizer() {
  static const Tokenizer t = Tokenizer::from_hf_json(tokenizer_data_dir() / "gpt2.tokenizer.json");
  return t;
}
inline const Tokenizer& llama3_style_tokenizer() {
  static const Tokenizer t =
      Tokenizer::from_hf_json(tokenizer_data_dir() / "llama3_style.tokenizer.json");
  return t;
}
inline const Tokenizer& a48_tokenizer() {
  static const Tokenizer t =
      Tokenizer::from_hf_json(source_dir() / "models" / "tokenizer" / "tokenizer.json");
  return t;
}
inline const Tokenizer& llama3_tokenizer() {
  static const Tokenizer t =
      Tokenizer::from_tiktoken_llama3(shared_tokenizers_dir() / "llama3.tiktoken.tokenizer.model");
  return t;
}

}  // namespace a48::test
