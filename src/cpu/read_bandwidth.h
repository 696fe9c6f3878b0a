// The machine's memory read bandwidth, the roofline of a decode step: the best of `passes` full
// reads of a `bytes` buffer (far larger than the caches) by `threads` threads, each reading a
// contiguous part with the widest loads this CPU has (the dispatched stream kernel).
#pragma once

#include <cstdint>

namespace a48::cpu {

double measure_read_bandwidth(int threads, int64_t bytes = int64_t{512} << 20, int passes = 5);

}  // namespace a48::cpu
