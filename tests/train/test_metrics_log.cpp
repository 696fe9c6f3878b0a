// Metrics JSONL: flushed lines, and truncation to the resumed step.
#include <gtest/gtest.h>

#include "train/metrics_log.h"
#include "train_io_test_util.h"

namespace a48 {
namespace {

using test::error_of;
using test::read_bytes;
using test::write_bytes;
using nlohmann::json;

class MetricsLogTest : public test::TempDirTest {
 protected:
  std::vector<int64_t> steps() const {
    std::vector<int64_t> out;
    for (const json& record : read_metrics(path_)) out.push_back(record.at("step").get<int64_t>());
    return out;
  }
  std::filesystem::path path_ = "unset";
  void SetUp() override {
    test::TempDirTest::SetUp();
    path_ = dir_ / "run" / "metrics.jsonl";  // the parent directory is created
  }
};

TEST_F(MetricsLogTest, WritesOneFlushedObjectPerLine) {
  MetricsLog log(path_, std::nullopt);
  log.write({{"step", 0}, {"tokens", 0}, {"loss", 10.5}, {"scheme", "b1.58"}});
  // Readable while the log is still open: every line is flushed.
  EXPECT_EQ(read_bytes(path_), R"({"loss":10.5,"scheme":"b1.58","step":0,"tokens":0})"
                               "\n");
  log.write({{"step", 10}, {"tokens", 5120}, {"loss", 7.25}, {"lr", 1.5e-3}});
  log.write({{"step", 10}, {"val_loss", 7.5}, {"val_ppl", 1808.04}});
  const std::vector<json> records = read_metrics(path_);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[1].at("lr").get<double>(), 1.5e-3);
  EXPECT_EQ(records[2].at("val_ppl").get<double>(), 1808.04);
}

TEST_F(MetricsLogTest, RecordsNeedAnIntegerStep) {
  MetricsLog log(path_, std::nullopt);
  EXPECT_NE(error_of([&] { log.write({{"loss", 1.0}}); }).find("\"step\""), std::string::npos);
  EXPECT_THROW(log.write({{"step", 1.5}}), Error);
  EXPECT_THROW(log.write(json::array({1, 2})), Error);
  EXPECT_EQ(read_bytes(path_), "") << "nothing half-written";
}

TEST_F(MetricsLogTest, ResumeKeepsRecordsUpToTheCheckpointStep) {
  {
    MetricsLog log(path_, std::nullopt);
    for (const int64_t step : {0, 10, 20, 30, 40}) log.write({{"step", step}, {"loss", 1.0}});
    log.write({{"step", 20}, {"val_loss", 2.0}});  // out of order in the file: still kept by step
  }
  {
    MetricsLog log(path_, int64_t{20});  // the run crashed after step 40; checkpoint at 20
    EXPECT_EQ(steps(), (std::vector<int64_t>{0, 10, 20, 20}));
    log.write({{"step", 30}, {"loss", 0.5}});
  }
  EXPECT_EQ(steps(), (std::vector<int64_t>{0, 10, 20, 20, 30}));
  EXPECT_EQ(read_metrics(path_).back().at("loss").get<double>(), 0.5);
  EXPECT_FALSE(std::filesystem::exists(path_.string() + ".tmp"));
}

TEST_F(MetricsLogTest, ATornLastLineIsDropped) {
  std::filesystem::create_directories(path_.parent_path());
  write_bytes(path_, "{\"step\":0,\"loss\":3}\n{\"step\":10,\"loss\":2}\n{\"step\":20,\"lo");
  EXPECT_EQ(steps(), (std::vector<int64_t>{0, 10}));
  MetricsLog log(path_, int64_t{100});
  log.write({{"step", 20}, {"loss", 1}});
  EXPECT_EQ(read_bytes(path_), "{\"loss\":3,\"step\":0}\n{\"loss\":2,\"step\":10}\n"
                               "{\"loss\":1,\"step\":20}\n");
}

TEST_F(MetricsLogTest, AMalformedLineInTheMiddleIsAnError) {
  std::filesystem::create_directories(path_.parent_path());
  write_bytes(path_, "{\"step\":0}\nnot json\n{\"step\":2}\n");
  EXPECT_NE(error_of([&] { read_metrics(path_); }).find("line 2"), std::string::npos);
  EXPECT_NE(error_of([&] { MetricsLog(path_, int64_t{5}); }).find("line 2"), std::string::npos);
  EXPECT_EQ(read_bytes(path_), "{\"step\":0}\nnot json\n{\"step\":2}\n") << "left as it was";
  write_bytes(path_, "{\"step\":0}\n{\"loss\":1}\n");
  EXPECT_NE(error_of([&] { read_metrics(path_); }).find("line 2"), std::string::npos);
}

TEST_F(MetricsLogTest, FreshRunStartsEmptyAndResumeWithoutAFileCreatesIt) {
  std::filesystem::create_directories(path_.parent_path());
  write_bytes(path_, "{\"step\":0}\n");
  { MetricsLog log(path_, std::nullopt); }
  EXPECT_EQ(read_bytes(path_), "");
  std::filesystem::remove(path_);
  {
    MetricsLog log(path_, int64_t{7});
    log.write({{"step", 8}});
  }
  EXPECT_EQ(steps(), std::vector<int64_t>{8});
}

}  // namespace
}  // namespace a48
