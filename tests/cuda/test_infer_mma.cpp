// The tensor-core BitLinear (cuda/infer/bitlinear_mma.h) against the dp4a bitlinear_rows and a plain
// host product in int64: integer sums and the same double rescale, so every output must be
// bit-identical, for every block tile. The first test is a CPU model of one warp's m16n8k32 steps
// built from the fragment coordinates the kernel uses (cuda/infer/mma_m16n8k32.h): it checks the
// ldmatrix addresses and the B fragments taken from packed words against the PTX fragment layouts,
// and needs no device.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <optional>

#include "cuda/infer/bitlinear.h"
#include "cuda/infer/bitlinear_mma.h"
#include "cuda/infer/mma_m16n8k32.h"
#include "cuda/infer/packed_ternary.h"
#include "cuda_test_util.h"
#include "infer_test_util.h"
#include "ref/glu.h"

namespace a48 {
namespace {

namespace mma = cuda::mma;

constexpr cuda::MmaTile kTiles[] = {cuda::MmaTile::automatic, cuda::MmaTile::tokens128_rows128,
                                    cuda::MmaTile::tokens64_rows128, cuda::MmaTile::tokens32_rows128};

// ldmatrix.sync.aligned.m8n8.x4.b16 as the PTX ISA defines it, over a row-major byte tile whose
// lanes supply the addresses (row0 + ldsm_a_row, col0 + ldsm_a_col): lanes 8m .. 8m + 7 give the
// rows of matrix m, and thread i receives bytes 4 (i % 4) .. + 3 of row i / 4 of matrix m in
// register m.
std::array<std::array<uint32_t, 4>, 32> ldmatrix_x4(const std::vector<uint8_t>& tile, int pitch, int row0,
                                                    int col0) {
  std::array<std::array<uint32_t, 4>, 32> regs{};
  for (int i = 0; i < 32; ++i) {
    for (int m = 0; m < 4; ++m) {
      const int src = 8 * m + i / 4;
      const std::size_t at = static_cast<std::size_t>((row0 + mma::ldsm_a_row(src)) * pitch + col0 +
                                                      mma::ldsm_a_col(src) + 4 * (i % 4));
      uint32_t v = 0;
      for (int b = 0; b < 4; ++b) v |= static_cast<uint32_t>(tile[at + static_cast<std::size_t>(b)]) << (8 * b);
      regs[static_cast<std::size_t>(i)][static_cast<std::size_t>(m)] = v;
    }
  }
  return regs;
}

int byte_of(uint32_t v, int b) { return static_cast<int>((v >> (8 * b)) & 0xFFu); }

// A second transcription of the layouts, from CUTLASS/CuTe's MMA_Traits of
// SM80_16x8x32_S32S8S8S32_TN: (thread, value) -> column-major index; thread = t0 + 4 t1.
//   A: ((4,8),(4,2,2)) : ((64,1),(16,8,256)), index m + 16 k, value = byte + 4 register
//   B: ((4,8),(4,2))   : ((32,1),(8,128)),    index n + 8 k
//   C: ((4,8),(2,2))   : ((32,1),(16,8)),     index m + 16 n
// The CPU model below cannot check the accumulator layout (it defines the product through it);
// this does, against an independent source.
TEST(CudaBitlinearMma, FragmentCoordinatesAgreeWithCuteLayouts) {
  for (int lane = 0; lane < 32; ++lane) {
    const int t0 = lane % 4, t1 = lane / 4;
    for (int r = 0; r < 4; ++r) {
      for (int b = 0; b < 4; ++b) {
        const int index = 64 * t0 + t1 + 16 * b + 8 * (r % 2) + 256 * (r / 2);
        EXPECT_EQ(mma::a_row(lane, r), index % 16);
        EXPECT_EQ(mma::a_col(lane, r, b), index / 16);
      }
      const int c_index = 32 * t0 + t1 + 16 * (r % 2) + 8 * (r / 2);
      EXPECT_EQ(mma::c_row(lane, r), c_index % 16);
      EXPECT_EQ(mma::c_col(lane, r), c_index / 16);
    }
    for (int r = 0; r < 2; ++r) {
      for (int b = 0; b < 4; ++b) {
        const int index = 32 * t0 + t1 + 8 * b + 128 * r;
        EXPECT_EQ(mma::b_col(lane), index % 8);
        EXPECT_EQ(mma::b_row(lane, r, b), index / 8);
      }
    }
  }
}

TEST(CudaBitlinearMma, WarpStepsModelledOnTheCpuGiveTheProduct) {
  const int n_in = 64, pitch = 144;  // two k32 steps; the kernel's padded row pitch
  for (uint32_t seed : {1u, 2u, 3u}) {
    const LinearWeights w = test::random_ternary(mma::kN, n_in, seed);
    const cuda::TernaryWords packed = cuda::pack_ternary(w, cuda::TernaryOrder::rows);
    const std::vector<int8_t> q = test::random_codes(mma::kM, n_in, seed + 10, -128, 127, 0.1);
    std::vector<uint8_t> tile(static_cast<std::size_t>(mma::kM * pitch), 0xA5);  // the padding is never read
    for (int t = 0; t < mma::kM; ++t)
      for (int i = 0; i < n_in; ++i)
        tile[static_cast<std::size_t>(t * pitch + i)] = static_cast<uint8_t>(q[static_cast<std::size_t>(t * n_in + i)]);

    std::array<std::array<int64_t, 4>, 32> acc{};
    for (int step = 0; step < 2; ++step) {
      const int k0 = step * mma::kK;
      const auto a = ldmatrix_x4(tile, pitch, 0, k0);
      // Gather A and B from the registers by the PTX layouts; every element exactly once.
      int am[mma::kM][mma::kK], bm[mma::kK][mma::kN];
      int a_seen[mma::kM][mma::kK] = {}, b_seen[mma::kK][mma::kN] = {};
      for (int lane = 0; lane < 32; ++lane) {
        for (int r = 0; r < 4; ++r) {
          for (int b = 0; b < 4; ++b) {
            const int row = mma::a_row(lane, r), col = mma::a_col(lane, r, b);
            am[row][col] = static_cast<int8_t>(byte_of(a[static_cast<std::size_t>(lane)][static_cast<std::size_t>(r)], b));
            ++a_seen[row][col];
            ASSERT_EQ(am[row][col], q[static_cast<std::size_t>(row * n_in + k0 + col)]) << "lane " << lane;
          }
        }
        for (int r = 0; r < 2; ++r) {
          const uint32_t word = packed.words[static_cast<std::size_t>(mma::b_col(lane) * packed.words_per_line +
                                                                      k0 / cuda::kCodesPerWord + r)];
          const uint32_t frag = mma::b_from_word(word, lane);
          for (int b = 0; b < 4; ++b) {
            const int k = mma::b_row(lane, r, b), n = mma::b_col(lane);
            bm[k][n] = byte_of(frag, b);
            ++b_seen[k][n];
            ASSERT_EQ(bm[k][n], cuda::ternary_code(packed, n, k0 + k) + 1) << "lane " << lane;
          }
        }
      }
      for (int m = 0; m < mma::kM; ++m)
        for (int k = 0; k < mma::kK; ++k) ASSERT_EQ(a_seen[m][k], 1);
      for (int k = 0; k < mma::kK; ++k)
        for (int n = 0; n < mma::kN; ++n) ASSERT_EQ(b_seen[k][n], 1);
      // D = A B + C, each lane's registers at the PTX accumulator layout.
      for (int lane = 0; lane < 32; ++lane) {
        for (int r = 0; r < 4; ++r) {
          int64_t d = 0;
          for (int k = 0; k < mma::kK; ++k) d += int64_t{am[mma::c_row(lane, r)][k]} * bm[k][mma::c_col(lane, r)];
          acc[static_cast<std::size_t>(lane)][static_cast<std::size_t>(r)] += d;
        }
      }
    }
    // Register r of a lane is token c_row, output row c_col: sum (t + 1) q over the line.
    for (int lane = 0; lane < 32; ++lane) {
      for (int r = 0; r < 4; ++r) {
        const int t = mma::c_row(lane, r), o = mma::c_col(lane, r);
        int64_t want = 0;
        for (int i = 0; i < n_in; ++i) {
          want += (int64_t{w.ternary[static_cast<std::size_t>(o * n_in + i)]} + 1) * q[static_cast<std::size_t>(t * n_in + i)];
        }
        EXPECT_EQ(acc[static_cast<std::size_t>(lane)][static_cast<std::size_t>(r)], want) << "lane " << lane << " r " << r;
      }
    }
  }
}

// y[t, o] = float(double(alpha) double(step_t) sum_i t[o, i] q[t, i]) with an int64 sum; 0 where a
// gate ([n_tokens, ld_gate]) activates to 0.
std::vector<float> host_product(const LinearWeights& w, const std::vector<int8_t>& q, const std::vector<float>& steps,
                                int64_t n_tokens, const std::vector<float>* gate, int64_t ld_gate,
                                HiddenActivation act) {
  std::vector<float> y(static_cast<std::size_t>(n_tokens * w.n_out));
  for (int64_t t = 0; t < n_tokens; ++t) {
    const int8_t* qt = q.data() + t * w.n_in;
    for (int64_t o = 0; o < w.n_out; ++o) {
      const int8_t* wo = w.ternary.data() + o * w.n_in;
      int64_t sum = 0;
      for (int64_t i = 0; i < w.n_in; ++i) sum += int64_t{wo[i]} * qt[i];
      float v = static_cast<float>(static_cast<double>(w.scale) * static_cast<double>(steps[static_cast<std::size_t>(t)]) *
                                   static_cast<double>(sum));
      if (gate != nullptr) {
        const float g = (*gate)[static_cast<std::size_t>(t * ld_gate + o)];
        if ((act == HiddenActivation::relu2 ? ref::relu2(g) : ref::silu(g)) == 0.0f) v = 0.0f;
      }
      y[static_cast<std::size_t>(t * w.n_out + o)] = v;
    }
  }
  return y;
}

void expect_identical(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int64_t bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) {
      if (bad++ < 5) ADD_FAILURE() << what << ": index " << i << ": got " << got[i] << ", want " << want[i];
    }
  }
  EXPECT_EQ(bad, 0) << what;
}

