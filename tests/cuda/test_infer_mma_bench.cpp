// Benchmark of the tensor-core BitLinear (cuda/infer/bitlinear_mma.h) on prefill shapes
// (A48_CUDA_INFER_BENCH=1; skipped otherwise): for the 2B4T projections (fused qkv 3840x2560, o
// 2560x2560, gate/up 6912x2560, down 2560x6912) and the 7B ones (fused qkv 3x4096x4096, up
// 11008x4096, down 4096x11008) at 512 and 2048 tokens, the median time of bitlinear_rows_mma
// (automatic tile and every tile), its TOPS (2 T N K) against the mma.sync INT8 peak measured on
// the H100, the dp4a bitlinear_rows, a cuBLASLt INT8 GEMM (int8 x int8 -> int32, the ternary
// weights expanded to int8) and a cuBLAS bf16 GEMM (bf16 in and out, fp32 accumulation) of the
// same shape. Prints a markdown table; also checks that every tile's outputs equal the dp4a ones.
//
// Weights: every kind (packed, int8, bf16) rotates over device copies totalling >= 128 MB, more
// than the 50 MB L2, since a prefill step reads each layer's weights once from DRAM; it matters
// for the int8 and bf16 baselines at 512 tokens (their weights are 16-100 MB), hardly for the
// packed ones (2-13 MB). Activations: one copy, as a step reads those the previous kernel wrote.
#include <gtest/gtest.h>

#include <cublasLt.h>
#include <cublas_v2.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include "cuda/common/check.h"
#include "cuda/infer/bitlinear.h"
#include "cuda/infer/bitlinear_mma.h"
#include "cuda_test_util.h"
#include "infer_test_util.h"

namespace a48 {
namespace {

constexpr double kMmaSyncPeakTops = 1280.0;  // INT8 mma.sync peak measured on the H100
constexpr int64_t kRotateBytes = int64_t{128} << 20;

bool bench_enabled() {
  const char* on = std::getenv("A48_CUDA_INFER_BENCH");
  return on != nullptr && std::strcmp(on, "1") == 0;
}

// Median over 7 runs of the mean time of `launch(i)` (i = 0, 1, ...), microseconds; each run has
// enough launches for ~20 ms.
double time_us(const std::function<void(int)>& launch) {
  cudaEvent_t a, b;
  CUDA_CHECK(cudaEventCreate(&a));
  CUDA_CHECK(cudaEventCreate(&b));
  auto run_ms = [&](int iters, int first) {
    CUDA_CHECK(cudaEventRecord(a));
    for (int i = 0; i < iters; ++i) launch(first + i);
    CUDA_CHECK(cudaEventRecord(b));
    CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    return static_cast<double>(ms);
  };
  run_ms(3, 0);  // warm-up: clocks, cuBLAS kernel choice, shared memory configuration
  const int iters = std::clamp(static_cast<int>(20.0 / std::max(run_ms(1, 3), 1e-3)), 1, 500);
  std::vector<double> runs;
  for (int r = 0; r < 7; ++r) runs.push_back(1000.0 * run_ms(iters, r * iters) / iters);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(runs.begin(), runs.end());
  return runs[3];
}

int copies_for(int64_t bytes) { return static_cast<int>(std::max<int64_t>(2, (kRotateBytes + bytes - 1) / bytes)); }

uint16_t bf16_bits(float v) {
  uint32_t u = 0;
  std::memcpy(&u, &v, sizeof(u));
  u += 0x7FFFu + ((u >> 16) & 1u);  // round to nearest even
  return static_cast<uint16_t>(u >> 16);
}

// Y [t, n] (int32, row-major) = Q [t, k] W [n, k]^T through cuBLASLt's IMMA kernels: in its column-
// major terms C [n, t] = op_T(W as [k, n]) x (Q as [k, t]), the TN layout INT8 GEMMs require.
class LtInt8Gemm {
 public:
  LtInt8Gemm(int64_t n, int64_t t, int64_t k) : workspace_(std::size_t{32} << 20) {
    CUBLAS_CHECK(cublasLtCreate(&handle_));
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc_, CUBLAS_COMPUTE_32I, CUDA_R_32I));
    const cublasOperation_t op_t = CUBLAS_OP_T;
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSA, &op_t, sizeof(op_t)));
    const auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&a_, CUDA_R_8I, u(k), u(n), k));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&b_, CUDA_R_8I, u(k), u(t), k));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&c_, CUDA_R_32I, u(n), u(t), n));
    cublasLtMatmulPreference_t preference = nullptr;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
    const uint64_t bytes = workspace_.size();
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &bytes,
                                                      sizeof(bytes)));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t status =
        cublasLtMatmulAlgoGetHeuristic(handle_, desc_, a_, b_, c_, c_, preference, 1, &result, &found);
    cublasLtMatmulPreferenceDestroy(preference);
    ok_ = status == CUBLAS_STATUS_SUCCESS && found > 0;
    algo_ = result.algo;
  }
  ~LtInt8Gemm() {
    cublasLtMatrixLayoutDestroy(a_);
    cublasLtMatrixLayoutDestroy(b_);
    cublasLtMatrixLayoutDestroy(c_);
    cublasLtMatmulDescDestroy(desc_);
    cublasLtDestroy(handle_);
  }
  LtInt8Gemm(const LtInt8Gemm&) = delete;
  LtInt8Gemm& operator=(const LtInt8Gemm&) = delete;

  bool ok() const { return ok_; }
  void run(const int8_t* w, const int8_t* q, int32_t* y) {
    const int32_t one = 1, zero = 0;
    CUBLAS_CHECK(cublasLtMatmul(handle_, desc_, &one, w, a_, q, b_, &zero, y, c_, y, c_, &algo_, workspace_.data(),
                                workspace_.size(), nullptr));
  }

 private:
  cublasLtHandle_t handle_ = nullptr;
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t a_ = nullptr, b_ = nullptr, c_ = nullptr;
  cublasLtMatmulAlgo_t algo_{};
  cuda::DeviceBuffer<unsigned char> workspace_;
  bool ok_ = false;
};

