// Token embedding: row lookup in the [V, d] table (HF nn.Embedding, model.embed_tokens).
#pragma once

#include <cstdint>
#include <span>

namespace a48::ref {

// out = table[token, :]. table: [vocab, d], out: [d]. Throws a48::Error when token is outside
// [0, vocab) or the table is not [vocab, d].
void embedding(std::span<const float> table, int64_t vocab, int64_t d, int64_t token,
               std::span<float> out);

}  // namespace a48::ref
