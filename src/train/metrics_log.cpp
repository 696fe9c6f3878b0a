// JSON Lines metrics: append-and-flush writing, and truncation to a resumed step.
#include "train/metrics_log.h"

#include <sstream>
#include <string>
#include <system_error>

#include "core/error.h"

namespace a48 {
namespace fs = std::filesystem;
namespace {

int64_t record_step(const nlohmann::json& record, const std::string& where) {
  check(record.is_object(), "{}: a metrics record must be a JSON object, got {}", where,
        record.type_name());
  const auto step = record.find("step");
  check(step != record.end() && step->is_number_integer(),
        "{}: a metrics record needs an integer \"step\"", where);
  return step->get<int64_t>();
}

// Lines of the file with whether each ended with '\n'.
std::vector<std::pair<std::string, bool>> read_lines(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), "cannot open metrics file {}", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  const std::string all = text.str();
  std::vector<std::pair<std::string, bool>> lines;
  std::size_t begin = 0;
  while (begin < all.size()) {
    const std::size_t end = all.find('\n', begin);
    if (end == std::string::npos) {
      lines.emplace_back(all.substr(begin), false);
      break;
    }
    lines.emplace_back(all.substr(begin, end - begin), true);
    begin = end + 1;
  }
  return lines;
}

}  // namespace

std::vector<nlohmann::json> read_metrics(const fs::path& path) {
  const auto lines = read_lines(path);
  std::vector<nlohmann::json> records;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto& [line, complete] = lines[i];
    if (line.empty()) continue;
    const std::string where = fmt::format("{} line {}", path.string(), i + 1);
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      if (!complete) break;  // torn by a crash mid-write: the record was never finished
      fail("{}: not valid JSON: {}", where, e.what());
    }
    record_step(record, where);
    records.push_back(std::move(record));
  }
  return records;
}

MetricsLog::MetricsLog(const fs::path& path, std::optional<int64_t> resume_step) : path_(path) {
  if (path.has_parent_path()) {
    std::error_code error;
    fs::create_directories(path.parent_path(), error);
    check(!error, "cannot create {}: {}", path.parent_path().string(), error.message());
  }
  if (resume_step && fs::exists(path)) {
    // Rewrite the kept records through a temp file: a crash here leaves the old file whole.
    const fs::path temp = path.string() + ".tmp";
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      check(out.good(), "cannot create {}", temp.string());
      for (const nlohmann::json& record : read_metrics(path)) {
        if (record_step(record, path.string()) <= *resume_step) out << record.dump() << '\n';
      }
      out.close();
      check(out.good(), "cannot write {}", temp.string());
    }
    std::error_code error;
    fs::rename(temp, path, error);
    check(!error, "cannot rename {} to {}: {}", temp.string(), path.string(), error.message());
    out_.open(path, std::ios::binary | std::ios::app);
  } else {
    out_.open(path, std::ios::binary | std::ios::trunc);
  }
  check(out_.good(), "cannot open metrics file {} for writing", path.string());
}

void MetricsLog::write(const nlohmann::json& record) {
  record_step(record, path_.string());
  // Records hold strings the trainer made (scheme names); replace rather than throw on bad UTF-8.
  out_ << record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  out_.flush();
  check(out_.good(), "cannot write metrics file {} (disk full?)", path_.string());
}

}  // namespace a48
