// Programmatic dependent launch for the inference kernels (device and host code; .cu files only).
//
// Decode at batch 1 is a chain of ~10 small kernels per layer, each of which would otherwise start
// only after the previous one has drained and the launch has gone through (~1.5-2 us each, even
// from a CUDA graph). Launched with the programmatic-serialization attribute, a kernel's blocks
// may be scheduled while the previous kernel still runs; every kernel here calls pdl_wait()
// before it touches global memory (it returns once the previous grid has completed and its
// writes are visible), so the results are those of plain stream order, and pdl_release() lets
// the next kernel start early. A48_CUDA_PDL=0 launches plainly (for comparison).
#pragma once

#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <utility>

#include "cuda/common/check.h"

namespace a48::cuda {

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_release() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Read at every launch (a getenv, cheap beside a launch), so a benchmark can compare both.
inline bool pdl_enabled() {
  const char* v = std::getenv("A48_CUDA_PDL");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

// kernel<<<grid, block, smem, stream>>>(args...), with the programmatic-serialization attribute
// when pdl_enabled(); checks the launch.
template <class... Params, class... Args>
void launch_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t smem, cudaStream_t stream,
                Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  cudaLaunchAttribute attribute[1];
  attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute[0].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attribute;
  config.numAttrs = pdl_enabled() ? 1 : 0;
  CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
}

}  // namespace a48::cuda
