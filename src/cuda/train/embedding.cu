// Embedding gather and its deterministic scatter-add backward.
#include "cuda/train/embedding.cuh"

#include "cuda/common/check.h"

namespace a48::cuda {

namespace {

constexpr int kThreads = 256;

// grid (n_tokens, ceil(d / kThreads)): out[i, j] = table[tokens[i], j].
__global__ void embedding_forward_kernel(const float* __restrict__ table,
                                         const int32_t* __restrict__ tokens, int64_t d,
                                         float* __restrict__ out) {
  const int64_t j = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x;
  if (j >= d) return;
  out[static_cast<int64_t>(blockIdx.x) * d + j] = table[static_cast<int64_t>(tokens[blockIdx.x]) * d + j];
}

// grid (n_unique, ceil(d / kThreads)): one token's rows summed in position order.
__global__ void embedding_backward_kernel(const float* __restrict__ dout,
                                          const int32_t* __restrict__ unique,
                                          const int32_t* __restrict__ starts,
                                          const int32_t* __restrict__ positions, int64_t d,
                                          float* __restrict__ dtable) {
  const int64_t j = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x;
  if (j >= d) return;
  const int u = blockIdx.x;
  double sum = 0.0;
  for (int p = starts[u]; p < starts[u + 1]; ++p) sum += dout[static_cast<int64_t>(positions[p]) * d + j];
  float* row = dtable + static_cast<int64_t>(unique[u]) * d;
  row[j] += static_cast<float>(sum);
}

}  // namespace

void embedding_forward(const float* table, const int32_t* tokens, int64_t n_tokens, int64_t d,
                       float* out, cudaStream_t stream) {
  check(n_tokens >= 0 && n_tokens <= 0x7fffffff && d > 0, "embedding_forward: bad shape [{}, {}]",
        n_tokens, d);
  if (n_tokens == 0) return;
  const dim3 grid(static_cast<unsigned>(n_tokens), static_cast<unsigned>((d + kThreads - 1) / kThreads));
  embedding_forward_kernel<<<grid, kThreads, 0, stream>>>(table, tokens, d, out);
  CUDA_CHECK_LAUNCH();
}

TokenBuckets bucket_tokens(std::span<const int32_t> tokens, int64_t vocab) {
  std::vector<int32_t> count(static_cast<std::size_t>(vocab), 0);
  for (int32_t t : tokens) {
    check(t >= 0 && t < vocab, "bucket_tokens: token id {} outside [0, {})", t, vocab);
    ++count[static_cast<std::size_t>(t)];
  }
  TokenBuckets b;
  std::vector<int32_t> next(static_cast<std::size_t>(vocab), 0);  // write cursor per token
  b.starts.push_back(0);
  for (int64_t v = 0; v < vocab; ++v) {
    const int32_t c = count[static_cast<std::size_t>(v)];
    if (c == 0) continue;
    next[static_cast<std::size_t>(v)] = b.starts.back();
    b.unique.push_back(static_cast<int32_t>(v));
    b.starts.push_back(b.starts.back() + c);
  }
  b.positions.resize(tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    b.positions[static_cast<std::size_t>(next[static_cast<std::size_t>(tokens[i])]++)] =
        static_cast<int32_t>(i);
  }
  return b;
}

void embedding_backward(const float* dout, const int32_t* unique, const int32_t* starts,
                        const int32_t* positions, int64_t n_unique, int64_t d, float* dtable,
                        cudaStream_t stream) {
  check(n_unique >= 0 && n_unique <= 0x7fffffff && d > 0, "embedding_backward: bad shape [{}, {}]",
        n_unique, d);
  if (n_unique == 0) return;
  const dim3 grid(static_cast<unsigned>(n_unique), static_cast<unsigned>((d + kThreads - 1) / kThreads));
  embedding_backward_kernel<<<grid, kThreads, 0, stream>>>(dout, unique, starts, positions, d,
                                                           dtable);
  CUDA_CHECK_LAUNCH();
}

}  // namespace a48::cuda
