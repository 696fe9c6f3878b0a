// End-to-end tests of the `a48` binary: each subcommand on a small random model, and the errors
// that bad input must produce (a message naming the problem, a non-zero exit, never a crash).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "cli/cli_runner.h"
#include "test_paths.h"

namespace fs = std::filesystem;

namespace {

using Result = a48::test::CommandResult;

// Runs `a48 <args>`, capturing stdout and stderr.
Result a48(const std::string& args) {
  return a48::test::run_a48(
      args, fs::temp_directory_path() / ("a48_cli_" + std::to_string(::getpid())));
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_dir_ = fs::temp_directory_path() / ("a48_cli_model_" + std::to_string(::getpid()));
    fs::remove_all(model_dir_);
    const Result init = a48("init --out " + model_dir_.string() +
                            " --hidden 64 --layers 2 --heads 4 --kv-heads 2 --ffn 160 --ctx 96 "
                            "--seed 7");
    ASSERT_EQ(init.exit_code, 0) << init.err;
    text_file_ = model_dir_ / "text.txt";
    std::ofstream(text_file_) << "The scheduler wakes the task when its timer expires. "
                                 "Each CPU keeps its own run queue, and the load balancer moves "
                                 "tasks between them when one queue grows longer than another.";
  }
  static void TearDownTestSuite() { fs::remove_all(model_dir_); }

  static std::string model() { return " -m " + model_dir_.string(); }
  static fs::path model_dir_, text_file_;
};
fs::path CliTest::model_dir_, CliTest::text_file_;

TEST_F(CliTest, HelpListsEverySubcommand) {
  const Result help = a48("--help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* command : {"generate", "score", "perplexity", "sparsity", "info", "init"}) {
    EXPECT_NE(help.out.find(command), std::string::npos) << command;
  }
}

TEST_F(CliTest, GreedyGenerationIsDeterministicAndReportsSpeed) {
  const std::string args = "generate" + model() + " -p \"The scheduler\" -n 12 --temp 0";
  const Result first = a48(args), second = a48(args);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out, second.out);
  EXPECT_EQ(first.out.rfind("The scheduler", 0), 0u) << "output starts with the prompt";
  EXPECT_NE(first.err.find("tokens/s"), std::string::npos);
  EXPECT_NE(first.err.find("untrained"), std::string::npos) << "a random model says so";
}

TEST_F(CliTest, SeededSamplingRepeatsAndSeedsDiffer) {
  const std::string args = "generate" + model() + " -p \"A\" -n 24 --temp 1.5 --top-k 0 --top-p 1 --min-p 0";
  const Result a = a48(args + " --seed 1"), b = a48(args + " --seed 1"), c = a48(args + " --seed 2");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
}

TEST_F(CliTest, ScoreAgreesWithPerplexity) {
  const Result score = a48("score" + model() + " -f " + text_file_.string());
  ASSERT_EQ(score.exit_code, 0) << score.err;
  const auto json = nlohmann::json::parse(score.out);
  const auto& tokens = json.at("tokens");
  ASSERT_GT(tokens.size(), 10u);
  EXPECT_TRUE(tokens[0].at("logprob").is_null());
  double sum = 0;
  for (std::size_t i = 1; i < tokens.size(); ++i) {
    const double logprob = tokens[i].at("logprob").get<double>();
    EXPECT_LE(logprob, 0.0);
    sum += logprob;
  }
  EXPECT_NEAR(sum, json.at("sum_logprob").get<double>(), 1e-9 * std::abs(sum) + 1e-9);

  // One window covering the whole text scores the same tokens with the same context.
  const Result ppl = a48("perplexity" + model() + " -f " + text_file_.string() +
                         " --ctx 90 --stride 90 --json");
  ASSERT_EQ(ppl.exit_code, 0) << ppl.err;
  const auto ppl_json = nlohmann::json::parse(ppl.out);
  EXPECT_EQ(ppl_json.at("n_scored").get<int64_t>(), json.at("n_scored").get<int64_t>());
  EXPECT_NEAR(ppl_json.at("mean_nll").get<double>(), -json.at("mean_logprob").get<double>(), 1e-9);
  EXPECT_GT(ppl_json.at("ppl_stderr").get<double>(), 0.0);
}

