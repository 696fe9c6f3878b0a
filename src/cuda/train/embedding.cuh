// Token embedding forward (ref/embedding.h) and its backward (ref/embedding_backward.h):
//   out[i] = table[token[i]]        dtable[v] += sum over positions i with token[i] = v of dout[i]
// The backward is deterministic: positions are grouped by token on the host (a counting sort,
// ascending positions within a token) and each token's rows are summed in that order.
// Host launchers; plain C++ may include this header.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <span>
#include <vector>

namespace a48::cuda {

// tokens: [n_tokens], ids in [0, vocab) (checked by the caller); table: [vocab, d]; out: [n_tokens, d].
void embedding_forward(const float* table, const int32_t* tokens, int64_t n_tokens, int64_t d,
                       float* out, cudaStream_t stream);

// Positions grouped by token: token unique[u] occurs at positions[starts[u] .. starts[u+1]).
struct TokenBuckets {
  std::vector<int32_t> unique;     // [n_unique], ascending
  std::vector<int32_t> starts;     // [n_unique + 1]
  std::vector<int32_t> positions;  // [n_tokens]
};
TokenBuckets bucket_tokens(std::span<const int32_t> tokens, int64_t vocab);

// dtable[unique[u]] += sum_{p in bucket u} dout[p], for u < n_unique. unique, starts, positions:
// the device copies of a TokenBuckets. dout: [n_tokens, d]; dtable: [vocab, d].
void embedding_backward(const float* dout, const int32_t* unique, const int32_t* starts,
                        const int32_t* positions, int64_t n_unique, int64_t d, float* dtable,
                        cudaStream_t stream);

}  // namespace a48::cuda
