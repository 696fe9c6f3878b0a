// The training curve as JSON Lines: one JSON object per line, written and flushed as it happens,
// so a crashed run keeps every record before the crash. Records carry an integer "step"; the
// trainer writes e.g. {"step", "tokens", "loss", "lr", "tokens_per_s", "scheme"} and, at
// evaluations, {"step", "tokens", "val_loss", "val_ppl", "scheme"}. tools/plot_metrics.py plots them.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

namespace a48 {

class MetricsLog {
 public:
  // Fresh run (resume_step empty): the file starts empty. Resumed run: keeps exactly the records
  // with step <= *resume_step (a torn last line from a crash is dropped) and appends after them,
  // so the curve continues from the checkpoint without duplicated or orphaned steps.
  MetricsLog(const std::filesystem::path& path, std::optional<int64_t> resume_step);

  // `record` must be an object with an integer "step". One line, flushed before returning.
  void write(const nlohmann::json& record);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::ofstream out_;
};

// Every record of a metrics file; throws a48::Error naming the line of a malformed record (a torn
// last line without its newline is skipped, as a crash mid-write leaves it).
std::vector<nlohmann::json> read_metrics(const std::filesystem::path& path);

}  // namespace a48
