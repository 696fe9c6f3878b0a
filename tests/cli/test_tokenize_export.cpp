// `a48 tokenize` and `a48 export`: chunked tokenization equals whole-text tokenization (for the
// GPT-2 and LLaMA-3 pre-tokenizers), shards from plain and .xz text, and checkpoints exported to
// model directories whose forward equals the checkpoint's parameters exactly.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "core/half.h"
#include "format/model_files.h"
#include "model/forward.h"
#include "cli/cli_runner.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/parameter_layout.h"
#include "train/text_source.h"
#include "train/token_shard.h"

namespace a48 {
namespace {
namespace fs = std::filesystem;

using test::CommandResult;
using test::slurp;

void spit(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

class TokenizeExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("a48_tok_export_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  CommandResult a48(const std::string& args) const { return test::run_a48(args, dir_); }
  static fs::path default_tokenizer() { return test::source_dir() / "models/tokenizer/tokenizer.json"; }
  fs::path dir_;
};

// Documents separated by "<|endoftext|>" lines, with the whitespace and punctuation patterns
// where a careless cut would change the pre-tokenization.
std::string corpus_text(uint32_t seed, int n_docs) {
  static const char* kPieces[] = {
      "The scheduler wakes the task", " when its timer expires.", "\n", "\n\n", "  \n", "\t",
      "x = f(a, b);", "   indented", "CONFIG_PROVE_RCU", "'s", " don't", "12345", "é", "日本語",
      "\r\n", " -- ", "rcu_dereference()", "\n\n\n", "?!\n"};
  std::mt19937 rng(seed);
  std::string text;
  for (int d = 0; d < n_docs; ++d) {
    for (int i = 0; i < 60; ++i) text += kPieces[rng() % std::size(kPieces)];
    text += "\n<|endoftext|>\n";
  }
  return text;
}

std::vector<int32_t> chunked_encode(const Tokenizer& tokenizer, const fs::path& path,
                                    std::size_t chunk_bytes) {
  std::vector<int32_t> ids;
  read_text_chunks(path, chunk_bytes, [&](std::string_view chunk, int64_t, int64_t) {
    const std::vector<int32_t> piece = tokenizer.encode(chunk);
    ids.insert(ids.end(), piece.begin(), piece.end());
  });
  return ids;
}

std::vector<int32_t> shard_ids(const fs::path& path) {
  const TokenShard shard(path);
  std::vector<int32_t> ids(static_cast<std::size_t>(shard.size()));
  shard.copy(0, ids);
  return ids;
}

TEST_F(TokenizeExportTest, HelpListsTokenizeAndExport) {
  const CommandResult help = a48("--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("tokenize"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("export"), std::string::npos) << help.out;
}

TEST_F(TokenizeExportTest, ChunkedEncodingEqualsWholeEncoding) {
  const std::string text = corpus_text(1, 12);
  spit(dir_ / "text.txt", text);
  const fs::path data = test::source_dir() / "tests/tokenizer/data";
  for (const fs::path& json : {default_tokenizer(), data / "gpt2.tokenizer.json",
                               data / "llama3_style.tokenizer.json"}) {
    const Tokenizer tokenizer = Tokenizer::from_hf_json(json);
    const std::vector<int32_t> whole = tokenizer.encode(text);
    for (const std::size_t chunk_bytes : {1, 13, 256, 4096}) {
      EXPECT_EQ(chunked_encode(tokenizer, dir_ / "text.txt", chunk_bytes), whole)
          << json.filename() << " chunk " << chunk_bytes;
    }
  }
}

TEST_F(TokenizeExportTest, ChunkedEncodingEqualsWholeEncodingWithLlama3) {
  A48_REQUIRE_SHARED_DATA();
  const Tokenizer tokenizer = Tokenizer::from_tiktoken_llama3(
      test::shared_data_dir() / "tokenizers/llama3.tiktoken.tokenizer.model");
  const std::string text = corpus_text(2, 6);
  spit(dir_ / "text.txt", text);
  const std::vector<int32_t> whole = tokenizer.encode(text);
  for (const std::size_t chunk_bytes : {1, 64}) {
    EXPECT_EQ(chunked_encode(tokenizer, dir_ / "text.txt", chunk_bytes), whole) << chunk_bytes;
  }
}

TEST_F(TokenizeExportTest, TokenizeWritesTheWholeTextEncoding) {
  const std::string text = corpus_text(3, 20);
  spit(dir_ / "a.txt", text);
  const CommandResult run = a48("tokenize " + (dir_ / "a.txt").string() + " -o " +
                      (dir_ / "sub/a.tok").string() + " --chunk-kib 1 --no-progress");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("MB/s"), std::string::npos) << run.err;
  const Tokenizer tokenizer = Tokenizer::from_hf_json(default_tokenizer());
  const std::vector<int32_t> ids = shard_ids(dir_ / "sub/a.tok");
  EXPECT_EQ(ids, tokenizer.encode(text));
  const int32_t end_of_text = *tokenizer.find("<|endoftext|>");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), end_of_text), 20) << "one per separator line";
  const TokenShard shard(dir_ / "sub/a.tok");
  EXPECT_NO_THROW(shard.check_tokenizer(sha256_file(default_tokenizer()), "default"));
  EXPECT_EQ(shard.info().vocab_size, tokenizer.vocab_size());

