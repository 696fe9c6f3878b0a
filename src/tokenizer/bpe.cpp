// BPE merging as HF tokenizers' Word::merge_all and tiktoken's _byte_pair_merge do it: the
// lowest-rank adjacent pair merges first, the leftmost one on ties; a heap keeps long pieces
// O(n log n) instead of the naive rescan's O(n^2).
#include "tokenizer/bpe.h"

#include <algorithm>

#include "core/error.h"

namespace a48 {

void BpeModel::add_token(std::string bytes, int32_t id) {
  if (bytes.size() == 1) byte_ids_[static_cast<unsigned char>(bytes[0])] = id;
  vocab_.insert_or_assign(std::move(bytes), id);
}

void BpeModel::add_merge(int32_t left, int32_t right, int32_t rank, int32_t merged) {
  merges_.insert_or_assign(pair_key(left, right), Merge{rank, merged});
}

std::optional<int32_t> BpeModel::find(std::string_view bytes) const {
  const auto it = vocab_.find(bytes);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const BpeModel::Merge* BpeModel::find_merge(int32_t left, int32_t right) const {
  const auto it = merges_.find(pair_key(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeModel::encode(std::string_view piece, std::vector<int32_t>& out, Scratch& scratch) const {
  if (piece.empty()) return;
  if (ignore_merges_ || piece.size() == 1) {
    if (const auto id = find(piece)) {
      out.push_back(*id);
      return;
    }
  }
  // Short pieces are words and repeat; long ones (runs of spaces, digits) rarely do.
  constexpr std::size_t kMaxCachedBytes = 32, kMaxCacheEntries = 1 << 16;
  const bool cacheable = piece.size() <= kMaxCachedBytes;
  if (cacheable) {
    if (const auto it = scratch.cache.find(piece); it != scratch.cache.end()) {
      const auto [offset, count] = it->second;
      out.insert(out.end(), scratch.cached_ids.begin() + offset,
                 scratch.cached_ids.begin() + offset + count);
      return;
    }
  }
  const std::size_t first = out.size();
  merge(piece, out, scratch);
  if (cacheable && scratch.cache.size() < kMaxCacheEntries) {
    const auto offset = static_cast<uint32_t>(scratch.cached_ids.size());
    scratch.cached_ids.insert(scratch.cached_ids.end(),
                              out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
    scratch.cache.emplace(piece, std::pair{offset, static_cast<uint32_t>(out.size() - first)});
  }
}

void BpeModel::merge(std::string_view piece, std::vector<int32_t>& out, Scratch& scratch) const {
  using Symbol = Scratch::Symbol;
  using Candidate = Scratch::Candidate;
  // Symbols form a linked list over the starting positions; merging absorbs the right symbol.
  std::vector<Symbol>& symbols = scratch.symbols;
  symbols.clear();
  for (std::size_t i = 0; i < piece.size(); ++i) {
    const unsigned char byte = static_cast<unsigned char>(piece[i]);
    int32_t id = byte_ids_[byte];
    if (id < 0) {
      check(unk_id_.has_value(), "tokenizer: byte 0x{:02X} has no token and there is no unk_token",
            static_cast<unsigned>(byte));
      id = *unk_id_;
      if (fuse_unk_ && !symbols.empty() && symbols.back().id == id) continue;
    }
    const auto n = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, n - 1, -1});
    if (n > 0) symbols[n - 1].next = n;
  }

  // A min-heap on (rank, left index): the lowest rank merges first, the leftmost on ties. A
  // candidate is stale once either symbol changed; it records the ids it was made from.
  std::vector<Candidate>& heap = scratch.heap;
  heap.clear();
  const auto later = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
  };
  const auto push_pair = [&](int32_t left) {
    if (left < 0) return;
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    if (const Merge* m = find_merge(symbols[left].id, symbols[right].id)) {
      heap.push_back({m->rank, left, right, symbols[left].id, symbols[right].id, m->id});
      std::push_heap(heap.begin(), heap.end(), later);
    }
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push_pair(i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Candidate c = heap.back();
    heap.pop_back();
    Symbol& left = symbols[c.left];
    if (left.id != c.left_id || left.next != c.right || symbols[c.right].id != c.right_id)
      continue;  // stale: one side was merged since this candidate was made
    Symbol& right = symbols[c.right];
    left.id = c.merged;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    right.id = -1;  // dead
    push_pair(left.prev);
    push_pair(c.left);
  }

  for (int32_t i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

}  // namespace a48
