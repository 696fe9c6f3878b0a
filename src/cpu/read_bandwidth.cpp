#include "cpu/read_bandwidth.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>

#include "core/error.h"
#include "cpu/aligned_buffer.h"
#include "cpu/dispatch.h"
#include "cpu/thread_pool.h"

namespace a48::cpu {

double measure_read_bandwidth(int threads, int64_t bytes, int passes) {
  check(threads >= 1 && passes >= 1 && bytes >= 64 * threads,
        "read bandwidth: bad arguments (threads {}, bytes {}, passes {})", threads, bytes, passes);
  AlignedBuffer buffer(static_cast<std::size_t>(bytes));
  for (int64_t i = 0; i < bytes; i += 4096) buffer.data()[i] = 1;  // fault every page in
  ThreadPool pool(threads);
  const KernelTable& k = active_kernels();
  const int64_t part = bytes / threads / 64 * 64;
  std::vector<uint64_t> partial(static_cast<std::size_t>(threads));
  std::atomic<uint64_t> sink{0};
  double best = 0;
  for (int pass = 0; pass < passes; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.run(threads, [&](int64_t t) {
      partial[static_cast<std::size_t>(t)] = k.stream(buffer.data() + t * part, part);
    });
    const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    for (uint64_t v : partial) sink.fetch_add(v, std::memory_order_relaxed);  // keep the reads
    best = std::max(best, static_cast<double>(part * threads) / dt.count());
  }
  return best;
}

}  // namespace a48::cpu
