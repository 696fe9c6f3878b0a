// The data loader: window arithmetic, the portable permutation, rank sharding and exact resume.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include "train/data_loader.h"
#include "train/portable_rng.h"
#include "train_io_test_util.h"

namespace a48 {
namespace {

using test::error_of;

class DataLoaderTest : public test::TempDirTest {
 protected:
  // A shard whose token i has id i (vocab 65536), so every id says where it came from.
  TokenShard counting_shard(int64_t n_tokens) {
    std::vector<int32_t> ids(static_cast<std::size_t>(n_tokens));
    for (int64_t i = 0; i < n_tokens; ++i) ids[static_cast<std::size_t>(i)] = static_cast<int32_t>(i);
    const auto path = dir_ / ("count" + std::to_string(n_tokens) + ".tok");
    write_token_shard(path, ids, 65536, Sha256Digest{});
    return TokenShard(path);
  }
  // The window a batch row came from, recovered from its first input id.
  static int64_t window_of(const Batch& batch, int64_t row) {
    return batch.inputs[static_cast<std::size_t>(row * batch.seq_len)] / batch.seq_len;
  }
};

TEST(SplitMix64, ReferenceOutputs) {
  // Vigna's splitmix64.c seeded with 0 prints these three first.
  SplitMix64 rng(0);
  EXPECT_EQ(rng.next(), 0xe220a8397b1dcdafull);
  EXPECT_EQ(rng.next(), 0x6e789e6aa1b965f4ull);
  EXPECT_EQ(rng.next(), 0x06c45d188009454full);
}

TEST(SplitMix64, BelowIsInRangeAndUnbiased) {
  SplitMix64 rng(7);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(rng.below(1), 0u);
  std::vector<int> counts(3, 0);
  for (int i = 0; i < 30000; ++i) ++counts[rng.below(3)];
  for (const int count : counts) EXPECT_NEAR(count, 10000, 400);  // ~4 sigma
  // A bound just above 2^63 rejects almost half the draws: still in range.
  const uint64_t big = (uint64_t{1} << 63) + 5;
  for (int i = 0; i < 100; ++i) EXPECT_LT(rng.below(big), big);
}

TEST(EpochPermutation, IsAPermutationThatDependsOnSeedAndEpoch) {
  for (const int64_t n : {1, 2, 7, 33, 257}) {
    const std::vector<int64_t> p = epoch_permutation(n, 5, 0);
    std::vector<int64_t> sorted = p;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(sorted[static_cast<std::size_t>(i)], i);
    EXPECT_EQ(p, epoch_permutation(n, 5, 0)) << "deterministic";
    if (n >= 7) {
      EXPECT_NE(p, epoch_permutation(n, 5, 1)) << "a new order each epoch";
      EXPECT_NE(p, epoch_permutation(n, 6, 0)) << "a new order for another seed";
    }
  }
}

TEST_F(DataLoaderTest, WindowsOverlapByOneToken) {
  // 1000 tokens, seq_len 7: windows start at 0, 7, 14, ...; the last needs 7k + 8 <= 1000, so
  // k <= 141.7: 142 windows = (1000 - 1) / 7.
  const DataLoader loader(counting_shard(1000), {.seq_len = 7, .seed = 1});
  EXPECT_EQ(loader.n_windows(), 142);
  const Batch batch = loader.sequential_batch(3, 2);
  ASSERT_EQ(batch.n_seqs, 2);
  ASSERT_EQ(batch.seq_len, 7);
  // Window 3 covers tokens 21..28: inputs 21..27, targets 22..28; window 4 inputs 28..34.
  EXPECT_EQ(batch.inputs, (std::vector<int32_t>{21, 22, 23, 24, 25, 26, 27,  //
                                                28, 29, 30, 31, 32, 33, 34}));
  EXPECT_EQ(batch.targets, (std::vector<int32_t>{22, 23, 24, 25, 26, 27, 28,  //
                                                 29, 30, 31, 32, 33, 34, 35}));
  const Batch last = loader.sequential_batch(141, 1);
  EXPECT_EQ(last.targets.back(), 141 * 7 + 7);  // = 994, inside the 1000 tokens
  EXPECT_THROW(loader.sequential_batch(141, 2), Error);
  EXPECT_THROW(loader.sequential_batch(-1, 1), Error);
}

TEST_F(DataLoaderTest, AnEpochVisitsEveryWindowOnceInPermutationOrder) {
  DataLoader loader(counting_shard(7 * 33 + 1), {.seq_len = 7, .seed = 9});
  ASSERT_EQ(loader.n_windows(), 33);
  std::vector<int64_t> seen;
  for (int i = 0; i < 11; ++i) {
    const Batch batch = loader.next_batch(3);
    for (int64_t row = 0; row < 3; ++row) {
      seen.push_back(window_of(batch, row));
      // Targets are the inputs shifted by one token.
      for (int64_t t = 0; t < 7; ++t) {
        EXPECT_EQ(batch.targets[static_cast<std::size_t>(row * 7 + t)],
                  batch.inputs[static_cast<std::size_t>(row * 7 + t)] + 1);
      }
    }
  }
  EXPECT_EQ(seen, epoch_permutation(33, 9, 0));
  EXPECT_EQ(loader.state(), (DataLoaderState{9, 0, 33}));
  // The next batch starts epoch 1 with its own order.
  const Batch next = loader.next_batch(1);
  EXPECT_EQ(window_of(next, 0), epoch_permutation(33, 9, 1)[0]);
  EXPECT_EQ(loader.state(), (DataLoaderState{9, 1, 1}));
}

TEST_F(DataLoaderTest, RanksPartitionEachEpoch) {
  // 31 windows over 4 ranks: 7 each per epoch; the permutation's last 31 mod 4 = 3 are skipped.
  constexpr int kWorld = 4;
  std::set<int64_t> all;
  std::vector<DataLoader> loaders;
  for (int rank = 0; rank < kWorld; ++rank) {
    loaders.emplace_back(counting_shard(7 * 31 + 3),
                         DataLoaderOptions{.seq_len = 7, .seed = 2, .rank = rank, .world = kWorld});
  }
  const std::vector<int64_t> order = epoch_permutation(31, 2, 0);
  for (int rank = 0; rank < kWorld; ++rank) {
    DataLoader& loader = loaders[static_cast<std::size_t>(rank)];
    ASSERT_EQ(loader.n_windows(), 31);
    const Batch batch = loader.next_batch(7);
    for (int64_t j = 0; j < 7; ++j) {
      EXPECT_EQ(window_of(batch, j), order[static_cast<std::size_t>(j * kWorld + rank)]);
      EXPECT_TRUE(all.insert(window_of(batch, j)).second) << "window given to two ranks";
    }
    EXPECT_EQ(loader.state(), (DataLoaderState{2, 0, 28})) << "every rank agrees on the state";
    // The eighth window is already epoch 1's.
    EXPECT_EQ(window_of(loader.next_batch(1), 0), epoch_permutation(31, 2, 1)[static_cast<std::size_t>(rank)]);
  }
  EXPECT_EQ(all, std::set<int64_t>(order.begin(), order.begin() + 28));
}

TEST_F(DataLoaderTest, ResumeContinuesBitIdentically) {
  // 13 windows, batches of 4: the stream crosses epochs at odd places.
  DataLoader first(counting_shard(5 * 13 + 2), {.seq_len = 5, .seed = 11});
  for (int i = 0; i < 5; ++i) first.next_batch(4);
  const nlohmann::json saved = data_loader_state_to_json(first.state());
  std::vector<Batch> expected;
  for (int i = 0; i < 7; ++i) expected.push_back(first.next_batch(4));

  // A new loader with another seed in its options: the saved state's seed wins.
  DataLoader resumed(counting_shard(5 * 13 + 2), {.seq_len = 5, .seed = 999});
  resumed.restore(parse_data_loader_state(nlohmann::json::parse(saved.dump())));
  for (const Batch& want : expected) {
    const Batch got = resumed.next_batch(4);
    EXPECT_EQ(got.inputs, want.inputs);
    EXPECT_EQ(got.targets, want.targets);
  }
  EXPECT_EQ(resumed.state(), first.state());
}

TEST_F(DataLoaderTest, OneBigBatchEqualsManySmallOnes) {
  DataLoader big(counting_shard(300), {.seq_len = 3, .seed = 4});
  DataLoader small(counting_shard(300), {.seq_len = 3, .seed = 4});
  const Batch all = big.next_batch(257);  // more than the 99 windows: crosses two epochs
  std::vector<int32_t> inputs;
  for (int i = 0; i < 257; ++i) {
    const Batch one = small.next_batch(1);
    inputs.insert(inputs.end(), one.inputs.begin(), one.inputs.end());
  }
  EXPECT_EQ(all.inputs, inputs);
  EXPECT_EQ(big.state(), small.state());
}

TEST_F(DataLoaderTest, BadOptionsAndStatesAreRefused) {
  EXPECT_NE(error_of([&] { DataLoader(counting_shard(8), {.seq_len = 7, .world = 2}); })
                .find("2 data-parallel"),
            std::string::npos)
      << "one window of 8 tokens, but 2 ranks";
  EXPECT_NO_THROW(DataLoader(counting_shard(8), {.seq_len = 7}));
  EXPECT_NE(error_of([&] { DataLoader(counting_shard(7), {.seq_len = 7}); }).find("0 windows"),
            std::string::npos);
  EXPECT_THROW(DataLoader(counting_shard(100), {.seq_len = 0}), Error);
  EXPECT_THROW(DataLoader(counting_shard(100), {.seq_len = 7, .rank = 2, .world = 2}), Error);
  DataLoader loader(counting_shard(100), {.seq_len = 7});  // 14 windows
  EXPECT_THROW(loader.restore({1, 0, 15}), Error);
  EXPECT_THROW(loader.restore({1, -1, 0}), Error);
  EXPECT_THROW(loader.next_batch(0), Error);
  EXPECT_THROW(parse_data_loader_state(nlohmann::json::parse(R"({"seed": 1, "epoch": 0})")), Error);
  EXPECT_THROW(parse_data_loader_state(nlohmann::json::parse(R"({"seed": -1, "epoch": 0, "cursor": 0})")),
               Error);
  EXPECT_THROW(parse_data_loader_state(nlohmann::json::parse(R"({"seed": 1, "epoch": 0.5, "cursor": 0})")),
               Error);
  EXPECT_THROW(parse_data_loader_state(nlohmann::json::parse("[1, 2, 3]")), Error);
  // The largest seed survives the JSON round trip.
  const DataLoaderState state{~uint64_t{0}, 3, 4};
  EXPECT_EQ(parse_data_loader_state(nlohmann::json::parse(data_loader_state_to_json(state).dump())),
            state);
}

}  // namespace
}  // namespace a48
