// GLU epilogue, forward and backward: elementwise, one thread per (token, channel).
#include "cuda/train/glu.cuh"

#include "cuda/common/check.h"
#include "cuda/common/reduce.cuh"

namespace a48::cuda {

namespace {

constexpr int kThreads = 256;

__device__ float activate(float g, bool relu2) {
  if (relu2) {
    const float r = g > 0.0f ? g : 0.0f;
    return r * r;
  }
  return g / (1.0f + expf(-g));  // silu, as ref::silu
}

__global__ void glu_forward_kernel(float* __restrict__ gate_up, const float* __restrict__ step,
                                   const float* __restrict__ alpha, int64_t n_tokens, int64_t ffn,
                                   bool relu2, float* __restrict__ glu) {
  const int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= n_tokens * ffn) return;
  const int64_t n = index / ffn, i = index % ffn;
  float* row = gate_up + n * 2 * ffn;
  const double s = static_cast<double>(step[n]);
  const float gate = static_cast<float>(static_cast<double>(alpha[0]) * s * static_cast<double>(row[i]));
  const float up =
      static_cast<float>(static_cast<double>(alpha[1]) * s * static_cast<double>(row[ffn + i]));
  row[i] = gate;
  row[ffn + i] = up;
  glu[index] = activate(gate, relu2) * up;  // act(gate) rounded to fp32, then times up
}

__global__ void glu_backward_kernel(const float* __restrict__ gate_up, const float* __restrict__ dglu,
                                    int64_t n_tokens, int64_t ffn, bool relu2,
                                    float* __restrict__ d_gate_up) {
  const int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= n_tokens * ffn) return;
  const int64_t n = index / ffn, i = index % ffn;
  const double g = gate_up[n * 2 * ffn + i], up = gate_up[n * 2 * ffn + ffn + i];
  const double dout = dglu[index];
  double d_gate, d_up;
  if (relu2) {
    const double r = g > 0.0 ? g : 0.0;
    d_up = dout * r * r;
    d_gate = dout * up * 2.0 * r;
  } else {
    const double sigmoid = 1.0 / (1.0 + exp(-g));
    d_up = dout * g * sigmoid;
    d_gate = dout * up * sigmoid * (1.0 + g * (1.0 - sigmoid));
  }
  d_gate_up[n * 2 * ffn + i] = static_cast<float>(d_gate);
  d_gate_up[n * 2 * ffn + ffn + i] = static_cast<float>(d_up);
}

// One block per token.
__global__ void count_active_gates_kernel(const float* __restrict__ gate_up, int64_t ffn,
                                          bool relu2, int* __restrict__ counts) {
  __shared__ int scratch[32];
  const float* gate = gate_up + static_cast<int64_t>(blockIdx.x) * 2 * ffn;
  int count = 0;
  for (int64_t i = threadIdx.x; i < ffn; i += blockDim.x) count += activate(gate[i], relu2) != 0.0f;
  count = block_sum(count, scratch);
  if (threadIdx.x == 0) counts[blockIdx.x] = count;
}

unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

void check_shape(const char* who, int64_t n_tokens, int64_t ffn) {
  check(n_tokens >= 0 && n_tokens <= 0x7fffffff && ffn > 0, "{}: bad shape [{}, {}]", who, n_tokens,
        ffn);
}

}  // namespace

void glu_forward(float* gate_up, const float* step, const float* alpha, int64_t n_tokens,
                 int64_t ffn, HiddenActivation act, float* glu, cudaStream_t stream) {
  check_shape("glu_forward", n_tokens, ffn);
  if (n_tokens == 0) return;
  glu_forward_kernel<<<blocks_for(n_tokens * ffn), kThreads, 0, stream>>>(
      gate_up, step, alpha, n_tokens, ffn, act == HiddenActivation::relu2, glu);
  CUDA_CHECK_LAUNCH();
}

void glu_backward(const float* gate_up, const float* dglu, int64_t n_tokens, int64_t ffn,
                  HiddenActivation act, float* d_gate_up, cudaStream_t stream) {
  check_shape("glu_backward", n_tokens, ffn);
  if (n_tokens == 0) return;
  glu_backward_kernel<<<blocks_for(n_tokens * ffn), kThreads, 0, stream>>>(
      gate_up, dglu, n_tokens, ffn, act == HiddenActivation::relu2, d_gate_up);
  CUDA_CHECK_LAUNCH();
}

void count_active_gates(const float* gate_up, int64_t n_tokens, int64_t ffn, HiddenActivation act,
                        int* counts, cudaStream_t stream) {
  check_shape("count_active_gates", n_tokens, ffn);
  if (n_tokens == 0) return;
  count_active_gates_kernel<<<static_cast<unsigned>(n_tokens), kThreads, 0, stream>>>(
      gate_up, ffn, act == HiddenActivation::relu2, counts);
  CUDA_CHECK_LAUNCH();
}

}  // namespace a48::cuda
