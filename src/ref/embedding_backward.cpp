#include "ref/embedding_backward.h"

#include "core/error.h"

namespace a48::ref {

void embedding_backward(std::span<const float> dout, int64_t vocab, int64_t d, int64_t token,
                        std::span<double> dtable) {
  check(vocab > 0 && d > 0 && static_cast<int64_t>(dtable.size()) == vocab * d,
        "embedding_backward: table gradient has {} values, expected [{}, {}]", dtable.size(), vocab,
        d);
  check(static_cast<int64_t>(dout.size()) == d,
        "embedding_backward: gradient row has {} values, expected {}", dout.size(), d);
  check(token >= 0 && token < vocab, "embedding_backward: token id {} outside [0, {})", token,
        vocab);
  double* row = dtable.data() + token * d;  // [d]
  for (int64_t i = 0; i < d; ++i) row[i] += dout[static_cast<std::size_t>(i)];
}

}  // namespace a48::ref
