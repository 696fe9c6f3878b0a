// `a48 bench` end to end: markdown rows and JSON records for each combination, the roofline
// columns on the CPU engine, and clear errors for contradictory or impossible requests.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

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