// The stacked matrices of one launch, on the device.
struct Stack {
  std::vector<LinearWeights> w;
  std::vector<cuda::DeviceTernary> d;
};

Stack make_stack(const std::vector<int64_t>& n_outs, int64_t n_in, uint32_t seed, double zero_fraction = 0.4) {
  Stack s;
  for (int64_t n_out : n_outs) {
    s.w.push_back(test::random_ternary(n_out, n_in, seed++, zero_fraction));
    s.d.push_back(cuda::upload_ternary(cuda::pack_ternary(s.w.back(), cuda::TernaryOrder::rows)));
  }
  return s;
}

// One launch into NaN-poisoned outputs of stride n_out + 3 (the mma kernel with `tile`, or the dp4a
// bitlinear_rows without); returns each matrix's [n_tokens, n_out] and checks that the 3 padding
// columns were not written.
std::vector<std::vector<float>> run(const Stack& s, const test::DeviceCodes& codes, const float* gate, int64_t ld_gate,
                                    HiddenActivation act, std::optional<cuda::MmaTile> tile) {
  const int64_t n_tokens = codes.view.n_tokens;
  std::vector<cuda::DeviceBuffer<float>> ys;
  std::vector<cuda::BitlinearOutput> outs;
  for (const cuda::DeviceTernary& d : s.d) ys.push_back(test::poisoned(static_cast<std::size_t>(n_tokens * (d.n_out + 3))));
  for (std::size_t i = 0; i < s.d.size(); ++i) outs.push_back({&s.d[i], ys[i].data(), s.d[i].n_out + 3});
  const int n = static_cast<int>(outs.size());
  if (tile.has_value()) {
    cuda::bitlinear_rows_mma(outs.data(), n, codes.view, gate, ld_gate, act, nullptr, *tile);
  } else {
    cuda::bitlinear_rows(outs.data(), n, codes.view, gate, ld_gate, act, nullptr);
  }
  CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<std::vector<float>> result;
  for (std::size_t m = 0; m < s.d.size(); ++m) {
    const int64_t n_out = s.d[m].n_out, ld = n_out + 3;
    const std::vector<float> all = ys[m].to_host();
    std::vector<float> y(static_cast<std::size_t>(n_tokens * n_out));
    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int64_t o = 0; o < ld; ++o) {
        const float v = all[static_cast<std::size_t>(t * ld + o)];
        if (o < n_out) {
          y[static_cast<std::size_t>(t * n_out + o)] = v;
        } else {
          uint32_t bits = 0;
          std::memcpy(&bits, &v, sizeof(bits));
          EXPECT_EQ(bits, 0xFFFFFFFFu) << "padding column " << o << " of token " << t << " was written";
        }
      }
    }
    result.push_back(std::move(y));
  }
  return result;
}

