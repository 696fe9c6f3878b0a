// Opt-in to more than 48 KB of dynamic shared memory, once per kernel, device and size (host
// code). cudaFuncSetAttribute is not free at every launch: a prefill step launches ~200 kernels
// that need it, and setting it each time cost milliseconds per step on the H100.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <map>
#include <mutex>
#include <tuple>

#include "cuda/common/check.h"

namespace a48::cuda {

// Makes sure `kernel` may launch with `bytes` of dynamic shared memory on the current device
// (and, when max_carveout, prefers the largest shared-memory split of L1).
template <class Kernel>
void allow_dynamic_smem(Kernel* kernel, std::size_t bytes, bool max_carveout = false) {
  if (bytes <= 48 * 1024 && !max_carveout) return;
  static std::mutex mutex;
  static std::map<std::tuple<const void*, int, bool>, std::size_t> done;  // largest bytes set
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  const std::lock_guard<std::mutex> lock(mutex);
  std::size_t& set = done[{reinterpret_cast<const void*>(kernel), device, max_carveout}];
  if (set >= bytes && set != 0) return;
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
  if (max_carveout) {
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                    static_cast<int>(cudaSharedmemCarveoutMaxShared)));
  }
  set = bytes;
}

}  // namespace a48::cuda
