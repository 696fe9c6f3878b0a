// Table 2: per-projection activation sparsity, the fraction of weight reads a zero input skips.
#include <initializer_list>
#include <utility>

#include "model/forward.h"

namespace a48 {

void SparsityStats::add(const SparsityStats& other) {
  for (auto [mine, theirs] :
       {std::pair{&qkv, &other.qkv}, std::pair{&out, &other.out}, std::pair{&up, &other.up},
        std::pair{&gate, &other.gate}, std::pair{&down, &other.down}}) {
    mine->active += theirs->active;
    mine->total += theirs->total;
  }
  n_tokens += other.n_tokens;
}

double SparsityStats::overall(const ModelConfig& config) const {
  const double params = static_cast<double>(count_parameters(config).non_embedding);
  const double denominator = params * static_cast<double>(n_tokens);
  if (denominator <= 0) return 0.0;
  double skipped = 0.0;
  for (const Entry* e : {&qkv, &out, &up, &gate, &down}) skipped += e->total - e->active;
  return skipped / denominator;
}

}  // namespace a48