  // The same text xz-compressed gives the same shard, byte for byte.
  ASSERT_EQ(std::system(("xz -k " + (dir_ / "a.txt").string()).c_str()), 0);
  const CommandResult xz_run = a48("tokenize " + (dir_ / "a.txt.xz").string() + " -o " +
                         (dir_ / "b.tok").string() + " --no-progress");
  ASSERT_EQ(xz_run.exit_code, 0) << xz_run.err;
  EXPECT_EQ(slurp(dir_ / "b.tok"), slurp(dir_ / "sub/a.tok"));
}

TEST_F(TokenizeExportTest, SeveralFilesWithEosBetween) {
  spit(dir_ / "a.txt", "First document.");
  spit(dir_ / "b.txt", "Second one.");
  const CommandResult run = a48("tokenize " + (dir_ / "a.txt").string() + " " + (dir_ / "b.txt").string() +
                      " -o " + (dir_ / "ab.tok").string() + " --eos-after-file --no-progress");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const Tokenizer tokenizer = Tokenizer::from_hf_json(default_tokenizer());
  std::vector<int32_t> expected = tokenizer.encode("First document.");
  expected.push_back(*tokenizer.eos_id());
  const std::vector<int32_t> second = tokenizer.encode("Second one.");
  expected.insert(expected.end(), second.begin(), second.end());
  expected.push_back(*tokenizer.eos_id());
  EXPECT_EQ(shard_ids(dir_ / "ab.tok"), expected);
}

TEST_F(TokenizeExportTest, TokenizeErrorsNameTheInputAndLeaveNoShard) {
  spit(dir_ / "bad.txt", "valid line\nthen \xff\xfe bytes\n");
  CommandResult run = a48("tokenize " + (dir_ / "bad.txt").string() + " -o " + (dir_ / "x.tok").string() +
                " --no-progress");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("bad.txt"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("text bytes"), std::string::npos) << run.err;
  EXPECT_FALSE(fs::exists(dir_ / "x.tok"));
  EXPECT_FALSE(fs::exists(dir_ / "x.tok.tmp"));

  spit(dir_ / "t.txt", corpus_text(4, 3));
  ASSERT_EQ(std::system(("xz -k " + (dir_ / "t.txt").string()).c_str()), 0);
  const std::string xz = slurp(dir_ / "t.txt.xz");
  spit(dir_ / "cut.xz", xz.substr(0, xz.size() - 9));
  run = a48("tokenize " + (dir_ / "cut.xz").string() + " -o " + (dir_ / "x.tok").string() +
            " --no-progress");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("cut.xz"), std::string::npos) << run.err;
  EXPECT_FALSE(fs::exists(dir_ / "x.tok"));

  run = a48("tokenize " + (dir_ / "absent.txt").string() + " -o " + (dir_ / "x.tok").string());
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.err.find("absent.txt"), std::string::npos) << run.err;
}