TEST_F(CliTest, ScoreTokenIds) {
  const Result score = a48("score" + model() + " --ids 5,6,7,8");
  ASSERT_EQ(score.exit_code, 0) << score.err;
  const auto json = nlohmann::json::parse(score.out);
  EXPECT_EQ(json.at("n_tokens").get<int>(), 4);
  EXPECT_EQ(json.at("tokens")[3].at("id").get<int>(), 8);
}

TEST_F(CliTest, SparsityReportsTable2Columns) {
  const Result result =
      a48("sparsity" + model() + " --scheme a4.8 --json -f " + text_file_.string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto sparsity = nlohmann::json::parse(result.out).at("sparsity_percent");
  // a4.8 keeps the top 50% of the o_proj inputs (d = 64 is even): exactly half are skipped.
  EXPECT_NEAR(sparsity.at("out").get<double>(), 50.0, 1e-9);
  for (const char* column : {"qkv", "up", "gate", "down", "overall"}) {
    const double value = sparsity.at(column).get<double>();
    EXPECT_GE(value, 0.0) << column;
    EXPECT_LE(value, 100.0) << column;
  }
  // ReLU^2 zeroes about half of the gate outputs of a random model, so up skips more than gate.
  EXPECT_GT(sparsity.at("up").get<double>(), sparsity.at("gate").get<double>());
  const Result table = a48("sparsity" + model() + " -f " + text_file_.string());
  EXPECT_NE(table.out.find("| Model | Activated | QKV | Out | Up | Gate | Down | Overall |"),
            std::string::npos);
}

TEST_F(CliTest, InfoCountsParameters) {
  const Result info = a48("info" + model() + " --json");
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const auto json = nlohmann::json::parse(info.out);
  // 2 layers x (q 64x64 + k,v 2x(32x64) + o 64x64 + gate,up,down 3x(160x64)) = 2 x 43008
  EXPECT_EQ(json.at("parameters").at("projections").get<int64_t>(), 2 * 43008);
  EXPECT_EQ(json.at("config").at("hidden_size").get<int>(), 64);
  EXPECT_TRUE(json.at("bytes_by_dtype").contains("F32"));
}

// --- bad input ------------------------------------------------------------------------------

TEST_F(CliTest, MissingModelDirectoryIsNamed) {
  const Result r = a48("generate -m /nonexistent/model -p hi");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent/model"), std::string::npos) << r.err;
}

TEST_F(CliTest, TruncatedWeightsAreAClearError) {
  const fs::path broken = model_dir_.string() + "_truncated";
  fs::remove_all(broken);
  fs::copy(model_dir_, broken);
  const auto size = fs::file_size(broken / "model.safetensors");
  fs::resize_file(broken / "model.safetensors", size / 2);
  const Result r = a48("generate -m " + broken.string() + " -p hi -n 2");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("model.safetensors"), std::string::npos) << r.err;
  fs::remove_all(broken);
}

TEST_F(CliTest, CorruptConfigIsAClearError) {
  const fs::path broken = model_dir_.string() + "_badconfig";
  fs::remove_all(broken);
  fs::copy(model_dir_, broken);
  std::ofstream(broken / "config.json") << "{\"hidden_size\": \"sixty-four\"";
  const Result r = a48("generate -m " + broken.string() + " -p hi -n 2");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.err;
  fs::remove_all(broken);
}

TEST_F(CliTest, PromptPastTheContextIsRejected) {
  std::string long_prompt;
  for (int i = 0; i < 200; ++i) long_prompt += "word ";
  const Result r = a48("generate" + model() + " -p \"" + long_prompt + "\" -n 4");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("context"), std::string::npos) << r.err;
}

TEST_F(CliTest, BadFlagValuesAreNamed) {
  Result r = a48("generate" + model() + " -p hi --scheme a9.9");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("a9.9"), std::string::npos) << r.err;
  r = a48("generate" + model() + " -p hi --temp -1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("temperature"), std::string::npos) << r.err;
  r = a48("score" + model() + " --ids 1,999999");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("999999"), std::string::npos) << r.err;
  r = a48("generate --no-such-flag");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.exit_code < 128, true) << "no crash";
}

}  // namespace