struct Shape {
  const char* model;
  std::vector<int64_t> n_outs;  // stacked matrices (q/k/v fused)
  int64_t n_in;
};

struct Row {
  std::string model, shape, tile;
  int64_t tokens = 0;
  double mma_us = 0, tile_us[3] = {0, 0, 0}, dp4a_us = 0, int8_us = 0, bf16_us = 0;
  double ops = 0;  // 2 T N K
};

// Ternary codes with P(0) = 1/2, P(+-1) = 1/4 each (the trained models' mix is close to this).
LinearWeights bench_linear(int64_t n_out, int64_t n_in, uint32_t seed) {
  return test::random_ternary(n_out, n_in, seed, 0.5);
}

Row bench_shape(const Shape& shape, int64_t tokens, cublasHandle_t cublas) {
  int64_t n = 0;
  for (int64_t o : shape.n_outs) n += o;
  const int64_t k = shape.n_in;
  Row row;
  row.model = shape.model;
  row.shape = (shape.n_outs.size() > 1 ? std::to_string(shape.n_outs.size()) + " stacked " : std::string()) +
              std::to_string(n) + "x" + std::to_string(k);
  row.tokens = tokens;
  row.ops = 2.0 * static_cast<double>(tokens) * static_cast<double>(n) * static_cast<double>(k);

  // Weights: packed (for both BitLinear kernels), expanded to int8 and to bf16 (t as +-1/0).
  std::vector<LinearWeights> ws;
  std::vector<cuda::TernaryWords> packed;
  int64_t packed_bytes = 0;
  for (std::size_t i = 0; i < shape.n_outs.size(); ++i) {
    ws.push_back(bench_linear(shape.n_outs[i], k, static_cast<uint32_t>(100 + i)));
    packed.push_back(cuda::pack_ternary(ws.back(), cuda::TernaryOrder::rows));
    packed_bytes += packed.back().n_lines * packed.back().words_per_line * 4;
  }
  std::vector<int8_t> w8(static_cast<std::size_t>(n * k));
  std::vector<uint16_t> w16(static_cast<std::size_t>(n * k));
  {
    std::size_t at = 0;
    for (const LinearWeights& w : ws)
      for (int8_t t : w.ternary) {
        w8[at] = t;
        w16[at++] = bf16_bits(static_cast<float>(t) * w.scale);
      }
  }
  std::vector<std::vector<cuda::DeviceTernary>> dpacked(static_cast<std::size_t>(copies_for(packed_bytes)));
  for (auto& copy : dpacked)
    for (const cuda::TernaryWords& p : packed) copy.push_back(cuda::upload_ternary(p));
  std::vector<cuda::DeviceBuffer<int8_t>> d8;
  for (int i = 0; i < copies_for(n * k); ++i) d8.push_back(cuda::to_device(w8));
  std::vector<cuda::DeviceBuffer<uint16_t>> d16;
  for (int i = 0; i < copies_for(2 * n * k); ++i) d16.push_back(cuda::to_device(w16));

  // INT4-range activation codes with a few zeros (qkv/gate/up inputs of a4.8), and their bf16 image.
  const std::vector<int8_t> q = test::random_codes(tokens, k, 7, -8, 7, 0.05);
  const std::vector<float> steps(static_cast<std::size_t>(tokens), 0.01f);
  const test::DeviceCodes codes = test::upload_codes(q, tokens, k, steps);
  std::vector<uint16_t> x16(q.size());
  for (std::size_t i = 0; i < q.size(); ++i) x16[i] = bf16_bits(0.01f * static_cast<float>(q[i]));
  const cuda::DeviceBuffer<uint16_t> dx16 = cuda::to_device(x16);

  cuda::DeviceBuffer<float> y(static_cast<std::size_t>(tokens * n)), y_dp4a(static_cast<std::size_t>(tokens * n));
  cuda::DeviceBuffer<int32_t> y32(static_cast<std::size_t>(tokens * n));
  cuda::DeviceBuffer<uint16_t> y16(static_cast<std::size_t>(tokens * n));
  // Stacked outputs side by side: matrix i at columns [start_i, start_i + n_out_i) of [T, n].
  auto outputs = [&](std::size_t copy, float* base) {
    std::vector<cuda::BitlinearOutput> outs;
    int64_t start = 0;
    for (const cuda::DeviceTernary& d : dpacked[copy]) {
      outs.push_back({&d, base + start, n});
      start += d.n_out;
    }
    return outs;
  };
  row.dp4a_us = time_us([&](int i) {
    const auto outs = outputs(static_cast<std::size_t>(i) % dpacked.size(), y_dp4a.data());
    cuda::bitlinear_rows(outs.data(), static_cast<int>(outs.size()), codes.view, nullptr, 0, HiddenActivation::relu2,
                         nullptr);
  });
  const std::vector<float> want = y_dp4a.to_host();  // every copy holds the same matrices
  // Times one tile (or the automatic choice) and checks its last product against the dp4a one.
  auto mma = [&](cuda::MmaTile tile) {
    const double us = time_us([&](int i) {
      const auto outs = outputs(static_cast<std::size_t>(i) % dpacked.size(), y.data());
      cuda::bitlinear_rows_mma(outs.data(), static_cast<int>(outs.size()), codes.view, nullptr, 0,
                               HiddenActivation::relu2, nullptr, tile);
    });
    const std::vector<float> got = y.to_host();
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
        << row.shape << " at " << tokens << " tokens, tile " << cuda::mma_tile_name(tile) << ": mma and dp4a differ";
    return us;
  };
  row.mma_us = mma(cuda::MmaTile::automatic);
  int device = 0, sm_count = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, device));
  row.tile = cuda::mma_tile_name(cuda::mma_tile_for(tokens, n, sm_count));
  const cuda::MmaTile tiles[3] = {cuda::MmaTile::tokens128_rows128, cuda::MmaTile::tokens64_rows128,
                                  cuda::MmaTile::tokens32_rows128};
  for (int t = 0; t < 3; ++t) row.tile_us[t] = mma(tiles[t]);

  LtInt8Gemm lt(n, tokens, k);
  row.int8_us = lt.ok() ? time_us([&](int i) { lt.run(d8[static_cast<std::size_t>(i) % d8.size()].data(), codes.view.q, y32.data()); })
                        : std::nan("");
  const float one = 1.0f, zero = 0.0f;
  row.bf16_us = time_us([&](int i) {
    const cublasStatus_t status = cublasGemmEx(
        cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(tokens), static_cast<int>(k), &one,
        d16[static_cast<std::size_t>(i) % d16.size()].data(), CUDA_R_16BF, static_cast<int>(k), dx16.data(),
        CUDA_R_16BF, static_cast<int>(k), &zero, y16.data(), CUDA_R_16BF, static_cast<int>(n), CUBLAS_COMPUTE_32F,
        CUBLAS_GEMM_DEFAULT);
    CUBLAS_CHECK(status);
  });
  return row;
}

