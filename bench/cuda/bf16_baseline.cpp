// a48_bench_cuda_bf16: the bf16 baseline that `a48 bench --device cuda` is compared with, on the
// same model shapes (model/model_shapes.h: 2b4t, 7b, ...) with random bf16 weights generated on
// the device. Decode steps at batches B (every GEMM with B rows, the head on B rows) and prefill
// of P tokens (every GEMM with P rows, the head on the last token only, as a48's forward returns
// the last token's logits), each step captured once into a CUDA graph and replayed.
//
// What it counts: THE LINEAR LAYERS AND THE LM HEAD ONLY, as cuBLAS GEMMs (bf16 in, fp32
// accumulate; bf16 activations, fp32 logits). No embedding lookup, RMSNorm, RoPE, attention or KV
// cache, activation function, residual adds, sampling or host round trip, all of which a48's
// tokens/s include. It therefore FLATTERS bf16: an upper bound on a bf16 engine of this shape
// (most for prefill at long prompts, where attention grows with the square of the length).
//
// Per layer, by default as bf16 engines run them, 4 GEMMs: q/k/v fused [q + 2 kv, d], o_proj
// [d, q], gate/up fused [2 F, d], down [d, F] (--separate: the 7 projections one by one). Decode
// reports GB/s (weight bytes read per step / time), prefill TFLOP/s (2 x rows x weights / time).
// Markdown to stdout; --json FILE writes the records that tools/bench/merge_cuda_bench.py reads.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bf16_fill.h"
#include "core/error.h"
#include "cuda/common/check.h"
#include "cuda/common/device_buffer.h"
#include "cuda/device_info.h"
#include "model/model_shapes.h"

