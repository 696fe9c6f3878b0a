// Microbenchmarks of the CPU packed ternary kernels (src/cpu) on the BitNet b1.58 2B4T shapes, per
// kernel, ISA and thread count, against this machine's measured read bandwidth.
//
// Decode streams every weight from DRAM once per token (the model is far larger than the caches),
// so each benchmark cycles through copies of its packed matrix spanning kFleetBytes, and reports:
//   bytes_per_second  packed weight bytes actually read (skipped rows/columns not counted)
//   bw_frac           that rate over BM_ReadBandwidth's rate at the same thread count
// GEMM (prefill) benchmarks also report tokens/s and dense-equivalent multiply-adds per second.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "cpu/bitlinear.h"
#include "cpu/dispatch.h"
#include "cpu/read_bandwidth.h"

namespace a48 {
namespace {

constexpr std::size_t kFleetBytes = std::size_t{512} << 20;  // > 2x the 260 MB L3 lscpu reports

cpu::ThreadPool* pool(int threads) {
  static std::map<int, std::unique_ptr<cpu::ThreadPool>> pools;
  auto& p = pools[threads];
  if (!p) p = std::make_unique<cpu::ThreadPool>(threads);
  return p.get();
}

// ---- read bandwidth ------------------------------------------------------------------------

// The whole buffer read once by `threads` threads (contiguous parts) with one ISA's stream kernel.
struct ReadBuffer {
  cpu::AlignedBuffer bytes;
  explicit ReadBuffer(std::size_t n) : bytes(n) {
    for (std::size_t i = 0; i < n; i += 4096) bytes.data()[i] = 1;  // fault every page in
  }
  uint64_t read(int threads, const cpu::KernelTable& k) const {
    std::vector<uint64_t> partial(static_cast<std::size_t>(threads));
    const auto part =
        static_cast<int64_t>(bytes.size() / static_cast<std::size_t>(threads) / 64 * 64);
    pool(threads)->run(threads, [&](int64_t t) {
      partial[static_cast<std::size_t>(t)] = k.stream(bytes.data() + t * part, part);
    });
    uint64_t s = 0;
    for (uint64_t v : partial) s += v;
    return s;
  }
};

// The machine's read bandwidth at a thread count, the denominator of every bw_frac: the best of
// 5 full passes over kFleetBytes with the widest loads this CPU has.
double measured_read_bandwidth(int threads) {
  static std::map<int, double> cache;
  if (auto it = cache.find(threads); it != cache.end()) return it->second;
  return cache[threads] = cpu::measure_read_bandwidth(threads, static_cast<int64_t>(kFleetBytes));
}

void read_bandwidth(benchmark::State& state, cpu::Isa isa, std::size_t mib, int threads) {
  const ReadBuffer buffer(mib << 20);
  for (auto _ : state) benchmark::DoNotOptimize(buffer.read(threads, cpu::kernels(isa)));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(buffer.bytes.size()));
}

const bool bandwidth_registered = [] {
  for (cpu::Isa isa : cpu::supported_isas()) {
    for (int threads : {1, 2}) {
      for (std::size_t mib : {1, 16, 128, 512, 1024}) {
        const std::string name =
            fmt::format("BM_ReadBandwidth/{}/MiB:{}/threads:{}", cpu::to_string(isa), mib, threads);
        benchmark::RegisterBenchmark(name.c_str(), [isa, mib, threads](benchmark::State& state) {
          read_bandwidth(state, isa, mib, threads);
        })->UseRealTime();
      }
    }
  }
  return true;
}();

// ---- kernels -------------------------------------------------------------------------------

LinearWeights random_ternary(int64_t n_out, int64_t n_in, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> code(-1, 1);
  LinearWeights w;
  w.n_out = n_out;
  w.n_in = n_in;
  w.ternary.resize(static_cast<std::size_t>(n_out * n_in));
  for (int8_t& t : w.ternary) t = static_cast<int8_t>(code(rng));
  w.scale = 0.4f;
  return w;
}

// Copies of one packed matrix spanning kFleetBytes, so that every call reads from DRAM.
const std::vector<cpu::PackedLinear>& fleet(int64_t n_out, int64_t n_in, cpu::PackOrder order) {
  static std::map<std::tuple<int64_t, int64_t, int>, std::vector<cpu::PackedLinear>> fleets;
  auto& f = fleets[{n_out, n_in, static_cast<int>(order)}];
  if (!f.empty()) return f;
  const cpu::PackedLinear first = cpu::pack_linear(random_ternary(n_out, n_in, 1), order);
  const auto copies =
      std::max<std::size_t>(1, kFleetBytes / static_cast<std::size_t>(first.bytes()));
  for (std::size_t c = 0; c < copies; ++c) {
    cpu::PackedLinear p;
    p.order = first.order;
    p.n_out = first.n_out;
    p.n_in = first.n_in;
    p.scale = first.scale;
    p.n_lines = first.n_lines;
    p.strips_per_line = first.strips_per_line;
    p.data.resize(first.data.size());
    std::memcpy(p.data.data(), first.data.data(), first.data.size());
    f.push_back(std::move(p));
  }
  return f;
}

// Codes with the given share of zeros, the rest uniform in [lo, hi] \ {0}.
std::vector<int8_t> codes(int64_t n, double zero_fraction, int lo, int hi, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution zero(zero_fraction);
  std::uniform_int_distribution<int> value(lo, hi);
  std::vector<int8_t> q(static_cast<std::size_t>(n));
  for (int8_t& v : q) {
    int x = 0;
    while (!zero(rng) && x == 0) x = value(rng);
    v = static_cast<int8_t>(x);
  }
  return q;
}

struct Case {
  const char* kernel;  // what the path exercises
  const char* matrix;  // which 2B4T projection has this shape
  int64_t n_out, n_in;
  cpu::PackOrder order;
  double input_zeros;  // share of zero activations
  int lo, hi;          // activation code range (INT4 or INT8)
  double rows_kept;    // row mask: share of rows computed (1: no mask)
  int64_t n_tokens;    // 1: decode GEMV; more: prefill GEMM
};

void run_case(benchmark::State& state, const Case& c, cpu::Isa isa, int threads) {
  const auto& copies = fleet(c.n_out, c.n_in, c.order);
  const auto q = codes(c.n_in * c.n_tokens, c.input_zeros, c.lo, c.hi, 2);
  std::vector<float> steps(static_cast<std::size_t>(c.n_tokens), 0.05f);
  std::vector<float> mask;
  if (c.rows_kept < 1.0) {
    std::mt19937_64 rng(3);
    std::bernoulli_distribution keep(c.rows_kept);
    for (int64_t i = 0; i < c.n_out * c.n_tokens; ++i) mask.push_back(keep(rng) ? 1.0f : 0.0f);
  }
  std::vector<float> y(static_cast<std::size_t>(c.n_out * c.n_tokens));
  const cpu::KernelTable* table = &cpu::kernels(isa);
  // Bytes one call reads: for GEMM, each strip once per call (token tiles re-read it from cache).
  int64_t bytes = 0;
  if (c.n_tokens == 1) {
    bytes = cpu::bitlinear_weight_bytes(copies[0], q, mask);
  } else if (c.order == cpu::PackOrder::rows) {
    bytes = copies[0].bytes();
  } else {
    std::vector<int8_t> any(static_cast<std::size_t>(c.n_in), 0);
    for (int64_t i = 0; i < c.n_in * c.n_tokens; ++i) any[i % c.n_in] |= q[i] != 0;
    bytes = cpu::bitlinear_weight_bytes(copies[0], any);
  }
  std::size_t next = 0;
  for (auto _ : state) {
    cpu::bitlinear_tokens(copies[next], c.n_tokens, q, steps, y, mask, pool(threads), table);
    benchmark::DoNotOptimize(y.data());
    next = next + 1 == copies.size() ? 0 : next + 1;
  }
  const auto iterations = static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(iterations) * bytes);
  state.counters["bw_frac"] =
      benchmark::Counter(iterations * static_cast<double>(bytes) / measured_read_bandwidth(threads),
                         benchmark::Counter::kIsRate);
  if (c.n_tokens > 1) {
    state.counters["tokens/s"] = benchmark::Counter(iterations * static_cast<double>(c.n_tokens),
                                                    benchmark::Counter::kIsRate);
    state.counters["GMAC/s"] =
        benchmark::Counter(iterations * 1e-9 * static_cast<double>(c.n_out * c.n_in * c.n_tokens),
                           benchmark::Counter::kIsRate);
  }
}

