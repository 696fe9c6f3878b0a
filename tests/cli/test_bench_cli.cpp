// `a48 bench` end to end: markdown rows and JSON records for each combination (schemes, threads,
// heads, prompt lengths, decode batches), the roofline columns on the CPU engine, and clear errors
// for contradictory or impossible requests.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_runner.h"

namespace {

namespace fs = std::filesystem;

a48::test::CommandResult a48(const std::string& args) {
  return a48::test::run_a48(
      args, fs::temp_directory_path() / ("a48_bench_cli_" + std::to_string(::getpid())));
}

TEST(BenchCli, ReportsEveryCombinationAsMarkdownAndJson) {
  const fs::path json = fs::temp_directory_path() / ("a48_bench_" + std::to_string(::getpid()) + ".json");
  const auto r = a48("bench -p 12 -n 5 -r 2 -t 1,2 --head f32,int8 --scheme a4.8,b1.58 --json " +
                     json.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json records = nlohmann::json::parse(a48::test::slurp(json));
  fs::remove(json);
  ASSERT_EQ(records.size(), 2u * 2u * 2u * 2u);  // schemes x threads x heads x {pp, tg}
  for (const auto& rec : records) {
    EXPECT_GT(rec["tokens_per_second"].get<double>(), 0.0);
    EXPECT_EQ(rec["samples"].size(), 2u);
    if (rec["test"] == "tg5") {
      EXPECT_GT(rec["bytes_per_token"].get<double>(), 0.0);  // the CPU roofline columns
      EXPECT_GT(rec["read_bandwidth"].get<double>(), 0.0);
    } else {
      EXPECT_EQ(rec["test"], "pp12");
    }
  }
  EXPECT_NE(r.out.find("| a4.8 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| b1.58 |"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("KV cache at 4096 tokens"), std::string::npos) << r.err;
}

// -p as a list (one pp row each) and -b: tg with B sequences per forward, named "tgN x bB", whose
// roofline counts every weight once per step (dense) where batch 1 counts Table 2's skipped bytes.
TEST(BenchCli, PromptListsAndDecodeBatches) {
  const fs::path json =
      fs::temp_directory_path() / ("a48_bench_b_" + std::to_string(::getpid()) + ".json");
  const auto r =
      a48("bench -p 8,12 -n 3 -b 1,3 -r 2 -t 1 --head f32 --scheme a4.8 --json " + json.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json records = nlohmann::json::parse(a48::test::slurp(json));
  fs::remove(json);
  ASSERT_EQ(records.size(), 4u) << records.dump(1);  // pp8, pp12, tg3, tg3 x b3
  std::map<std::string, nlohmann::json> by_test;
  for (const auto& rec : records) {
    EXPECT_GT(rec["tokens_per_second"].get<double>(), 0.0);
    EXPECT_EQ(rec["samples"].size(), 2u);
    by_test[rec["test"].get<std::string>()] = rec;
  }
  ASSERT_EQ(by_test.count("pp8") + by_test.count("pp12") + by_test.count("tg3") +
                by_test.count("tg3 x b3"),
            4u)
      << records.dump(1);
  EXPECT_EQ(by_test["pp12"]["kind"], "pp");
  EXPECT_EQ(by_test["pp12"]["n_tokens"], 12);
  EXPECT_EQ(by_test["pp12"]["batch"], 1);
  const nlohmann::json& b1 = by_test["tg3"];
  const nlohmann::json& b3 = by_test["tg3 x b3"];
  EXPECT_EQ(b1["kind"], "tg");
  EXPECT_EQ(b1["batch"], 1);
  EXPECT_EQ(b3["batch"], 3);
  EXPECT_EQ(b3["n_tokens"], 3);
  EXPECT_DOUBLE_EQ(b3["bytes_per_step"].get<double>(), 3 * b3["bytes_per_token"].get<double>());
  // Batch 1 skips the up rows of zero gates and the o_proj/down columns of zero inputs.
  EXPECT_GT(b3["bytes_per_step"].get<double>(), b1["bytes_per_step"].get<double>());
  EXPECT_NE(r.out.find("| tg3 x b3 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| pp8 |"), std::string::npos) << r.out;
}

TEST(BenchCli, RejectsBadBatchesAndLengthsPastTheContext) {
  for (const char* args : {"bench -b 0 -p 0 -n 2", "bench -b 1,0 -p 0 -n 2"}) {
    const auto r = a48(args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_NE(r.err.find("-b/--batch values must be >= 1"), std::string::npos) << r.err;
  }
  // The embedded model's context is 512 tokens; each tg sequence starts with a 16-token prompt.
  const auto long_prompt = a48("bench -p 64,513 -n 0");
  EXPECT_NE(long_prompt.exit_code, 0);
  EXPECT_NE(long_prompt.err.find("-p 513 exceeds the model's context of 512"), std::string::npos)
      << long_prompt.err;
  const auto long_gen = a48("bench -p 0 -n 497");
  EXPECT_NE(long_gen.exit_code, 0);
  EXPECT_NE(long_gen.err.find("-n 497 plus the 16-token prompt"), std::string::npos)
      << long_gen.err;
  EXPECT_NE(a48("bench -p 0,0 -n 0").exit_code, 0);
  // A shape's context is checked before its (large) random model is made.
  const auto shape = a48("bench --shape 7b -p 4096 -n 1");
  EXPECT_NE(shape.exit_code, 0);
  EXPECT_NE(shape.err.find("context of 2048"), std::string::npos) << shape.err;
  EXPECT_EQ(shape.err.find("making a random ternary model"), std::string::npos) << shape.err;
}

TEST(BenchCli, RejectsContradictoryOrImpossibleRequests) {
  EXPECT_NE(a48("bench -m models/default --shape 2b4t").exit_code, 0);
  const auto unknown = a48("bench --shape 9b -n 1 -p 0");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("unknown model shape"), std::string::npos) << unknown.err;
  EXPECT_NE(a48("bench -p 0 -n 0").exit_code, 0);
  const auto too_long = a48("bench -p 100000 -n 1");
  EXPECT_NE(too_long.exit_code, 0);
  EXPECT_NE(too_long.err.find("context"), std::string::npos) << too_long.err;
  EXPECT_NE(a48("bench --device tpu").exit_code, 0);
}

}  // namespace