// Every tile and the dp4a kernel against the host product, each matrix of the stack.
void expect_all_kernels_exact(const Stack& s, const std::vector<int8_t>& q, const std::vector<float>& steps,
                              const test::DeviceCodes& codes, const std::vector<float>* gate, int64_t ld_gate,
                              HiddenActivation act) {
  const int64_t n_tokens = codes.view.n_tokens;
  std::optional<cuda::DeviceBuffer<float>> dgate;
  if (gate != nullptr) dgate.emplace(cuda::to_device(*gate));
  const float* g = gate != nullptr ? dgate->data() : nullptr;
  std::vector<std::vector<float>> want;
  for (const LinearWeights& w : s.w) want.push_back(host_product(w, q, steps, n_tokens, gate, ld_gate, act));
  const auto dp4a = run(s, codes, g, ld_gate, act, std::nullopt);
  for (std::size_t m = 0; m < s.w.size(); ++m) expect_identical(dp4a[m], want[m], "dp4a bitlinear_rows");
  for (cuda::MmaTile tile : kTiles) {
    SCOPED_TRACE(cuda::mma_tile_name(tile));
    const auto got = run(s, codes, g, ld_gate, act, tile);
    for (std::size_t m = 0; m < s.w.size(); ++m) {
      expect_identical(got[m], want[m], "mma vs host");
      expect_identical(got[m], dp4a[m], "mma vs dp4a");
    }
  }
}

