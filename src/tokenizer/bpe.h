// Byte-pair encoding of one pre-token: start from one symbol per byte, then merge the adjacent
// pair of lowest rank (leftmost on ties) until no pair has a merge. HF merges and tiktoken ranks
// are both loaded into this one table of (left id, right id) -> (rank, merged id).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace a48 {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class BpeModel {
 public:
  BpeModel() { byte_ids_.fill(-1); }

  void reserve(std::size_t n_tokens, std::size_t n_merges) {
    vocab_.reserve(n_tokens);
    merges_.reserve(n_merges);
  }
  // A model token by its raw bytes. Single bytes become the starting symbols.
  void add_token(std::string bytes, int32_t id);
  // Merge left+right into `merged` with priority `rank` (lower merges first). A repeated pair
  // takes the later rank, as HF tokenizers and GPT-2's encoder.py do.
  void add_merge(int32_t left, int32_t right, int32_t rank, int32_t merged);
  // HF ignore_merges (LLaMA-3; tiktoken's rule too): a whole piece that is a token maps directly.
  void set_ignore_merges(bool on) { ignore_merges_ = on; }
  // HF unk_token: stands for a byte with no token of its own (fuse: one unk per run of them).
  void set_unk(std::optional<int32_t> unk_id, bool fuse) { unk_id_ = unk_id, fuse_unk_ = fuse; }

  std::optional<int32_t> find(std::string_view bytes) const;
  std::size_t n_tokens() const { return vocab_.size(); }
  std::size_t n_merges() const { return merges_.size(); }

  // Working memory for encode(), reused across the pieces of one text: the symbol list, the
  // candidate heap, and a cache of short pieces already encoded (prose repeats its words).
  struct Scratch {
    struct Symbol {
      int32_t id;
      int32_t prev;  // index of the previous live symbol, -1 at the start
      int32_t next;  // index of the next live symbol, -1 at the end
    };
    struct Candidate {  // merging symbols[left] and symbols[right] (its next) into `merged`
      int32_t rank;
      int32_t left;
      int32_t right;
      int32_t left_id;
      int32_t right_id;
      int32_t merged;
    };
    std::vector<Symbol> symbols;
    std::vector<Candidate> heap;
    std::unordered_map<std::string, std::pair<uint32_t, uint32_t>, StringHash, std::equal_to<>>
        cache;  // piece -> (offset, count) in cached_ids
    std::vector<int32_t> cached_ids;
  };

  // Appends the ids of `piece` (raw bytes) to `out`. Throws a48::Error when a byte has no token
  // and there is no unk token.
  void encode(std::string_view piece, std::vector<int32_t>& out, Scratch& scratch) const;

 private:
  void merge(std::string_view piece, std::vector<int32_t>& out, Scratch& scratch) const;

  struct Merge {
    int32_t rank;
    int32_t id;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  const Merge* find_merge(int32_t left, int32_t right) const;

  StringIdMap vocab_;                           // raw bytes -> id
  std::array<int32_t, 256> byte_ids_;           // byte -> id of its single-byte token, or -1
  std::unordered_map<uint64_t, Merge> merges_;  // pair_key(left, right) -> merge
  bool ignore_merges_ = false;
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
};

}  // namespace a48