namespace a48::bench {
namespace {

struct Options {
  std::string shape = "2b4t";
  std::vector<int64_t> batches = {1, 8, 64};
  std::vector<int64_t> prompts = {512, 2048};
  int repetitions = 5;
  bool separate = false;
  int device = 0;
  uint64_t seed = 1;
  std::string json_path;
};

// One GEMM of a step: y [rows, n_out] = x [rows, n_in] W^T, W [n_out, n_in] row-major at `offset`
// values into the weight buffer.
struct Projection {
  int64_t n_out, n_in, offset;
};

// The projections of every layer in order, then the head (last), over one weight buffer.
struct Layout {
  std::vector<Projection> layer_gemms;  // all layers
  Projection head{};
  int64_t layer_values = 0;  // weights of all layers
  int64_t total_values = 0;  // + the head
  int64_t widest_in = 0, widest_out = 0;
};

Layout make_layout(const ModelConfig& c, bool separate) {
  const int64_t d = c.hidden_size, f = c.intermediate_size, q = c.q_size(), kv = c.kv_size();
  // Stored per layer as q, k, v, o, gate, up, down: the fused GEMMs are contiguous sub-blocks.
  std::vector<std::pair<int64_t, int64_t>> shapes;  // {n_out, n_in} per GEMM of a layer
  if (separate) {
    shapes = {{q, d}, {kv, d}, {kv, d}, {d, q}, {f, d}, {f, d}, {d, f}};
  } else {
    shapes = {{q + 2 * kv, d}, {d, q}, {2 * f, d}, {d, f}};
  }
  Layout l;
  int64_t offset = 0;
  for (int64_t layer = 0; layer < c.num_hidden_layers; ++layer) {
    for (const auto& [n_out, n_in] : shapes) {
      l.layer_gemms.push_back({n_out, n_in, offset});
      offset += n_out * n_in;
      l.widest_in = std::max(l.widest_in, n_in);
      l.widest_out = std::max(l.widest_out, n_out);
    }
  }
  l.layer_values = offset;
  l.head = {c.vocab_size, d, offset};
  l.total_values = offset + c.vocab_size * d;
  return l;
}

class Baseline {
 public:
  Baseline(const ModelConfig& config, const Options& options)
      : layout_(make_layout(config, options.separate)), vocab_(config.vocab_size) {
    const int64_t max_batch = *std::max_element(options.batches.begin(), options.batches.end());
    const int64_t max_rows =
        std::max(max_batch, *std::max_element(options.prompts.begin(), options.prompts.end()));
    size_t free_bytes = 0, total_bytes = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    const double need = 2.0 * static_cast<double>(layout_.total_values) +
                        2.0 * static_cast<double>(max_rows) *
                            static_cast<double>(layout_.widest_in + layout_.widest_out) +
                        4.0 * static_cast<double>(max_batch) * static_cast<double>(vocab_);
    check(need < 0.95 * static_cast<double>(free_bytes),
          "the bf16 baseline needs {:.1f} GB of device memory, {:.1f} GB are free", need / 1e9,
          static_cast<double>(free_bytes) / 1e9);
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    weights_ = cuda::DeviceBuffer<uint16_t>(static_cast<std::size_t>(layout_.total_values));
    x_ = cuda::DeviceBuffer<uint16_t>(static_cast<std::size_t>(max_rows * layout_.widest_in));
    y_ = cuda::DeviceBuffer<uint16_t>(static_cast<std::size_t>(max_rows * layout_.widest_out));
    logits_ = cuda::DeviceBuffer<float>(
        static_cast<std::size_t>(max_batch * vocab_));  // head rows <= batch
    // Weights ~ U(-0.035, 0.035) (std 0.02), activations ~ U(-1, 1): random, never zeros.
    fill_bf16_hash(weights_.data(), weights_.size(), options.seed, 0.0346f, stream_);
    fill_bf16_hash(x_.data(), x_.size(), options.seed + 1, 1.0f, stream_);
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    check(cublasCreate(&cublas_) == CUBLAS_STATUS_SUCCESS, "cublasCreate failed");
    check(cublasSetStream(cublas_, stream_) == CUBLAS_STATUS_SUCCESS, "cublasSetStream failed");
    // A workspace of our own, so that no allocation happens while a graph is captured.
    workspace_ = cuda::DeviceBuffer<uint8_t>(std::size_t{64} << 20);
    check(
        cublasSetWorkspace(cublas_, workspace_.data(), workspace_.size()) == CUBLAS_STATUS_SUCCESS,
        "cublasSetWorkspace failed");
  }
  ~Baseline() {
    if (cublas_ != nullptr) cublasDestroy(cublas_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }
  Baseline(const Baseline&) = delete;
  Baseline& operator=(const Baseline&) = delete;

  const Layout& layout() const { return layout_; }

  // Milliseconds per step (median of `repetitions` timed runs) of every layer GEMM at `rows`
  // rows and the head at `head_rows` rows, replayed from one CUDA graph.
  std::vector<double> time_step_ms(int64_t rows, int64_t head_rows, int repetitions) {
    auto step = [&] {
      for (const Projection& p : layout_.layer_gemms) gemm(p, rows, y_.data(), CUDA_R_16BF);
      gemm(layout_.head, head_rows, logits_.data(), CUDA_R_32F);
    };
    step();  // once outside the capture: whatever cuBLAS sets up lazily for these shapes
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    step();
    CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
    CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    cudaEvent_t a = nullptr, b = nullptr;
    CUDA_CHECK(cudaEventCreate(&a));
    CUDA_CHECK(cudaEventCreate(&b));
    auto run_ms = [&](int launches) {
      CUDA_CHECK(cudaEventRecord(a, stream_));
      for (int i = 0; i < launches; ++i) CUDA_CHECK(cudaGraphLaunch(exec, stream_));
      CUDA_CHECK(cudaEventRecord(b, stream_));
      CUDA_CHECK(cudaEventSynchronize(b));
      float ms = 0;
      CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
      return static_cast<double>(ms) / launches;
    };
    run_ms(2);  // warm-up: cuBLAS picks its kernels, the clocks ramp up
    // Enough launches per timed run for ~50 ms, so that event resolution does not matter.
    const int launches = std::clamp(static_cast<int>(std::ceil(50.0 / run_ms(1))), 1, 200);
    std::vector<double> samples;
    for (int r = 0; r < repetitions; ++r) samples.push_back(run_ms(launches));
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    return samples;
  }

 private:
  // Column-major for cuBLAS: Y^T [n_out, rows] = W (stored [n_in, n_out], op T) x X^T [n_in, rows].
  void gemm(const Projection& p, int64_t rows, void* y, cudaDataType_t y_type) {
    const float one = 1.0f, zero = 0.0f;
    const cublasStatus_t status = cublasGemmEx(
        cublas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(p.n_out), static_cast<int>(rows),
        static_cast<int>(p.n_in), &one, weights_.data() + p.offset, CUDA_R_16BF,
        static_cast<int>(p.n_in), x_.data(), CUDA_R_16BF, static_cast<int>(p.n_in), &zero, y,
        y_type, static_cast<int>(p.n_out), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    check(status == CUBLAS_STATUS_SUCCESS, "cublasGemmEx [{} x {}] x {} rows failed: {}", p.n_out,
          p.n_in, rows, cublasGetStatusString(status));
  }

  Layout layout_;
  int64_t vocab_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  cuda::DeviceBuffer<uint16_t> weights_, x_, y_;  // bf16 bits
  cuda::DeviceBuffer<float> logits_;
  cuda::DeviceBuffer<uint8_t> workspace_;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void run(const Options& options) {
  check(options.repetitions >= 1, "-r must be >= 1, got {}", options.repetitions);
  check(!options.batches.empty() || !options.prompts.empty(), "give at least one -b or -p value");
  for (int64_t b : options.batches)
    check(b >= 1 && b <= 65536, "-b values must be in [1, 65536], got {}", b);
  const ModelConfig config = model_shape(options.shape);
  for (int64_t p : options.prompts) {
    check(p >= 1 && p <= config.max_position_embeddings,
          "-p {} is outside the {} shape's context of {} tokens", p, options.shape,
          config.max_position_embeddings);
  }
  int count = 0;
  CUDA_CHECK(cudaGetDeviceCount(&count));
  check(options.device >= 0 && options.device < count, "CUDA device {} does not exist ({} visible)",
        options.device, count);
  CUDA_CHECK(cudaSetDevice(options.device));
  const std::vector<std::string> devices = cuda::describe_devices();
  const std::string device = devices.at(static_cast<std::size_t>(options.device));

  Options o = options;
  if (o.batches.empty()) o.batches = {1};  // only sizes the buffers
  if (o.prompts.empty()) o.prompts = {1};
  Baseline baseline(config, o);
  const Layout& l = baseline.layout();
  const double layer_params = static_cast<double>(l.layer_values);
  const double head_params = static_cast<double>(l.total_values - l.layer_values);
  const double weight_bytes = 2.0 * static_cast<double>(l.total_values);
  const char* gemms = options.separate ? "7 per layer" : "4 per layer (qkv, gate/up fused)";
  fmt::print(stderr,
             "a48_bench_cuda_bf16: {}; shape {}: {:.2f} B layer weights + {:.2f} B head = {:.2f} "
             "GB bf16\n",
             device, options.shape, layer_params / 1e9, head_params / 1e9, weight_bytes / 1e9);

  nlohmann::json records = nlohmann::json::array();
  auto write_json = [&] {
    if (options.json_path.empty()) return;
    std::ofstream out(options.json_path);
    check(out.good(), "cannot write {}", options.json_path);
    out << records.dump(2) << "\n";
  };
  write_json();
  fmt::print("| shape | scheme | GEMMs | test | rows | ms/step | tokens/s | GB/s | TFLOP/s |\n");
  fmt::print("|---|---|---|---|---|---|---|---|---|\n");
  auto report = [&](const std::string& kind, int64_t n_tokens, int64_t batch, int64_t rows,
                    int64_t head_rows) {
    const std::vector<double> samples = baseline.time_step_ms(rows, head_rows, options.repetitions);
    const double ms = median(samples);
    const double tokens = static_cast<double>(kind == "tg" ? batch : n_tokens);
    const double flops = 2.0 * (static_cast<double>(rows) * layer_params +
                                static_cast<double>(head_rows) * head_params);
    const double tps = tokens / (ms / 1e3), gbs = weight_bytes / (ms * 1e6),
                 tflops = flops / (ms * 1e9);
    const std::string test =
        kind == "tg" ? fmt::format("decode b{}", batch) : fmt::format("pp{}", n_tokens);
    fmt::print("| {} | bf16 | {} | {} | {} | {:.3f} | {:.0f} | {:.0f} | {:.1f} |\n", options.shape,
               gemms, test, rows, ms, tps, gbs, tflops);
    std::fflush(stdout);
    records.push_back({{"tool", "a48_bench_cuda_bf16"},
                       {"shape", options.shape},
                       {"scheme", "bf16"},
                       {"backend", "cuda"},
                       {"device", device},
                       {"gemms", gemms},
                       {"counts", "linear layers and head only (no attention, norms, embedding)"},
                       {"test", test},
                       {"kind", kind},
                       {"n_tokens", n_tokens},
                       {"batch", batch},
                       {"rows", rows},
                       {"head_rows", head_rows},
                       {"ms_per_step", ms},
                       {"samples_ms", samples},
                       {"tokens_per_second", tps},
                       {"weight_bytes", weight_bytes},
                       {"gb_per_second", gbs},
                       {"flops_per_step", flops},
                       {"tflop_per_second", tflops}});
    write_json();  // after every row: a run cut short keeps what it measured
  };
  for (int64_t b : options.batches) report("tg", 1, b, b, b);
  for (int64_t p : options.prompts) report("pp", p, 1, p, 1);
}

}  // namespace
}  // namespace a48::bench

int main(int argc, char** argv) {
  a48::bench::Options options;
  CLI::App app{
      "bf16 baseline for the CUDA inference benchmarks: cuBLAS GEMMs of every linear layer and "
      "the head of a model shape, replayed from a CUDA graph (no attention or norms: flatters "
      "bf16)"};
  app.add_option("--shape", options.shape,
                 "Model shape (model/model_shapes.h): 2b4t, 700m, 1.3b, 3b, 7b")
      ->capture_default_str();
  app.add_option("-b,--batch", options.batches,
                 "Decode batches (rows of every GEMM), comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("-p,--n-prompt", options.prompts,
                 "Prefill lengths, comma-separated (head on the last token)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("-r,--repetitions", options.repetitions,
                 "Timed runs per test (the median is reported)")
      ->capture_default_str();
  app.add_flag("--separate", options.separate,
               "7 GEMMs per layer instead of fusing q/k/v and gate/up");
  app.add_option("--device", options.device, "CUDA device ordinal")->capture_default_str();
  app.add_option("--seed", options.seed, "Seed of the random weights")->capture_default_str();
  app.add_option("--json", options.json_path, "Also write the results as JSON to a file");
  CLI11_PARSE(app, argc, argv);
  try {
    a48::bench::run(options);
  } catch (const std::exception& e) {
    fmt::print(stderr, "a48_bench_cuda_bf16: {}\n", e.what());
    return 1;
  }
  return 0;
}
