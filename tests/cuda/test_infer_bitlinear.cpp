// The CUDA BitLinear decode kernels (cuda/infer/bitlinear.h) against ref::bitlinear / ref::project:
// integer sums and the same rescale, so every output must be bit-identical.
#include <gtest/gtest.h>

#include <cstring>

#include "cuda/infer/bitlinear.h"
#include "cuda/infer/packed_ternary.h"
#include "cuda_test_util.h"
#include "infer_test_util.h"
#include "ref/bitlinear.h"
#include "ref/glu.h"
#include "ref/projection.h"

namespace a48 {
namespace {

struct Shape {
  int64_t n_out, n_in;
};
constexpr Shape kShapes[] = {{1, 1}, {3, 17}, {67, 64}, {130, 333}, {257, 1000}, {45, 2049}, {600, 70}};

std::vector<float> ref_tokens(const LinearWeights& w, const std::vector<int8_t>& q, const std::vector<float>& steps,
                              int64_t n_tokens, const std::vector<float>* gate = nullptr) {
  std::vector<float> y(static_cast<std::size_t>(n_tokens * w.n_out));
  for (int64_t t = 0; t < n_tokens; ++t) {
    const std::span<const int8_t> qt(q.data() + t * w.n_in, static_cast<std::size_t>(w.n_in));
    for (int64_t o = 0; o < w.n_out; ++o) {
      float v = ref::bitlinear_row(w, o, qt, steps[static_cast<std::size_t>(t)]);
      if (gate != nullptr && ref::relu2((*gate)[static_cast<std::size_t>(t * w.n_out + o)]) == 0.0f) v = 0.0f;
      y[static_cast<std::size_t>(t * w.n_out + o)] = v;
    }
  }
  return y;
}

void expect_identical(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  int64_t bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) {
      if (bad++ < 5) ADD_FAILURE() << "index " << i << ": got " << got[i] << ", want " << want[i];
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST(CudaTernaryPack, CodesRoundTripInBothOrders) {
  uint32_t seed = 11;
  for (const Shape& s : kShapes) {
    const LinearWeights w = test::random_ternary(s.n_out, s.n_in, seed++);
    for (cuda::TernaryOrder order : {cuda::TernaryOrder::rows, cuda::TernaryOrder::columns}) {
      const cuda::TernaryWords p = cuda::pack_ternary(w, order);
      EXPECT_EQ(p.words_per_line % 4, 0);
      for (int64_t o = 0; o < s.n_out; ++o)
        for (int64_t i = 0; i < s.n_in; ++i)
          ASSERT_EQ(cuda::ternary_code(p, o, i), w.ternary[static_cast<std::size_t>(o * s.n_in + i)]);
    }
  }
  LinearWeights bad = test::random_ternary(2, 3, 1);
  bad.ternary[4] = 2;
  EXPECT_THROW(cuda::pack_ternary(bad, cuda::TernaryOrder::rows), Error);
}

TEST(CudaBitlinear, RowsEqualReferenceForEveryTokenCount) {
  A48_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 100;
  for (const Shape& s : kShapes) {
    for (int64_t n_tokens : {1, 2, 3, 5, 8, 13, 16, 21}) {
      SCOPED_TRACE(testing::Message() << "[" << s.n_out << ", " << s.n_in << "] tokens " << n_tokens);
      const LinearWeights w = test::random_ternary(s.n_out, s.n_in, seed++);
      const std::vector<int8_t> q = test::random_codes(n_tokens, s.n_in, seed++, -128, 127, 0.1);
      const std::vector<float> steps = test::uniform(static_cast<std::size_t>(n_tokens), seed++, 0.5f);
      const cuda::DeviceTernary dw = cuda::upload_ternary(cuda::pack_ternary(w, cuda::TernaryOrder::rows));
      test::DeviceCodes codes = test::upload_codes(q, n_tokens, s.n_in, steps);
      const int64_t ld = s.n_out + 3;
      cuda::DeviceBuffer<float> y = test::poisoned(static_cast<std::size_t>(n_tokens * ld));
      const cuda::BitlinearOutput out{&dw, y.data(), ld};
      cuda::bitlinear_rows(&out, 1, codes.view, nullptr, 0, HiddenActivation::relu2, nullptr);
      const std::vector<float> all = y.to_host();
      std::vector<float> got(static_cast<std::size_t>(n_tokens * s.n_out));
      for (int64_t t = 0; t < n_tokens; ++t)
        for (int64_t o = 0; o < s.n_out; ++o)
          got[static_cast<std::size_t>(t * s.n_out + o)] = all[static_cast<std::size_t>(t * ld + o)];
      expect_identical(got, ref_tokens(w, q, steps, n_tokens));
    }
  }
}

TEST(CudaBitlinear, ThreeMatricesInOneLaunchEqualEachAlone) {
  A48_REQUIRE_CUDA_DEVICE();
  const int64_t n_in = 200, n_tokens = 3;
  const int64_t n_outs[3] = {96, 33, 33};
  const std::vector<int8_t> q = test::random_codes(n_tokens, n_in, 7, -8, 7, 0.2);
  const std::vector<float> steps = test::uniform(n_tokens, 8, 0.3f);
  test::DeviceCodes codes = test::upload_codes(q, n_tokens, n_in, steps);
  std::vector<LinearWeights> ws;
  std::vector<cuda::DeviceTernary> dws;
  std::vector<cuda::DeviceBuffer<float>> ys;
  std::vector<cuda::BitlinearOutput> outs;
  for (int i = 0; i < 3; ++i) {
    ws.push_back(test::random_ternary(n_outs[i], n_in, 20u + static_cast<uint32_t>(i)));
    dws.push_back(cuda::upload_ternary(cuda::pack_ternary(ws.back(), cuda::TernaryOrder::rows)));
    ys.push_back(test::poisoned(static_cast<std::size_t>(n_tokens * n_outs[i])));
  }
  for (int i = 0; i < 3; ++i) outs.push_back({&dws[static_cast<std::size_t>(i)], ys[static_cast<std::size_t>(i)].data(), n_outs[i]});
  cuda::bitlinear_rows(outs.data(), 3, codes.view, nullptr, 0, HiddenActivation::relu2, nullptr);
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    expect_identical(ys[static_cast<std::size_t>(i)].to_host(), ref_tokens(ws[static_cast<std::size_t>(i)], q, steps, n_tokens));
  }
}

TEST(CudaBitlinear, RowMaskSkipsRowsWhoseGateIsNotPositive) {
  A48_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 300;
  for (const Shape& s : kShapes) {
    for (int64_t n_tokens : {1, 4, 9}) {
      SCOPED_TRACE(testing::Message() << "[" << s.n_out << ", " << s.n_in << "] tokens " << n_tokens);
      const LinearWeights w = test::random_ternary(s.n_out, s.n_in, seed++);
      const std::vector<int8_t> q = test::random_codes(n_tokens, s.n_in, seed++, -8, 7, 0.2);
      const std::vector<float> steps = test::uniform(static_cast<std::size_t>(n_tokens), seed++, 0.5f);
      // Gates: mostly negative, so whole rows are skipped; a few tiny positives whose square is 0.
      std::vector<float> gate = test::uniform(static_cast<std::size_t>(n_tokens * s.n_out), seed++);
      for (std::size_t i = 0; i < gate.size(); ++i) {
        if (i % 3 != 0) gate[i] = -std::fabs(gate[i]);
        if (i % 11 == 0) gate[i] = 1e-30f;
      }
      // Rows negative for every token (skipped whole).
      for (int64_t o = 0; o < s.n_out; o += 4)
        for (int64_t t = 0; t < n_tokens; ++t) gate[static_cast<std::size_t>(t * s.n_out + o)] = -1.0f;
      const cuda::DeviceTernary dw = cuda::upload_ternary(cuda::pack_ternary(w, cuda::TernaryOrder::rows));
      test::DeviceCodes codes = test::upload_codes(q, n_tokens, s.n_in, steps);
      cuda::DeviceBuffer<float> dgate = cuda::to_device(gate);
      cuda::DeviceBuffer<float> y = test::poisoned(static_cast<std::size_t>(n_tokens * s.n_out));
      const cuda::BitlinearOutput out{&dw, y.data(), s.n_out};
      cuda::bitlinear_rows(&out, 1, codes.view, dgate.data(), s.n_out, HiddenActivation::relu2, nullptr);
      expect_identical(y.to_host(), ref_tokens(w, q, steps, n_tokens, &gate));
    }
  }
}

TEST(CudaBitlinear, FusedGluEqualsGateThenMaskedUp) {
  A48_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 700;
  for (const Shape& s : kShapes) {
    for (int64_t n_tokens : {1, 2, 3, 6, 11, 17}) {
      SCOPED_TRACE(testing::Message() << "[" << s.n_out << ", " << s.n_in << "] tokens " << n_tokens);
      const LinearWeights wg = test::random_ternary(s.n_out, s.n_in, seed++);
      const LinearWeights wu = test::random_ternary(s.n_out, s.n_in, seed++);
      const std::vector<int8_t> q = test::random_codes(n_tokens, s.n_in, seed++, -8, 7, 0.2);
      const std::vector<float> steps = test::uniform(static_cast<std::size_t>(n_tokens), seed++, 0.5f);
      const cuda::DeviceTernary dg = cuda::upload_ternary(cuda::pack_ternary(wg, cuda::TernaryOrder::rows));
      const cuda::DeviceTernary du = cuda::upload_ternary(cuda::pack_ternary(wu, cuda::TernaryOrder::rows));
      test::DeviceCodes codes = test::upload_codes(q, n_tokens, s.n_in, steps);
      const int64_t ld = s.n_out + 2;
      cuda::DeviceBuffer<float> gy = test::poisoned(static_cast<std::size_t>(n_tokens * ld));
      cuda::DeviceBuffer<float> uy = test::poisoned(static_cast<std::size_t>(n_tokens * ld));
      cuda::bitlinear_glu(dg, du, codes.view, gy.data(), uy.data(), ld, HiddenActivation::relu2, nullptr);
      const std::vector<float> want_gate = ref_tokens(wg, q, steps, n_tokens);
      const std::vector<float> want_up = ref_tokens(wu, q, steps, n_tokens, &want_gate);
      const std::vector<float> all_g = gy.to_host(), all_u = uy.to_host();
      std::vector<float> got_g(want_gate.size()), got_u(want_up.size());
      for (int64_t t = 0; t < n_tokens; ++t)
        for (int64_t o = 0; o < s.n_out; ++o) {
          got_g[static_cast<std::size_t>(t * s.n_out + o)] = all_g[static_cast<std::size_t>(t * ld + o)];
          got_u[static_cast<std::size_t>(t * s.n_out + o)] = all_u[static_cast<std::size_t>(t * ld + o)];
        }
      expect_identical(got_g, want_gate);
      expect_identical(got_u, want_up);
    }
  }
}

TEST(CudaBitlinear, ColumnsReadOnlyNonZeroInputsAndEqualReference) {
  A48_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 500;
  for (const Shape& s : kShapes) {
    for (int64_t n_tokens : {1, 2, 3, 4, 7}) {
      for (double zeros : {0.0, 0.5, 0.97}) {
        SCOPED_TRACE(testing::Message() << "[" << s.n_out << ", " << s.n_in << "] tokens " << n_tokens
                                        << " zeros " << zeros);
        const LinearWeights w = test::random_ternary(s.n_out, s.n_in, seed++);
        const std::vector<int8_t> q = test::random_codes(n_tokens, s.n_in, seed++, -128, 127, zeros);
        const std::vector<float> steps = test::uniform(static_cast<std::size_t>(n_tokens), seed++, 0.5f);
        const cuda::DeviceTernary dw = cuda::upload_ternary(cuda::pack_ternary(w, cuda::TernaryOrder::columns));
        test::DeviceCodes codes = test::upload_codes(q, n_tokens, s.n_in, steps);
        const int64_t ld = s.n_out + 5;
        cuda::DeviceBuffer<int32_t> acc(static_cast<std::size_t>(n_tokens * ld));
        acc.fill_bytes(0);
        cuda::DeviceBuffer<float> y = test::poisoned(static_cast<std::size_t>(n_tokens * s.n_out));
        cuda::bitlinear_columns(dw, codes.view, acc.data(), ld, nullptr);
        cuda::bitlinear_finalize(acc.data(), ld, s.n_out, w.scale, codes.view, y.data(), s.n_out, true, nullptr);
        expect_identical(y.to_host(), ref_tokens(w, q, steps, n_tokens));
        for (int32_t v : acc.to_host()) ASSERT_EQ(v, 0) << "finalize must leave the accumulator zeroed";
      }
    }
  }
}

}  // namespace
}  // namespace a48
