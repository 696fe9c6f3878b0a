#include "serve/stop_text_filter.h"

#include <algorithm>

namespace a48::serve {

StopTextFilter::StopTextFilter(std::vector<std::string> stops) : stops_(std::move(stops)) {
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
  for (const std::string& stop : stops_) holdback_bytes_ = std::max(holdback_bytes_, stop.size() - 1);
}

bool StopTextFilter::push(std::string_view piece) {
  if (stopped_) return true;
  pending_.append(piece);
  // Everything committed is at least holdback_bytes_ + 1 bytes before the end, so a stop string
  // can only lie wholly inside pending_.
  std::size_t first = std::string::npos;
  for (const std::string& stop : stops_) first = std::min(first, pending_.find(stop));
  if (first != std::string::npos) {
    committed_.append(pending_, 0, first);
    pending_.clear();
    stopped_ = true;
    return true;
  }
  std::size_t cut = pending_.size() - std::min(holdback_bytes_, pending_.size());
  // Never split a character: back up over UTF-8 continuation bytes.
  while (cut > 0 && cut < pending_.size() && (static_cast<unsigned char>(pending_[cut]) & 0xC0) == 0x80)
    --cut;
  committed_.append(pending_, 0, cut);
  pending_.erase(0, cut);
  return false;
}

void StopTextFilter::finish() {
  if (!stopped_) committed_.append(pending_);
  pending_.clear();
}

}  // namespace a48::serve
