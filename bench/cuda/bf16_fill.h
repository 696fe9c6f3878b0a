// Random bf16 values generated on the device for the bf16 baseline (bf16_baseline.cpp): a hash of
// each element's index, so that gigabytes of weights need no host memory or PCIe traffic.
// Host-only header: no CUDA types beyond the stream.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace a48::bench {

// p[i] = scale * u(seed, i) as bf16, u uniform in [-1, 1) from a SplitMix64 hash of (seed, i).
// `p` points to n bf16 values (2 bytes each) on the device.
void fill_bf16_hash(void* p, uint64_t n, uint64_t seed, float scale, cudaStream_t stream);

}  // namespace a48::bench
