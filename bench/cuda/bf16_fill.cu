// fill_bf16_hash: one grid-stride pass, one SplitMix64 hash per element (see bf16_fill.h).
#include <cuda_bf16.h>

#include <algorithm>

#include "bf16_fill.h"
#include "cuda/common/check.h"

namespace a48::bench {
namespace {

__device__ uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

__global__ void fill_kernel(__nv_bfloat16* p, uint64_t n, uint64_t seed, float scale) {
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  for (uint64_t i = static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const uint64_t h = splitmix64(seed * 0xD1B54A32D192ED03ull ^ i);
    const float u = static_cast<float>(h >> 40) * 0x1.0p-23f - 1.0f;  // 24 bits: [-1, 1)
    p[i] = __float2bfloat16(scale * u);
  }
}

}  // namespace

void fill_bf16_hash(void* p, uint64_t n, uint64_t seed, float scale, cudaStream_t stream) {
  if (n == 0) return;
  const uint64_t blocks = std::min<uint64_t>((n + 255) / 256, 65536);
  fill_kernel<<<static_cast<unsigned>(blocks), 256, 0, stream>>>(static_cast<__nv_bfloat16*>(p), n,
                                                                 seed, scale);
  CUDA_CHECK_LAUNCH();
}

}  // namespace a48::bench
