#include "core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

namespace a48 {

ProgressBar::ProgressBar(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)),
      total_(std::max<int64_t>(total, 1)),
      enabled_(enabled),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void ProgressBar::update(int64_t done, const std::string& extra) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw(done, extra);
}

void ProgressBar::finish(const std::string& extra) {
  draw(total_, extra);
  if (enabled_) std::fputc('\n', stderr);
}

void ProgressBar::draw(int64_t done, const std::string& extra) {
  if (!enabled_) return;
  constexpr int kWidth = 30;
  const double fraction = std::clamp(static_cast<double>(done) / static_cast<double>(total_), 0.0, 1.0);
  const int filled = static_cast<int>(fraction * kWidth);
  const double elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double eta_s = fraction > 0 ? elapsed_s * (1 - fraction) / fraction : 0;
  const std::string bar = std::string(filled, '#') + std::string(kWidth - filled, '.');
  // Carriage return redraws in place on a terminal; elsewhere each draw is its own line.
  const char* end = isatty(STDERR_FILENO) ? "\r" : "\n";
  fmt::print(stderr, "{} [{}] {:5.1f}% {}/{} {:.0f}s eta {:.0f}s {}{}", label_, bar, 100 * fraction,
             done, total_, elapsed_s, eta_s, extra, end);
  std::fflush(stderr);
}

}  // namespace a48