TEST_F(TokenizeExportTest, SharedValidationCorpus) {
  A48_REQUIRE_SHARED_DATA();
  const fs::path valid = test::shared_data_dir() / "docs-corpus/valid.txt.xz";
  const CommandResult run = a48("tokenize " + valid.string() + " -o " + (dir_ / "valid.tok").string() +
                      " --no-progress");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::string text;
  TextFileReader reader(valid);
  while (reader.read(text, 1 << 20) > 0) {
  }
  const Tokenizer tokenizer = Tokenizer::from_hf_json(default_tokenizer());
  const std::vector<int32_t> ids = shard_ids(dir_ / "valid.tok");
  EXPECT_EQ(ids, tokenizer.encode(text));
  EXPECT_EQ(std::count(ids.begin(), ids.end(), *tokenizer.find("<|endoftext|>")), 101)
      << "shared/data/README.md: 101 documents";
}

// --- export ---------------------------------------------------------------------------------

ModelConfig export_config(ActivationScheme scheme, bool tied) {
  ModelConfig c;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.intermediate_size = 48;
  c.vocab_size = Tokenizer::from_hf_json(test::source_dir() / "models/tokenizer/tokenizer.json")
                     .vocab_size();
  c.max_position_embeddings = 64;
  c.tie_word_embeddings = tied;
  c.activation_scheme = scheme;
  c.bos_token_id = 0;
  c.eos_token_id = 0;
  return c;
}

// Random flat parameters; with bf16_floats, norms and embeddings are BF16 values, which packed
// storage keeps exactly (it stores them as BF16, like the 2B4T file).
Checkpoint export_checkpoint(const ModelConfig& config, uint32_t seed, bool bf16_floats) {
  Checkpoint c;
  c.model = config;
  const ParameterLayout layout(config);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  c.params.resize(static_cast<std::size_t>(layout.total()));
  for (const ParameterTensor& t : layout.tensors()) {
    for (int64_t i = 0; i < t.numel; ++i) {
      float x = t.kind == ParameterTensor::Kind::norm ? 1.0f + 0.1f * normal(rng) : 0.05f * normal(rng);
      if (bf16_floats && t.kind != ParameterTensor::Kind::projection) x = bf16_to_f32(f32_to_bf16(x));
      c.params[static_cast<std::size_t>(t.offset + i)] = x;
    }
  }
  c.adam_m.assign(c.params.size(), 0.01f);
  c.adam_v.assign(c.params.size(), 0.0001f);
  c.step = 77;
  c.tokens_seen = 77 * 4096;
  c.train_config = {{"seq_len", 64}};
  return c;
}

std::vector<float> all_logits(const Model& model, const std::vector<int32_t>& tokens) {
  KvCache cache(model.config, static_cast<int64_t>(tokens.size()));
  const SequenceInput input{&cache, tokens, true};
  return forward(model, std::span<const SequenceInput>(&input, 1));
}