struct Case {
  std::vector<int64_t> n_outs;
  int64_t n_in;
};

TEST(CudaBitlinearMma, EqualsDp4aAndHostForAwkwardShapesAndTokenCounts) {
  A48_REQUIRE_CUDA_DEVICE();
  const Case cases[] = {{{77}, 2500}, {{1000}, 130}, {{300, 100, 100}, 64}, {{261}, 1000}, {{5, 131}, 191}};
  uint32_t seed = 1000;
  for (const Case& c : cases) {
    for (int64_t n_tokens : {1, 17, 129, 300}) {
      for (const auto& [lo, hi] : {std::pair{-8, 7}, std::pair{-128, 127}}) {
        SCOPED_TRACE(testing::Message() << "rows " << c.n_outs[0] << " (+" << c.n_outs.size() - 1 << " matrices), n_in "
                                        << c.n_in << ", tokens " << n_tokens << ", codes [" << lo << ", " << hi << "]");
        const Stack s = make_stack(c.n_outs, c.n_in, seed);
        seed += 3;
        const std::vector<int8_t> q = test::random_codes(n_tokens, c.n_in, seed++, lo, hi, 0.15);
        const std::vector<float> steps = test::uniform(static_cast<std::size_t>(n_tokens), seed++, 0.5f);
        const test::DeviceCodes codes = test::upload_codes(q, n_tokens, c.n_in, steps);
        expect_all_kernels_exact(s, q, steps, codes, nullptr, 0, HiddenActivation::relu2);
      }
    }
  }
}

TEST(CudaBitlinearMma, LargeTilesAcrossManyBlocks) {
  A48_REQUIRE_CUDA_DEVICE();
  // Enough tokens and rows that every tile runs several blocks in both directions, K of odd chunks.
  const Stack s = make_stack({640, 384, 130}, 1088, 77);
  const int64_t n_tokens = 700;
  const std::vector<int8_t> q = test::random_codes(n_tokens, 1088, 78, -128, 127, 0.3);
  const std::vector<float> steps = test::uniform(static_cast<std::size_t>(n_tokens), 79, 2.0f);
  const test::DeviceCodes codes = test::upload_codes(q, n_tokens, 1088, steps);
  expect_all_kernels_exact(s, q, steps, codes, nullptr, 0, HiddenActivation::relu2);
}

