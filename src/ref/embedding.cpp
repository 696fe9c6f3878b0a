#include "ref/embedding.h"

#include "core/error.h"

namespace a48::ref {

void embedding(std::span<const float> table, int64_t vocab, int64_t d, int64_t token,
               std::span<float> out) {
  check(vocab > 0 && d > 0 && static_cast<int64_t>(table.size()) == vocab * d,
        "embedding: table has {} values, expected [{}, {}]", table.size(), vocab, d);
  check(static_cast<int64_t>(out.size()) == d, "embedding: output has {} values, expected {}",
        out.size(), d);
  check(token >= 0 && token < vocab, "embedding: token id {} outside [0, {})", token, vocab);
  const float* row = table.data() + token * d;  // [d]
  for (int64_t i = 0; i < d; ++i) out[static_cast<std::size_t>(i)] = row[i];
}

}  // namespace a48::ref