TEST_F(TokenizeExportTest, ExportedModelRunsTheCheckpointExactly) {
  const std::vector<int32_t> tokens = {0, 5, 900, 17, 4000, 8191, 3, 3, 250};
  struct Case {
    ActivationScheme scheme;
    bool tied;
    std::string storage;  // "" = the default
  };
  for (const Case& c : {Case{ActivationScheme::a48, true, ""}, Case{ActivationScheme::a48, false, "f32"},
                        Case{ActivationScheme::b158, false, "packed"},
                        Case{ActivationScheme::fp, true, ""}}) {
    const ModelConfig config = export_config(c.scheme, c.tied);
    const bool packed = c.storage == "packed" || (c.storage.empty() && c.scheme != ActivationScheme::fp);
    const Checkpoint checkpoint = export_checkpoint(config, 5, packed);
    save_checkpoint(dir_ / "c.safetensors", checkpoint);
    const fs::path out = dir_ / "model";
    fs::remove_all(out);
    const CommandResult run = a48("export -c " + (dir_ / "c.safetensors").string() + " -o " + out.string() +
                        (c.storage.empty() ? "" : " --storage " + c.storage));
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.err.find("step 77"), std::string::npos) << run.err;

    const Model exported = load_model(out);
    EXPECT_EQ(exported.config.activation_scheme, c.scheme);
    EXPECT_EQ(exported.weights.layers[0].q_proj.latent.empty(), packed) << "packed: codes only";
    const Model reference =
        unflatten_parameters(checkpoint.params, config, ParameterLayout(config));
    const std::vector<float> want = all_logits(reference, tokens);
    const std::vector<float> got = all_logits(exported, tokens);
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(got[i], want[i]) << to_string(c.scheme) << " " << c.storage << " logit " << i;
    }
    EXPECT_EQ(slurp(out / "tokenizer.json"), slurp(default_tokenizer()));
    const nlohmann::json training = nlohmann::json::parse(slurp(out / "training.json"));
    EXPECT_EQ(training.at("step"), 77);
    EXPECT_EQ(training.at("train_config"), checkpoint.train_config);
    // The exported directory is an ordinary model for the other subcommands.
    const CommandResult info = a48("info -m " + out.string());
    EXPECT_EQ(info.exit_code, 0) << info.err;
  }
}

TEST_F(TokenizeExportTest, ExportPicksTheLatestCheckpointOfADirectory) {
  const ModelConfig config = export_config(ActivationScheme::a48, true);
  Checkpoint checkpoint = export_checkpoint(config, 6, true);
  for (const int64_t step : {100, 200}) {
    checkpoint.step = step;
    save_checkpoint_in_dir(dir_ / "run", checkpoint, 2);
  }
  const CommandResult run = a48("export -c " + (dir_ / "run").string() + " -o " + (dir_ / "m").string());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("step 200"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("step_0000000200.safetensors"), std::string::npos) << run.err;
}

TEST_F(TokenizeExportTest, ExportErrorsAreNamed) {
  const ModelConfig fp_config = export_config(ActivationScheme::fp, false);
  save_checkpoint(dir_ / "fp.safetensors", export_checkpoint(fp_config, 7, false));
  CommandResult run = a48("export -c " + (dir_ / "fp.safetensors").string() + " -o " + (dir_ / "m").string() +
                " --storage packed");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("no ternary form"), std::string::npos) << run.err;

  run = a48("export -c " + (dir_ / "fp.safetensors").string() + " -o " + (dir_ / "m").string() +
            " --storage f16");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("--storage 'f16'"), std::string::npos) << run.err;

  save_model(make_random_model(fp_config, 1), dir_ / "model", WeightStorage::f32);
  run = a48("export -c " + (dir_ / "model/model.safetensors").string() + " -o " +
            (dir_ / "m").string());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("not an a48 training checkpoint"), std::string::npos) << run.err;

  fs::create_directories(dir_ / "empty_run");
  run = a48("export -c " + (dir_ / "empty_run").string() + " -o " + (dir_ / "m").string());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("holds no checkpoint"), std::string::npos) << run.err;

  // A tokenizer larger than the model's vocabulary is not the run's.
  ModelConfig small_vocab = fp_config;
  small_vocab.vocab_size = 100;
  save_checkpoint(dir_ / "small.safetensors", export_checkpoint(small_vocab, 8, false));
  run = a48("export -c " + (dir_ / "small.safetensors").string() + " -o " + (dir_ / "m").string());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("vocabulary of 100"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace a48