TEST(CudaBitlinearMma, ExtremeCodesStayExact) {
  A48_REQUIRE_CUDA_DEVICE();
  // All weights +1 or all -1 (stored 2 or 0) against all -128 or all 127: the largest sums.
  const int64_t n_in = 4097, n_tokens = 40;
  for (int8_t t_code : {int8_t{1}, int8_t{-1}}) {
    for (int8_t q_code : {int8_t{-128}, int8_t{127}}) {
      SCOPED_TRACE(testing::Message() << "t " << int{t_code} << ", q " << int{q_code});
      Stack s = make_stack({70}, n_in, 5);
      for (int8_t& v : s.w[0].ternary) v = t_code;
      s.d[0] = cuda::upload_ternary(cuda::pack_ternary(s.w[0], cuda::TernaryOrder::rows));
      std::vector<int8_t> q(static_cast<std::size_t>(n_tokens * n_in), q_code);
      q[3] = 0;  // one token not constant
      const std::vector<float> steps = test::uniform(static_cast<std::size_t>(n_tokens), 6, 1.0f);
      const test::DeviceCodes codes = test::upload_codes(q, n_tokens, n_in, steps);
      expect_all_kernels_exact(s, q, steps, codes, nullptr, 0, HiddenActivation::relu2);
    }
  }
}

TEST(CudaBitlinearMma, GateMaskMatchesForBothActivations) {
  A48_REQUIRE_CUDA_DEVICE();
  const Case cases[] = {{{77}, 2500}, {{1000}, 130}, {{300}, 64}};
  uint32_t seed = 2000;
  for (const Case& c : cases) {
    for (int64_t n_tokens : {1, 17, 129, 300}) {
      for (HiddenActivation act : {HiddenActivation::relu2, HiddenActivation::silu}) {
        SCOPED_TRACE(testing::Message() << "rows " << c.n_outs[0] << ", n_in " << c.n_in << ", tokens " << n_tokens
                                        << (act == HiddenActivation::relu2 ? ", relu2" : ", silu"));
        const Stack s = make_stack(c.n_outs, c.n_in, seed++);
        const std::vector<int8_t> q = test::random_codes(n_tokens, c.n_in, seed++, -8, 7, 0.2);
        const std::vector<float> steps = test::uniform(static_cast<std::size_t>(n_tokens), seed++, 0.5f);
        const test::DeviceCodes codes = test::upload_codes(q, n_tokens, c.n_in, steps);
        // Gates with stride n_out + 1: mostly negative; tiny positives whose square is 0; exact
        // zeros of both signs; large negatives whose SiLU is -0.
        const int64_t ld_gate = c.n_outs[0] + 1;
        std::vector<float> gate = test::uniform(static_cast<std::size_t>(n_tokens * ld_gate), seed++);
        for (std::size_t i = 0; i < gate.size(); ++i) {
          if (i % 3 != 0) gate[i] = -std::fabs(gate[i]);
          if (i % 11 == 0) gate[i] = 1e-30f;
          if (i % 13 == 0) gate[i] = 0.0f;
          if (i % 17 == 0) gate[i] = -0.0f;
          if (i % 19 == 0) gate[i] = -200.0f;
        }
        expect_all_kernels_exact(s, q, steps, codes, &gate, ld_gate, act);
      }
    }
  }
}