TEST(CudaBitlinearMmaBench, PrefillShapes) {
  if (!bench_enabled()) GTEST_SKIP() << "set A48_CUDA_INFER_BENCH=1 to run";
  A48_REQUIRE_CUDA_DEVICE();
  const Shape shapes[] = {
      {"2B4T", {2560, 640, 640}, 2560}, {"2B4T", {2560}, 2560},           {"2B4T", {6912}, 2560},
      {"2B4T", {2560}, 6912},           {"7B", {4096, 4096, 4096}, 4096}, {"7B", {11008}, 4096},
      {"7B", {4096}, 11008},
  };
  cublasHandle_t cublas = nullptr;
  CUBLAS_CHECK(cublasCreate(&cublas));
  cuda::DeviceBuffer<unsigned char> workspace(std::size_t{64} << 20);
  CUBLAS_CHECK(cublasSetWorkspace(cublas, workspace.data(), workspace.size()));
  std::vector<Row> rows;
  for (int64_t tokens : {512, 2048})
    for (const Shape& s : shapes) rows.push_back(bench_shape(s, tokens, cublas));
  cublasDestroy(cublas);

  for (const std::string& d : cuda::describe_devices()) std::printf("device: %s\n", d.c_str());
  std::printf("\n| model | N x K | tokens | mma us | mma TOPS | of %.0f | auto tile | 128x128 us | 64x128 us | "
              "32x128 us | dp4a us | cuBLASLt int8 us | int8 TOPS | cuBLAS bf16 us | bf16 TFLOPS |\n",
              kMmaSyncPeakTops);
  std::printf("|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const Row& r : rows) {
    const double tops = r.ops / (r.mma_us * 1e6);
    std::printf("| %s | %s | %lld | %.1f | %.0f | %.1f%% | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f | %.1f | %.0f |\n",
                r.model.c_str(), r.shape.c_str(), static_cast<long long>(r.tokens), r.mma_us, tops,
                100.0 * tops / kMmaSyncPeakTops, r.tile.c_str(), r.tile_us[0], r.tile_us[1], r.tile_us[2], r.dp4a_us,
                r.int8_us, r.ops / (r.int8_us * 1e6), r.bf16_us, r.ops / (r.bf16_us * 1e6));
  }
}

}  // namespace
}  // namespace a48