const bool registered = [] {
  using cpu::PackOrder;
  static const Case cases[] = {
      {"gemv_rows", "q_proj", 2560, 2560, PackOrder::rows, 0.0, -8, 7, 1.0, 1},
      {"gemv_rows", "gate_proj", 6912, 2560, PackOrder::rows, 0.0, -8, 7, 1.0, 1},
      {"gemv_rows_masked15%", "up_proj", 6912, 2560, PackOrder::rows, 0.0, -8, 7, 0.15, 1},
      {"gemv_cols_sparse85%", "down_proj", 2560, 6912, PackOrder::columns, 0.85, -128, 127, 1.0, 1},
      {"gemv_cols_sparse50%", "o_proj", 2560, 2560, PackOrder::columns, 0.5, -128, 127, 1.0, 1},
      {"gemv_cols_dense", "down_proj", 2560, 6912, PackOrder::columns, 0.0, -128, 127, 1.0, 1},
      {"gemv_rows", "down_proj", 2560, 6912, PackOrder::rows, 0.85, -128, 127, 1.0, 1},
      {"gemm_rows_64tok", "gate_proj", 6912, 2560, PackOrder::rows, 0.0, -8, 7, 1.0, 64},
      {"gemm_cols_64tok_sparse85%", "down_proj", 2560, 6912, PackOrder::columns, 0.85, -128, 127,
       1.0, 64},
  };
  for (const Case& c : cases) {
    for (cpu::Isa isa : cpu::supported_isas()) {
      if (isa == cpu::Isa::scalar && c.n_tokens > 1) continue;  // seconds per call
      for (int threads : {1, 2}) {
        const std::string name = fmt::format("BM_Cpu/{}/{}/{}x{}/{}/threads:{}", c.kernel, c.matrix,
                                             c.n_out, c.n_in, cpu::to_string(isa), threads);
        benchmark::RegisterBenchmark(
            name.c_str(),
            [&c, isa, threads](benchmark::State& state) { run_case(state, c, isa, threads); })
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
  return true;
}();

}  // namespace
}  // namespace a48
