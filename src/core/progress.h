// A one-line progress bar on stderr for long work (perplexity, conversion, training).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace a48 {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, bool enabled = true);
  // Redraws at most ~10 times a second; `extra` is appended (e.g. "ppl 12.3").
  void update(int64_t done, const std::string& extra = {});
  void finish(const std::string& extra = {});

 private:
  void draw(int64_t done, const std::string& extra);
  std::string label_;
  int64_t total_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace a48
