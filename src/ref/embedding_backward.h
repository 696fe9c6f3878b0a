// Backward of the token embedding lookup (ref/embedding.h): the gradient of the looked-up row is
// scattered back into the table's row for that token (rows of repeated tokens add up).
#pragma once

#include <cstdint>
#include <span>

namespace a48::ref {

// dtable[token, :] += dout. dtable: [vocab, d] accumulator, dout: [d]. Throws a48::Error when
// token is outside [0, vocab) or the shapes disagree.
void embedding_backward(std::span<const float> dout, int64_t vocab, int64_t d, int64_t token,
                        std::span<double> dtable);

}  // namespace a48::ref
