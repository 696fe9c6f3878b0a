// The GLU's gate activation as the inference kernels apply it (device code; .cu files only):
// the same float operations as ref::relu2 / ref::silu, so masks and products match the reference.
#pragma once

namespace a48::cuda {

// act: 0 = ReLU^2, 1 = SiLU.
__device__ inline float activate_gate(float g, int act) {
  if (act == 0) {
    const float r = g > 0.0f ? g : 0.0f;
    return __fmul_rn(r, r);
  }
  return __fdiv_rn(g, __fadd_rn(1.0f, expf(-g)));  // expf may differ from glibc by an ulp
}

__device__ inline bool activated_nonzero(float g, int act) { return activate_gate(g, act) != 0.0f; }

}  // namespace a48::cuda
