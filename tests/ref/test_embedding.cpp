#include <gtest/gtest.h>

#include "core/error.h"
#include "ref/embedding.h"
#include "ref/random_vectors.h"

namespace a48 {
namespace {

TEST(RefEmbedding, RowLookup) {
  const std::vector<float> table = {1, 2, 3, 4, 5, 6};  // [3, 2]
  std::vector<float> out = test::nan_vector(2);
  ref::embedding(table, 3, 2, 2, out);
  EXPECT_EQ(out, (std::vector<float>{5, 6}));
  ref::embedding(table, 3, 2, 0, out);
  EXPECT_EQ(out, (std::vector<float>{1, 2}));
}

TEST(RefEmbedding, RejectsBadTokensAndShapes) {
  const std::vector<float> table(6, 1.0f);
  std::vector<float> out(2);
  EXPECT_THROW(ref::embedding(table, 3, 2, 3, out), Error);
  EXPECT_THROW(ref::embedding(table, 3, 2, -1, out), Error);
  EXPECT_THROW(ref::embedding(table, 4, 2, 0, out), Error);
  EXPECT_THROW(ref::embedding(table, 2, 3, 0, out), Error);
}

}  // namespace
}  // namespace a48
