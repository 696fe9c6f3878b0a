#include "cpu/bitlinear.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "cpu/dispatch.h"

namespace a48::cpu {

namespace {

constexpr int64_t kRowsPerTask = 64;  // rows order: a task is this many rows of the row list

// Per calling thread, reused across calls so that a decode step allocates nothing.
struct Scratch {
  AlignedBuffer q_padded;       // [n_tokens, strips * 256] rows order
  std::vector<int32_t> rows;    // rows order: the rows to compute
  std::vector<int32_t> sums;    // [n_tokens, sums_stride] raw kernel sums
  std::vector<int32_t> q_sums;  // [n_tokens] sum_i q_i
  // Columns order, per tile of up to kColsMaxTokens tokens.
  struct Tile {
    int64_t t0, n_tokens;
    int64_t cols_begin, n_groups;  // into cols (4 per group) / q4 (n_tokens per group)
    int64_t q4_begin;
    int64_t strips_begin, n_strips;
  };
  std::vector<Tile> tiles;
  std::vector<int32_t> cols;
  std::vector<uint32_t> q4;
  std::vector<int32_t> strips;
  struct Task {
    int32_t tile, first_strip, n_strips;  // strips [first, first + n) of the tile's strip list
  };
  std::vector<Task> tasks;
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

bool row_unmasked(std::span<const float> row_mask, int64_t n_out, int64_t t, int64_t o) {
  return row_mask.empty() || row_mask[static_cast<std::size_t>(t * n_out + o)] != 0.0f;
}

// Rows unmasked for at least one of the tokens.
void list_rows(const PackedLinear& w, int64_t n_tokens, std::span<const float> row_mask,
               std::vector<int32_t>& rows) {
  if (row_mask.empty()) {
    rows.resize(static_cast<std::size_t>(w.n_out));
    std::iota(rows.begin(), rows.end(), 0);
    return;
  }
  rows.clear();
  for (int64_t o = 0; o < w.n_out; ++o) {
    bool any = false;
    for (int64_t t = 0; t < n_tokens && !any; ++t) any = row_unmasked(row_mask, w.n_out, t, o);
    if (any) rows.push_back(static_cast<int32_t>(o));
  }
}

// Strips (256 output rows) with an unmasked row for one of tokens [t0, t0 + n).
void list_strips(const PackedLinear& w, int64_t t0, int64_t n, std::span<const float> row_mask,
                 std::vector<int32_t>& strips) {
  for (int64_t s = 0; s < w.strips_per_line; ++s) {
    bool any = false;
    const int64_t end = std::min(w.n_out, (s + 1) * kStripCodes);
    for (int64_t o = s * kStripCodes; o < end && !any; ++o) {
      for (int64_t t = t0; t < t0 + n && !any; ++t) any = row_unmasked(row_mask, w.n_out, t, o);
    }
    if (any) strips.push_back(static_cast<int32_t>(s));
  }
}

// Input columns with a non-zero q for one of tokens [t0, t0 + n), padded to a multiple of 4 with
// the last of them (q = 0 there), and their codes packed 4 to a word per token.
void list_columns(const PackedLinear& w, std::span<const int8_t> q, int64_t t0, int64_t n,
                  const KernelTable& k, std::vector<int32_t>& cols, std::vector<uint32_t>& q4) {
  const std::size_t first = cols.size();
  cols.resize(first + static_cast<std::size_t>(w.n_in) + 64);  // the kernel's slack
  int32_t* out = cols.data() + first;
  int64_t count = 0;
  if (n == 1) {
    count = k.nonzero(q.data() + t0 * w.n_in, w.n_in, out);
  } else {
    for (int64_t i = 0; i < w.n_in; ++i) {  // branch-free, as nonzero_scalar
      bool any = false;
      for (int64_t t = t0; t < t0 + n; ++t) any |= q[t * w.n_in + i] != 0;
      out[count] = static_cast<int32_t>(i);
      count += any ? 1 : 0;
    }
  }
  cols.resize(first + static_cast<std::size_t>(count));
  const std::size_t n_real = cols.size() - first;
  while ((cols.size() - first) % 4 != 0) cols.push_back(cols.back());
  for (std::size_t c = first; c < cols.size(); c += 4) {
    for (int64_t t = t0; t < t0 + n; ++t) {
      uint32_t word = 0;
      for (std::size_t j = 0; j < 4; ++j) {
        if (c + j - first >= n_real) break;  // padding carries q = 0
        const auto code = static_cast<uint8_t>(q[t * w.n_in + cols[c + j]]);
        word |= static_cast<uint32_t>(code) << (8 * j);
      }
      q4.push_back(word);
    }
  }
}

void run_rows(const PackedLinear& w, int64_t n_tokens, std::span<const int8_t> q,
              std::span<const float> row_mask, ThreadPool* pool, const KernelTable& k, Scratch& s) {
  const int64_t q_stride = w.strips_per_line * kStripCodes;
  s.q_padded.reserve_zeroed(static_cast<std::size_t>(n_tokens * q_stride));
  auto* q_padded = reinterpret_cast<int8_t*>(s.q_padded.data());
  for (int64_t t = 0; t < n_tokens && w.n_in > 0; ++t) {
    std::memcpy(q_padded + t * q_stride, q.data() + t * w.n_in, static_cast<std::size_t>(w.n_in));
  }
  list_rows(w, n_tokens, row_mask, s.rows);
  RowsKernelArgs args;
  args.weights = w.data.data();
  args.strips_per_line = w.strips_per_line;
  args.q = q_padded;
  args.q_stride = q_stride;
  args.n_tokens = n_tokens;
  args.sums = s.sums.data();
  args.sums_stride = w.n_out;
  const auto n_rows = static_cast<int64_t>(s.rows.size());
  auto task = [&](int64_t i) {
    RowsKernelArgs a = args;
    a.rows = s.rows.data() + i * kRowsPerTask;
    a.n_rows = std::min(kRowsPerTask, n_rows - i * kRowsPerTask);
    k.rows(a);
  };
  const int64_t n_tasks = (n_rows + kRowsPerTask - 1) / kRowsPerTask;
  if (pool != nullptr) {
    pool->run(n_tasks, task);
  } else {
    for (int64_t i = 0; i < n_tasks; ++i) task(i);
  }
}

void run_columns(const PackedLinear& w, int64_t n_tokens, std::span<const int8_t> q,
                 std::span<const float> row_mask, ThreadPool* pool, const KernelTable& k,
                 Scratch& s) {
  s.tiles.clear();
  s.cols.clear();
  s.q4.clear();
  s.strips.clear();
  s.tasks.clear();
  const int64_t threads = pool != nullptr ? pool->size() : 1;
  for (int64_t t0 = 0; t0 < n_tokens; t0 += kColsMaxTokens) {
    Scratch::Tile tile;
    tile.t0 = t0;
    tile.n_tokens = std::min(kColsMaxTokens, n_tokens - t0);
    tile.cols_begin = static_cast<int64_t>(s.cols.size());
    tile.q4_begin = static_cast<int64_t>(s.q4.size());
    list_columns(w, q, t0, tile.n_tokens, k, s.cols, s.q4);
    tile.n_groups = (static_cast<int64_t>(s.cols.size()) - tile.cols_begin) / 4;
    tile.strips_begin = static_cast<int64_t>(s.strips.size());
    list_strips(w, t0, tile.n_tokens, row_mask, s.strips);
    tile.n_strips = static_cast<int64_t>(s.strips.size()) - tile.strips_begin;
    // One token: a task per thread, each a run of strips, so that the kernel reads each non-zero
    // column's share as one contiguous run. Prefill tiles: a task per strip (the strips are
    // re-read from cache by the tile's tokens anyway).
    const int64_t per_task = n_tokens == 1 ? (tile.n_strips + threads - 1) / threads : 1;
    for (int64_t i = 0; i < tile.n_strips; i += per_task) {
      s.tasks.push_back({static_cast<int32_t>(s.tiles.size()), static_cast<int32_t>(i),
                         static_cast<int32_t>(std::min(per_task, tile.n_strips - i))});
    }
    s.tiles.push_back(tile);
  }
  const int64_t sums_stride = w.strips_per_line * kStripCodes;
  auto task = [&](int64_t i) {
    const Scratch::Task& job = s.tasks[static_cast<std::size_t>(i)];
    const Scratch::Tile& tile = s.tiles[static_cast<std::size_t>(job.tile)];
    ColsKernelArgs a;
    a.weights = w.data.data();
    a.strips_per_line = w.strips_per_line;
    a.cols = s.cols.data() + tile.cols_begin;
    a.q4 = s.q4.data() + tile.q4_begin;
    a.n_groups = tile.n_groups;
    a.n_tokens = tile.n_tokens;
    a.strips = s.strips.data() + tile.strips_begin + job.first_strip;
    a.n_strips = job.n_strips;
    a.sums = s.sums.data() + tile.t0 * sums_stride;
    a.sums_stride = sums_stride;
    k.cols(a);
  };
  const auto n_tasks = static_cast<int64_t>(s.tasks.size());
  if (pool != nullptr) {
    pool->run(n_tasks, task);
  } else {
    for (int64_t i = 0; i < n_tasks; ++i) task(i);
  }
}

void check_packed(const PackedLinear& w, const char* who) {
  check(w.version == kPackedTernaryVersion, "{}: packed format version {}, expected {}", who,
        w.version, kPackedTernaryVersion);
  check(w.order == PackOrder::rows || w.order == PackOrder::columns, "{}: unknown order {}", who,
        static_cast<int>(w.order));
  check(static_cast<int64_t>(w.data.size()) == w.bytes() &&
            w.n_lines == (w.order == PackOrder::rows ? w.n_out : w.n_in),
        "{}: packed weights [{}, {}] hold {} bytes in {} lines, expected {} ({} order)", who,
        w.n_out, w.n_in, w.data.size(), w.n_lines, w.bytes(), to_string(w.order));
}

}  // namespace

void bitlinear_tokens(const PackedLinear& w, int64_t n_tokens, std::span<const int8_t> q,
                      std::span<const float> steps, std::span<float> y,
                      std::span<const float> row_mask, ThreadPool* pool,
                      const KernelTable* kernels) {
  check_packed(w, "cpu::bitlinear");
  check(n_tokens >= 0, "cpu::bitlinear: {} tokens", n_tokens);
  check(static_cast<int64_t>(q.size()) == n_tokens * w.n_in,
        "cpu::bitlinear: input has {} values, expected [{}, {}]", q.size(), n_tokens, w.n_in);
  check(static_cast<int64_t>(steps.size()) == n_tokens, "cpu::bitlinear: {} steps for {} tokens",
        steps.size(), n_tokens);
  check(static_cast<int64_t>(y.size()) == n_tokens * w.n_out,
        "cpu::bitlinear: output has {} values, expected [{}, {}]", y.size(), n_tokens, w.n_out);
  check(row_mask.empty() || row_mask.size() == y.size(),
        "cpu::bitlinear: row mask has {} values, expected [{}, {}]", row_mask.size(), n_tokens,
        w.n_out);
  if (n_tokens == 0 || w.n_out == 0) return;
  const KernelTable& k = kernels != nullptr ? *kernels : active_kernels();
  Scratch& s = scratch();

  s.q_sums.assign(static_cast<std::size_t>(n_tokens), 0);
  for (int64_t t = 0; t < n_tokens; ++t) {
    int32_t sum = 0;  // |sum| <= 128 * 2^20
    const int8_t* q_t = q.data() + t * w.n_in;
    for (int64_t i = 0; i < w.n_in; ++i) sum += q_t[i];
    s.q_sums[t] = sum;
  }
  const int64_t sums_stride =
      w.order == PackOrder::rows ? w.n_out : w.strips_per_line * kStripCodes;
  s.sums.resize(static_cast<std::size_t>(n_tokens * sums_stride));
  if (w.order == PackOrder::rows) {
    run_rows(w, n_tokens, q, row_mask, pool, k, s);
  } else {
    run_columns(w, n_tokens, q, row_mask, pool, k, s);
  }
  // The kernels summed (t + 1) q; sum t q = that - sum q. Then ref::bitlinear_row's rescale,
  // double(alpha) * double(step) * sum: the first product is exact (24-bit mantissas), so hoisting
  // it changes nothing, and the loop vectorizes.
  for (int64_t t = 0; t < n_tokens; ++t) {
    const double alpha_step = static_cast<double>(w.scale) * static_cast<double>(steps[t]);
    const int32_t* sums = s.sums.data() + t * sums_stride;
    const int32_t q_sum = s.q_sums[t];
    float* y_t = y.data() + t * w.n_out;
    for (int64_t o = 0; o < w.n_out; ++o) {
      y_t[o] = static_cast<float>(alpha_step * static_cast<double>(sums[o] - q_sum));
    }
    if (!row_mask.empty()) {
      const float* m_t = row_mask.data() + t * w.n_out;
      for (int64_t o = 0; o < w.n_out; ++o) y_t[o] = m_t[o] != 0.0f ? y_t[o] : 0.0f;
    }
  }
}

void bitlinear(const PackedLinear& w, std::span<const int8_t> q, float step, std::span<float> y,
               std::span<const float> row_mask, ThreadPool* pool, const KernelTable* kernels) {
  bitlinear_tokens(w, 1, q, {&step, 1}, y, row_mask, pool, kernels);
}

int64_t bitlinear_weight_bytes(const PackedLinear& w, std::span<const int8_t> q,
                               std::span<const float> row_mask) {
  check_packed(w, "bitlinear_weight_bytes");
  check(static_cast<int64_t>(q.size()) == w.n_in &&
            (row_mask.empty() || static_cast<int64_t>(row_mask.size()) == w.n_out),
        "bitlinear_weight_bytes: input has {} values and mask {}, expected {} and {}", q.size(),
        row_mask.size(), w.n_in, w.n_out);
  std::vector<int32_t> list;
  if (w.order == PackOrder::rows) {
    list_rows(w, 1, row_mask, list);
    return static_cast<int64_t>(list.size()) * w.line_bytes();
  }
  list_strips(w, 0, 1, row_mask, list);
  const auto nonzero =
      static_cast<int64_t>(std::count_if(q.begin(), q.end(), [](int8_t v) { return v != 0; }));
  return nonzero * static_cast<int64_t>(list.size()) * kStripBytes;
}

}  // namespace a48::cpu