TEST(CudaBitlinearMma, BadShapesThrow) {
  A48_REQUIRE_CUDA_DEVICE();
  const Stack s = make_stack({64, 32}, 100, 9);
  const Stack other = make_stack({16}, 101, 10);
  const cuda::DeviceTernary columns =
      cuda::upload_ternary(cuda::pack_ternary(s.w[0], cuda::TernaryOrder::columns));
  const int64_t n_tokens = 5;
  const std::vector<int8_t> q = test::random_codes(n_tokens, 100, 11, -8, 7, 0.1);
  const std::vector<float> steps = test::uniform(static_cast<std::size_t>(n_tokens), 12, 0.5f);
  const test::DeviceCodes codes = test::upload_codes(q, n_tokens, 100, steps);
  cuda::DeviceBuffer<float> y = test::poisoned(static_cast<std::size_t>(n_tokens * 64));
  cuda::DeviceBuffer<float> gate = test::poisoned(static_cast<std::size_t>(n_tokens * 64));
  const auto relu2 = HiddenActivation::relu2;
  const cuda::BitlinearOutput good{&s.d[0], y.data(), 64};
  const cuda::BitlinearOutput four[4] = {good, good, good, good};
  EXPECT_THROW(cuda::bitlinear_rows_mma(four, 0, codes.view, nullptr, 0, relu2, nullptr), Error);
  EXPECT_THROW(cuda::bitlinear_rows_mma(four, 4, codes.view, nullptr, 0, relu2, nullptr), Error);
  EXPECT_THROW(cuda::bitlinear_rows_mma(four, 2, codes.view, gate.data(), 64, relu2, nullptr), Error);
  const cuda::BitlinearOutput cols{&columns, y.data(), 64};
  EXPECT_THROW(cuda::bitlinear_rows_mma(&cols, 1, codes.view, nullptr, 0, relu2, nullptr), Error);
  const cuda::BitlinearOutput mixed[2] = {good, {&other.d[0], y.data(), 64}};
  EXPECT_THROW(cuda::bitlinear_rows_mma(mixed, 2, codes.view, nullptr, 0, relu2, nullptr), Error);
  const cuda::BitlinearOutput narrow{&s.d[0], y.data(), 63};
  EXPECT_THROW(cuda::bitlinear_rows_mma(&narrow, 1, codes.view, nullptr, 0, relu2, nullptr), Error);
  const cuda::BitlinearOutput huge{&s.d[0], y.data(), int64_t{1} << 30};  // 5 x 2^30 floats: 32-bit offsets overflow
  EXPECT_THROW(cuda::bitlinear_rows_mma(&huge, 1, codes.view, nullptr, 0, relu2, nullptr), Error);
  const cuda::BitlinearOutput no_y{&s.d[0], nullptr, 64};
  EXPECT_THROW(cuda::bitlinear_rows_mma(&no_y, 1, codes.view, nullptr, 0, relu2, nullptr), Error);
  EXPECT_THROW(cuda::bitlinear_rows_mma(&good, 1, codes.view, gate.data(), 63, relu2, nullptr), Error);
  cuda::ActivationCodes bad = codes.view;
  bad.ld = 96;  // not a multiple of 64
  EXPECT_THROW(cuda::bitlinear_rows_mma(&good, 1, bad, nullptr, 0, relu2, nullptr), Error);
  bad = codes.view;
  bad.ld = 64;  // < padded n_in (128)
  EXPECT_THROW(cuda::bitlinear_rows_mma(&good, 1, bad, nullptr, 0, relu2, nullptr), Error);
  bad = codes.view;
  bad.n_tokens = 0;
  EXPECT_THROW(cuda::bitlinear_rows_mma(&good, 1, bad, nullptr, 0, relu2, nullptr), Error);
  bad = codes.view;
  bad.q = codes.view.q + 8;  // not 16-byte aligned
  EXPECT_THROW(cuda::bitlinear_rows_mma(&good, 1, bad, nullptr, 0, relu2, nullptr), Error);
  bad = codes.view;
  bad.sum = nullptr;
  EXPECT_THROW(cuda::bitlinear_rows_mma(&good, 1, bad, nullptr, 0, relu2, nullptr), Error);
  // The output was never written.
  for (float v : y.to_host()) ASSERT_TRUE(std::isnan(v));
}

TEST(CudaBitlinearMma, AutomaticTilePicksLargeTilesOnlyWhenTheyFillTheDevice) {
  // A rule, not a device property: no device needed.
  EXPECT_EQ(cuda::mma_tile_for(1, 4096, 132), cuda::MmaTile::tokens32_rows128);
  EXPECT_EQ(cuda::mma_tile_for(32, 100000, 132), cuda::MmaTile::tokens32_rows128);
  EXPECT_EQ(cuda::mma_tile_for(100, 2560, 132), cuda::MmaTile::tokens32_rows128);
  EXPECT_EQ(cuda::mma_tile_for(512, 2560, 132), cuda::MmaTile::tokens64_rows128);    // 80 large, 160 medium
  EXPECT_EQ(cuda::mma_tile_for(512, 6912, 132), cuda::MmaTile::tokens128_rows128);   // 216 large blocks
  EXPECT_EQ(cuda::mma_tile_for(2048, 2560, 132), cuda::MmaTile::tokens128_rows128);  // 320 large blocks
}

}  // namespace
}  // namespace a48
