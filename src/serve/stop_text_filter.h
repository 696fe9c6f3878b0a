// The text a client sees of a generation: whole UTF-8 characters, cut before the first stop
// string. Text that could still grow into a stop string is held back until it cannot, so that a
// stream never sends characters that a later stop would have removed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace a48::serve {

class StopTextFilter {
 public:
  explicit StopTextFilter(std::vector<std::string> stops);
  // Appends decoded text (whole characters); true when a stop string completed, after which
  // text() ends where the stop string began and further input is ignored.
  bool push(std::string_view piece);
  void finish();  // the end of generation: releases the held-back tail
  const std::string& text() const { return committed_; }  // append-only; safe to send
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::size_t holdback_bytes_ = 0;  // longest stop - 1: the most of a stop that can be pending
  std::string committed_, pending_;
  bool stopped_ = false;
};

}  // namespace a48::serve
