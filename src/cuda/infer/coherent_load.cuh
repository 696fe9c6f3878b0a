// Loads of data that other blocks of the same kernel write (device code; .cu files only). Inside
// one persistent kernel (decode_layers.cu) a block reads what others wrote after a grid barrier;
// L1 is not coherent between SMs, so such reads go to L2 (ld.global.cg). Kernels that only read
// what earlier kernels wrote use plain loads (kCoherent = false).
#pragma once

namespace a48::cuda {

template <bool kCoherent, class T>
__device__ __forceinline__ T coherent_load(const T* p) {
  if constexpr (kCoherent) {
    return __ldcg(p);
  } else {
    return *p;
  }
}

}  // namespace a48::cuda
