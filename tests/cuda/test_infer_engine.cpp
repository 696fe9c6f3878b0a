// CudaEngine (cuda/infer/cuda_engine.h) against ReferenceEngine on small random models: a mixed
// prefill of two sequences (21 rows: the mma kernels and the tiled prefill attention), then batched and single decode steps
// (the sparse-input kernels and the CUDA graphs), for a4.8 and b1.58 at 16-bit and 4q3kv attention.
//
// Stated tolerance, with the fp32 head: integer products and quantizer codes are the reference's;
// what differs is the order of the double sums (attention, RMSNorm, INT4's mean) and the float
// sums of the head, so a logits row agrees to ||gpu - ref|| / ||ref|| <= 2e-4 (seen: ~2e-7),
// except where such a ~1e-7 difference flips a quantizer code at a rounding tie upstream; one
// INT4 code of a 128-wide toy model moves its token's logits by up to a few percent (seen once:
// 1.9e-2, a4.8 with 4q3kv, decode step 4, greedy token unchanged). Such rows are counted: at most
// 1 in 4 rows may exceed 2e-4, none may exceed 5e-2, and greedy tokens must be equal.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "cuda/infer/cuda_engine.h"
#include "cuda_test_util.h"
#include "model/reference_engine.h"

namespace a48 {
namespace {

constexpr double kLogitTolerance = 2e-4;
constexpr double kTieFlipTolerance = 5e-2;
constexpr double kPersistentCap = 0.25;

// Worst error over the checked rows, and how many rows exceeded kLogitTolerance.
struct Agreement {
  double cap = kTieFlipTolerance;
  double worst = 0.0;
  int rows = 0, loose = 0;
  Agreement() = default;
  explicit Agreement(double c) : cap(c) {}
  void add(double e) {
    worst = std::max(worst, e);
    ++rows;
    loose += e > kLogitTolerance;
    EXPECT_LE(e, cap);
  }
};

ModelConfig small_config(ActivationScheme scheme, AttentionBits bits) {
  ModelConfig c;
  c.hidden_size = 128;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.intermediate_size = 344;
  c.vocab_size = 517;
  c.max_position_embeddings = 64;
  c.rope_theta = 10000.0;
  c.activation_scheme = scheme;
  c.attention_bits = bits;
  return c;
}

double row_error(const std::vector<float>& got, const std::vector<float>& want, int64_t r, int64_t v) {
  std::vector<float> g(got.begin() + r * v, got.begin() + (r + 1) * v), w(want.begin() + r * v, want.begin() + (r + 1) * v);
  return test::relative_l2(g, w);
}

int32_t argmax(const std::vector<float>& logits, int64_t r, int64_t v) {
  const auto begin = logits.begin() + r * v;
  return static_cast<int32_t>(std::max_element(begin, begin + v) - begin);
}

struct EngineCase {
  ActivationScheme scheme;
  AttentionBits bits;
  bool sparse_input = false;  // A48_CUDA_SPARSE_INPUT=1: o_proj/down through the columns kernel
  bool fused = false;         // A48_CUDA_FUSED=1: decode steps through the persistent kernel
};

class CudaEngineVsReference : public testing::TestWithParam<EngineCase> {};

TEST_P(CudaEngineVsReference, LogitsAgreeAndGreedyTokensAreEqual) {
  A48_REQUIRE_CUDA_DEVICE();
  const EngineCase ec = GetParam();
  const ModelConfig config = small_config(ec.scheme, ec.bits);
  auto model = std::make_shared<const Model>(make_random_model(config, 1234));
  ReferenceEngine ref(model);
  if (ec.sparse_input) setenv("A48_CUDA_SPARSE_INPUT", "1", 1);
  if (ec.fused) setenv("A48_CUDA_FUSED", "1", 1);
  std::unique_ptr<Engine> gpu = make_cuda_engine(model, 0, false);
  unsetenv("A48_CUDA_SPARSE_INPUT");
  unsetenv("A48_CUDA_FUSED");
  const int64_t V = config.vocab_size;

  auto ra = ref.new_sequence(40), rb = ref.new_sequence(40);
  auto ga = gpu->new_sequence(40), gb = gpu->new_sequence(40);
  const std::vector<int32_t> prompt_a = {1, 17, 300, 5, 5, 99, 516, 0, 42};
  // 21 rows with prompt_a: more than the flash-decoding workspace's 16, so the tiled prefill.
  const std::vector<int32_t> prompt_b = {7, 250, 3, 88, 401, 12, 13, 510, 2, 2, 64, 300};
  std::vector<EngineStep> rsteps = {{ra.get(), prompt_a, true}, {rb.get(), prompt_b, false}};
  std::vector<EngineStep> gsteps = {{ga.get(), prompt_a, true}, {gb.get(), prompt_b, false}};
  const std::vector<float> want = ref.forward(rsteps);
  const std::vector<float> got = gpu->forward(gsteps);
  ASSERT_EQ(got.size(), want.size());
  Agreement agree;
  for (int64_t r = 0; r < 10; ++r) agree.add(row_error(got, want, r, V));
  EXPECT_EQ(ga->size(), 9);
  EXPECT_EQ(gb->size(), 12);

  // Greedy decode, both sequences per call, then a alone; each engine feeds its own argmax.
  int32_t ta = argmax(want, 8, V), tb = argmax(want, 9, V);
  int32_t ga_tok = argmax(got, 8, V), gb_tok = argmax(got, 9, V);
  EXPECT_EQ(ta, ga_tok);
  EXPECT_EQ(tb, gb_tok);
  for (int step = 0; step < 8; ++step) {
    const bool both = step < 5;
    std::vector<EngineStep> rs = {{ra.get(), std::span<const int32_t>(&ta, 1), false}};
    std::vector<EngineStep> gs = {{ga.get(), std::span<const int32_t>(&ga_tok, 1), false}};
    if (both) {
      rs.push_back({rb.get(), std::span<const int32_t>(&tb, 1), false});
      gs.push_back({gb.get(), std::span<const int32_t>(&gb_tok, 1), false});
    }
    const std::vector<float> w = ref.forward(rs), g = gpu->forward(gs);
    for (int64_t r = 0; r < (both ? 2 : 1); ++r) agree.add(row_error(g, w, r, V));
    ta = argmax(w, 0, V);
    ga_tok = argmax(g, 0, V);
    ASSERT_EQ(ta, ga_tok) << "greedy token of a at step " << step;
    if (both) {
      tb = argmax(w, 1, V);
      gb_tok = argmax(g, 1, V);
      ASSERT_EQ(tb, gb_tok) << "greedy token of b at step " << step;
    }
  }
  std::printf("%s attention %s: worst logits row relative L2 error %.3g; %d of %d rows above %.0e\n",
              std::string(to_string(ec.scheme)).c_str(), std::string(to_string(ec.bits)).c_str(), agree.worst,
              agree.loose, agree.rows, kLogitTolerance);
  EXPECT_LE(4 * agree.loose, agree.rows);

  // Truncation rewinds the device cache like the reference's.
  ra->truncate(4);
  ga->truncate(4);
  const std::vector<int32_t> again = {9, 10};
  std::vector<EngineStep> r2 = {{ra.get(), again, true}}, g2 = {{ga.get(), again, true}};
  const std::vector<float> w2 = ref.forward(r2), g2l = gpu->forward(g2);
  for (int64_t r = 0; r < 2; ++r) EXPECT_LE(row_error(g2l, w2, r, V), kTieFlipTolerance) << "after truncate";
}

INSTANTIATE_TEST_SUITE_P(Schemes, CudaEngineVsReference,
                         testing::Values(EngineCase{ActivationScheme::a48, AttentionBits::fp16},
                                         EngineCase{ActivationScheme::a48, AttentionBits::q4_kv3},
                                         EngineCase{ActivationScheme::b158, AttentionBits::fp16},
                                         EngineCase{ActivationScheme::b158, AttentionBits::q4_kv3},
                                         EngineCase{ActivationScheme::a48_fp4, AttentionBits::int8},
                                         EngineCase{ActivationScheme::a48, AttentionBits::q4_kv3, true},
                                         EngineCase{ActivationScheme::a48, AttentionBits::q4_kv3, false, true},
                                         EngineCase{ActivationScheme::b158, AttentionBits::fp16, false, true},
                                         EngineCase{ActivationScheme::a48_fp4, AttentionBits::int8, false, true}));

// The persistent decode kernel (decode_layers.h) against the kernel-by-kernel path on a model with
// more heads, layers and context than above: steps of 1 to 8 tokens (8 sequences decoding, then
// multi-token steps of one sequence, whose tokens attend to each other within the step). Attention
// sums alike in both (same split count and block size); the row passes' double sums are taken by
// blocks of another size, which moves a result only where it sits next to a float rounding
// boundary. This seed's a4.8 model has one such spot: a code flip upstream that moves 2 of 55
// logits rows by 0.13 (greedy tokens unchanged; seen identically with two different sources of
// last-bit differences). Policy: greedy tokens equal, at most 1 in 8 rows above kLogitTolerance,
// none above kPersistentCap.
TEST(CudaEngine, PersistentDecodeAgreesWithKernelByKernel) {
  A48_REQUIRE_CUDA_DEVICE();
  for (ActivationScheme scheme : {ActivationScheme::a48, ActivationScheme::b158}) {
    SCOPED_TRACE(std::string(to_string(scheme)));
    ModelConfig c = small_config(scheme, AttentionBits::q4_kv3);
    c.hidden_size = 320;
    c.num_attention_heads = 10;
    c.num_key_value_heads = 5;
    c.num_hidden_layers = 3;
    c.intermediate_size = 900;
    c.max_position_embeddings = 300;
    auto model = std::make_shared<const Model>(make_random_model(c, 77));
    std::unique_ptr<Engine> plain = make_cuda_engine(model, 0, false);
    setenv("A48_CUDA_FUSED", "1", 1);
    std::unique_ptr<Engine> fused = make_cuda_engine(model, 0, false);
    unsetenv("A48_CUDA_FUSED");
    const int64_t V = c.vocab_size;
    constexpr int kSeqs = 8;
    std::vector<std::unique_ptr<SequenceState>> ps, fs;
    std::vector<int32_t> ptok(kSeqs), ftok(kSeqs);
    Agreement agree(kPersistentCap);
    // Prompts of 9 to 23 tokens (the kernel-by-kernel path in both engines: more than 8 rows).
    for (int s = 0; s < kSeqs; ++s) {
      ps.push_back(plain->new_sequence(200));
      fs.push_back(fused->new_sequence(200));
      std::vector<int32_t> prompt;
      for (int i = 0; i < 9 + 2 * s; ++i) prompt.push_back((s * 131 + i * 37) % static_cast<int32_t>(V));
      std::vector<EngineStep> a = {{ps.back().get(), prompt, false}}, b = {{fs.back().get(), prompt, false}};
      const std::vector<float> la = plain->forward(a), lb = fused->forward(b);
      agree.add(row_error(lb, la, 0, V));
      ptok[static_cast<std::size_t>(s)] = argmax(la, 0, V);
      ftok[static_cast<std::size_t>(s)] = argmax(lb, 0, V);
      ASSERT_EQ(ptok[static_cast<std::size_t>(s)], ftok[static_cast<std::size_t>(s)]);
    }
    // Decode steps of 8, 5, 3, 2 and 1 sequences (templates 8, 8, 4, 2, 1 of the kernel).
    for (int n : {8, 5, 3, 2, 1, 8}) {
      std::vector<EngineStep> a, b;
      for (int s = 0; s < n; ++s) {
        a.push_back({ps[static_cast<std::size_t>(s)].get(), std::span<const int32_t>(&ptok[static_cast<std::size_t>(s)], 1), false});
        b.push_back({fs[static_cast<std::size_t>(s)].get(), std::span<const int32_t>(&ftok[static_cast<std::size_t>(s)], 1), false});
      }
      const std::vector<float> la = plain->forward(a), lb = fused->forward(b);
      for (int s = 0; s < n; ++s) {
        agree.add(row_error(lb, la, s, V));
        ptok[static_cast<std::size_t>(s)] = argmax(la, s, V);
        ftok[static_cast<std::size_t>(s)] = argmax(lb, s, V);
        ASSERT_EQ(ptok[static_cast<std::size_t>(s)], ftok[static_cast<std::size_t>(s)]) << n << " sequences";
      }
    }
    // Steps of 2 to 8 tokens of one sequence, all logits.
    for (int len : {2, 3, 7, 8}) {
      std::vector<int32_t> chunk;
      for (int i = 0; i < len; ++i) chunk.push_back((len * 53 + i * 11) % static_cast<int32_t>(V));
      std::vector<EngineStep> a = {{ps[0].get(), chunk, true}}, b = {{fs[0].get(), chunk, true}};
      const std::vector<float> la = plain->forward(a), lb = fused->forward(b);
      for (int r = 0; r < len; ++r) agree.add(row_error(lb, la, r, V));
    }
    EXPECT_EQ(ps[0]->size(), fs[0]->size());
    std::printf("%s: persistent vs kernel-by-kernel, worst logits row relative L2 error %.3g; %d of %d rows above %.0e\n",
                std::string(to_string(scheme)).c_str(), agree.worst, agree.loose, agree.rows, kLogitTolerance);
    EXPECT_LE(8 * agree.loose, agree.rows);
  }
}

TEST(CudaEngine, RejectsBadCallsAndLeavesStatesAsTheyWere) {
  A48_REQUIRE_CUDA_DEVICE();
  const ModelConfig config = small_config(ActivationScheme::a48, AttentionBits::q4_kv3);
  auto model = std::make_shared<const Model>(make_random_model(config, 5));
  std::unique_ptr<Engine> gpu = make_cuda_engine(model, 0, false);
  std::unique_ptr<Engine> other = make_cuda_engine(model, 0, false);
  auto s = gpu->new_sequence(4);
  auto foreign = other->new_sequence(4);
  const std::vector<int32_t> ok = {1, 2}, bad = {1, 517}, long_prompt = {1, 2, 3, 4, 5};
  std::vector<EngineStep> b1 = {{s.get(), bad, false}};
  EXPECT_THROW(gpu->forward(b1), Error);
  std::vector<EngineStep> b2 = {{s.get(), ok, false}, {foreign.get(), ok, false}};
  EXPECT_THROW(gpu->forward(b2), Error);
  std::vector<EngineStep> b3 = {{s.get(), long_prompt, false}};
  EXPECT_THROW(gpu->forward(b3), Error);
  std::vector<EngineStep> b4 = {{s.get(), ok, false}, {s.get(), ok, false}};
  EXPECT_THROW(gpu->forward(b4), Error);
  EXPECT_EQ(s->size(), 0);
  EXPECT_THROW(gpu->new_sequence(65), Error);
  ModelConfig fp = config;
  fp.activation_scheme = ActivationScheme::fp;
  EXPECT_THROW(make_cuda_engine(std::make_shared<const Model>(make_random_model(fp, 1)), 0, false), Error);
}

TEST(CudaEngine, Int8HeadStaysCloseToTheFp32Head) {
  A48_REQUIRE_CUDA_DEVICE();
  const ModelConfig config = small_config(ActivationScheme::a48, AttentionBits::fp16);
  auto model = std::make_shared<const Model>(make_random_model(config, 9));
  std::unique_ptr<Engine> f32 = make_cuda_engine(model, 0, false), i8 = make_cuda_engine(model, 0, true);
  auto a = f32->new_sequence(16), b = i8->new_sequence(16);
  const std::vector<int32_t> prompt = {3, 1, 4, 1, 5, 9, 2, 6};
  std::vector<EngineStep> sa = {{a.get(), prompt, true}}, sb = {{b.get(), prompt, true}};
  const std::vector<float> la = f32->forward(sa), lb = i8->forward(sb);
  const double e = test::relative_l2(lb, la);
  std::printf("int8 head: logits relative L2 error %.3g against the fp32 head\n", e);
  EXPECT_LE(e, 1e-2);  // int8 weights with per-row absmax: ~0.5% per element
  EXPECT_GT(e, 0.0);
}

}  // namespace
}  // namespace a48
