// Benchmark mode of the CUDA inference backend (A48_CUDA_INFER_BENCH=1; skipped otherwise): per-
// kernel times for the 2B4T shape (hidden 2560, FFN 6912, 30 layers, 20/5 heads, vocab 128256) at
// 1 and 8 tokens, against the device-to-device copy bandwidth measured in the same run; whole-model
// decode tokens/s of CudaEngine with random ternary weights. The bf16 baseline of the same shapes
// is a program of its own (bench/cuda/bf16_baseline.cpp, a48_bench_cuda_bf16). Numbers go to
// docs/BENCHMARKS.md, "CUDA inference (H100)".
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "cuda/common/check.h"
#include "cuda/infer/attention.h"
#include "cuda/infer/bitlinear.h"
#include "cuda/infer/cuda_engine.h"
#include "cuda/infer/head.h"
#include "cuda/infer/row_quant.h"
#include "cuda_test_util.h"
#include "infer_test_util.h"

namespace a48 {
namespace {

bool bench_enabled() {
  const char* on = std::getenv("A48_CUDA_INFER_BENCH");
  return on != nullptr && std::strcmp(on, "1") == 0;
}

// Median over 7 repeats of the mean time of `iters` calls, in microseconds.
double time_us(const std::function<void(int)>& launch, int iters) {
  cudaEvent_t a, b;
  CUDA_CHECK(cudaEventCreate(&a));
  CUDA_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 3; ++i) launch(i);
  CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<double> runs;
  for (int r = 0; r < 7; ++r) {
    CUDA_CHECK(cudaEventRecord(a));
    for (int i = 0; i < iters; ++i) launch(i);
    CUDA_CHECK(cudaEventRecord(b));
    CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    runs.push_back(1000.0 * ms / iters);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(runs.begin(), runs.end());
  return runs[3];
}

// The stream the kernel benchmarks launch on: null for direct launches, a capturing stream while
// time_graph_us records them into a graph.
cudaStream_t g_stream = nullptr;

// The same launches replayed from one CUDA graph (what the engine's decode step sees: no host
// launch cost), microseconds per launch, median of 7.
double time_graph_us(const std::function<void(int)>& launch, int iters) {
  cudaStream_t s;
  CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  g_stream = s;
  CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < iters; ++i) launch(i);
  CUDA_CHECK(cudaStreamEndCapture(s, &graph));
  g_stream = nullptr;
  CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  cudaEvent_t a, b;
  CUDA_CHECK(cudaEventCreate(&a));
  CUDA_CHECK(cudaEventCreate(&b));
  CUDA_CHECK(cudaGraphLaunch(exec, s));
  std::vector<double> runs;
  for (int r = 0; r < 7; ++r) {
    CUDA_CHECK(cudaEventRecord(a, s));
    CUDA_CHECK(cudaGraphLaunch(exec, s));
    CUDA_CHECK(cudaEventRecord(b, s));
    CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    runs.push_back(1000.0 * ms / iters);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
  std::sort(runs.begin(), runs.end());
  return runs[3];
}

double g_last_graph_us = 0;

// time_us, and time_graph_us into g_last_graph_us.
double time_both(const std::function<void(int)>& launch, int iters) {
  const double us = time_us(launch, iters);
  g_last_graph_us = time_graph_us(launch, iters);
  return us;
}

struct Xorshift {
  uint64_t s;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

// Ternary codes with P(0) = 1/2, P(+-1) = 1/4 each.
void fill_ternary(std::vector<int8_t>& t, uint64_t seed) {
  Xorshift x{seed * 0x9E3779B97F4A7C15ull + 1};
  for (std::size_t i = 0; i < t.size(); i += 32) {
    uint64_t r = x.next();
    for (std::size_t j = i; j < std::min(t.size(), i + 32); ++j, r >>= 2) {
      const int v = static_cast<int>(r & 3);
      t[j] = static_cast<int8_t>(v == 3 ? 0 : v - 1);
    }
  }
}

double copy_bandwidth_gbs() {
  const std::size_t bytes = std::size_t{2} << 30;
  cuda::DeviceBuffer<uint8_t> src(bytes), dst(bytes);
  src.fill_bytes(0x5A);
  const double us = time_us([&](int) { CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), bytes, cudaMemcpyDeviceToDevice)); }, 5);
  return 2.0 * static_cast<double>(bytes) / (us * 1e3);  // bytes read + written
}

struct KernelRow {
  std::string name;
  double us, bytes;
  double graph_us = 0;  // the same launches replayed from a graph
};

// Appends r with the graph time of the last time_both call (each row follows its own timing).
void push(std::vector<KernelRow>& rows, KernelRow r) {
  r.graph_us = g_last_graph_us;
  rows.push_back(std::move(r));
}

void print_rows(const std::vector<KernelRow>& rows, double copy_gbs) {
  std::printf("%-48s %10s %10s %8s | %9s %10s %8s\n", "kernel", "us", "GB/s", "of copy", "graph us", "GB/s",
              "of copy");
  for (const KernelRow& r : rows) {
    const double gbs = r.bytes / (r.us * 1e3), ggbs = r.bytes / (r.graph_us * 1e3);
    std::printf("%-48s %10.2f %10.1f %7.1f%% | %9.2f %10.1f %7.1f%%\n", r.name.c_str(), r.us, gbs,
                100.0 * gbs / copy_gbs, r.graph_us, ggbs, 100.0 * ggbs / copy_gbs);
  }
}

// Several device copies of one packed matrix, so that timed launches rotate through more bytes
// than the 50 MB L2 holds.
std::vector<cuda::DeviceTernary> copies(const LinearWeights& w, cuda::TernaryOrder order) {
  const cuda::TernaryWords p = cuda::pack_ternary(w, order);
  const int64_t bytes = p.n_lines * p.words_per_line * 4;
  const int64_t n = std::max<int64_t>(2, (256ll << 20) / bytes);
  std::vector<cuda::DeviceTernary> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(cuda::upload_ternary(p));
  return out;
}

LinearWeights bench_linear(int64_t n_out, int64_t n_in, uint64_t seed) {
  LinearWeights w;
  w.n_out = n_out;
  w.n_in = n_in;
  w.ternary.resize(static_cast<std::size_t>(n_out * n_in));
  fill_ternary(w.ternary, seed);
  w.scale = 0.02f;
  return w;
}

void kernel_benchmarks(int64_t tokens, double copy_gbs) {
  const int64_t d = 2560, f = 6912, kv = 640;
  std::vector<KernelRow> rows;
  const LinearWeights wq = bench_linear(d, d, 1), wk = bench_linear(kv, d, 2), wv = bench_linear(kv, d, 3);
  const LinearWeights wo = bench_linear(d, d, 4), wg = bench_linear(f, d, 5), wu = bench_linear(f, d, 6);
  const LinearWeights wd = bench_linear(d, f, 7);
  // Codes: INT4 into qkv/gate/up, INT8 with 50% zeros into o_proj/down (top-K, ReLU^2 sparsity).
  const std::vector<int8_t> q4 = test::random_codes(tokens, d, 11, -8, 7, 0.05);
  const std::vector<int8_t> q8o = test::random_codes(tokens, d, 12, -128, 127, 0.5);
  const std::vector<int8_t> q8d = test::random_codes(tokens, f, 13, -128, 127, 0.5);
  const std::vector<float> steps(static_cast<std::size_t>(tokens), 0.01f);
  test::DeviceCodes c4 = test::upload_codes(q4, tokens, d, steps), c8o = test::upload_codes(q8o, tokens, d, steps);
  test::DeviceCodes c8d = test::upload_codes(q8d, tokens, f, steps);
  cuda::DeviceBuffer<float> y(static_cast<std::size_t>(tokens * f * 3)), gate(static_cast<std::size_t>(tokens * f));
  cuda::DeviceBuffer<int32_t> acc(static_cast<std::size_t>(tokens * f));
  acc.fill_bytes(0);
  const std::vector<float> gate_h = test::uniform(static_cast<std::size_t>(tokens * f), 14);  // ~50% positive
  gate.upload(gate_h);
  const double act_in = static_cast<double>(tokens) * d, act_f = static_cast<double>(tokens) * f;

  {
    auto q = copies(wq, cuda::TernaryOrder::rows), k = copies(wk, cuda::TernaryOrder::rows),
         v = copies(wv, cuda::TernaryOrder::rows);
    const std::size_t n = std::min({q.size(), k.size(), v.size()});
    const double us = time_both([&](int i) {
      const std::size_t c = static_cast<std::size_t>(i) % n;
      const cuda::BitlinearOutput outs[3] = {{&q[c], y.data(), d}, {&k[c], y.data() + tokens * d, kv},
                                             {&v[c], y.data() + tokens * (d + kv), kv}};
      cuda::bitlinear_rows(outs, 3, c4.view, nullptr, 0, HiddenActivation::relu2, g_stream);
    }, 200);
    push(rows, {"qkv rows 3840x2560 (int4 codes)", us, static_cast<double>(q[0].bytes() + k[0].bytes() + v[0].bytes()) + act_in + tokens * 3840.0 * 4});
  }
  for (const auto& [name, w, codes, n_in] :
       {std::tuple{"o_proj", &wo, &c8o, d}, std::tuple{"down", &wd, &c8d, f}}) {
    auto r = copies(*w, cuda::TernaryOrder::rows);
    const double us = time_both([&](int i) {
      const cuda::BitlinearOutput out{&r[static_cast<std::size_t>(i) % r.size()], y.data(), w->n_out};
      cuda::bitlinear_rows(&out, 1, codes->view, nullptr, 0, HiddenActivation::relu2, g_stream);
    }, 200);
    push(rows, {fmt::format("{} rows {}x{} dense", name, w->n_out, n_in), us,
                    static_cast<double>(r[0].bytes()) + tokens * static_cast<double>(n_in) + tokens * w->n_out * 4.0});
    r.clear();
    auto cl = copies(*w, cuda::TernaryOrder::columns);
    // Columns read: those with a non-zero code in some token.
    const std::vector<int8_t>& qh = n_in == d ? q8o : q8d;
    int64_t read = 0;
    for (int64_t i = 0; i < n_in; ++i) {
      bool nz = false;
      for (int64_t t = 0; t < tokens; ++t) nz = nz || qh[static_cast<std::size_t>(t * n_in + i)] != 0;
      read += nz;
    }
    if (tokens <= 4) {
      const double us2 = time_both([&](int i) {
        cuda::bitlinear_columns(cl[static_cast<std::size_t>(i) % cl.size()], codes->view, acc.data(), w->n_out, g_stream);
        cuda::bitlinear_finalize(acc.data(), w->n_out, w->n_out, w->scale, codes->view, y.data(), w->n_out, true, g_stream);
      }, 200);
      push(rows, {fmt::format("{} columns, {:.0f}% inputs read (+finalize)", name, 100.0 * read / n_in), us2,
                      static_cast<double>(read) * cl[0].words_per_line * 4 + tokens * static_cast<double>(n_in) + tokens * w->n_out * 8.0});
    }
  }
  {
    auto g = copies(wg, cuda::TernaryOrder::rows);
    const double us = time_both([&](int i) {
      const cuda::BitlinearOutput out{&g[static_cast<std::size_t>(i) % g.size()], y.data(), f};
      cuda::bitlinear_rows(&out, 1, c4.view, nullptr, 0, HiddenActivation::relu2, g_stream);
    }, 200);
    push(rows, {"gate rows 6912x2560", us, static_cast<double>(g[0].bytes()) + act_in + act_f * 4});
    int64_t active_pairs = 0;  // rows read: those with a positive gate in some token of their warp's 2 rows
    for (int64_t o = 0; o < f; o += 2) {
      bool on = false;
      for (int64_t r = o; r < std::min(o + 2, f); ++r)
        for (int64_t t = 0; t < tokens; ++t) on = on || gate_h[static_cast<std::size_t>(t * f + r)] > 0;
      active_pairs += on;
    }
    const double us2 = time_both([&](int i) {
      const cuda::BitlinearOutput out{&g[static_cast<std::size_t>(i) % g.size()], y.data(), f};
      cuda::bitlinear_rows(&out, 1, c4.view, gate.data(), f, HiddenActivation::relu2, g_stream);
    }, 200);
    push(rows, {fmt::format("up rows masked, {:.0f}% rows read", 100.0 * active_pairs * 2 / f), us2,
                    static_cast<double>(active_pairs) * 2 * g[0].words_per_line * 4 + act_in + act_f * 8});
    // gate and up in one launch (up rows read where a computed gate is positive for some token).
    const double us3 = time_both([&](int i) {
      const std::size_t c = static_cast<std::size_t>(i) % g.size();
      cuda::bitlinear_glu(g[c], g[(c + 1) % g.size()], c4.view, y.data(), y.data() + tokens * f, f,
                          HiddenActivation::relu2, g_stream);
    }, 200);
    push(rows, {"gate+up fused (bytes: gate + all of up)", us3,
                    2.0 * static_cast<double>(g[0].bytes()) + act_in + act_f * 8});
  }
  {
    cuda::DeviceBuffer<float> x = cuda::to_device(test::uniform(static_cast<std::size_t>(tokens * f), 20)),
                              w = cuda::to_device(test::uniform(static_cast<std::size_t>(f), 21));
    cuda::DeviceBuffer<int8_t> q(static_cast<std::size_t>(tokens * f));
    cuda::DeviceBuffer<float> st(static_cast<std::size_t>(tokens));
    cuda::DeviceBuffer<int32_t> sm(static_cast<std::size_t>(tokens));
    cuda::RowQuantArgs a;
    a.n_tokens = tokens;
    a.n = d;
    a.x = x.data();
    a.ld_x = d;
    a.norm_weight = w.data();
    a.keep = d;
    a.quantizer = ActivationQuantizer::int4_absmean;
    a.q = q.data();
    a.ld_q = d;
    a.step = st.data();
    a.sum = sm.data();
    push(rows, {"rmsnorm+int4 quantize, 2560", time_both([&](int) { cuda::quantize_rows(a, g_stream); }, 200), act_in * 5});
    a.keep = d / 2;
    a.quantizer = ActivationQuantizer::int8_absmax;
    push(rows, {"rmsnorm+top-K 50%+int8, 2560", time_both([&](int) { cuda::quantize_rows(a, g_stream); }, 200), act_in * 5});
    cuda::RowQuantArgs g;
    g.n_tokens = tokens;
    g.n = f;
    g.gate = x.data();
    g.up = x.data();
    g.ld_glu = f;
    g.norm_weight = w.data();
    g.keep = f;
    g.quantizer = ActivationQuantizer::int8_absmax;
    g.q = q.data();
    g.ld_q = cuda::padded_codes(f);
    g.step = st.data();
    g.sum = sm.data();
    push(rows, {"relu2 glu+rmsnorm+int8, 6912", time_both([&](int) { cuda::quantize_rows(g, g_stream); }, 200), act_f * 9});
  }
  {
    // Decode attention at context 512, 20 heads / 5 KV heads of 128, 3-bit KV cache.
    const int ctx = 512;
    cuda::AttentionShape s{1, 20, 5, 128, 3, 4};
    cuda::DeviceBuffer<uint8_t> kc(static_cast<std::size_t>(ctx * kv)), vc(kc.size());
    kc.fill_bytes(3);
    vc.fill_bytes(5);
    cuda::DeviceBuffer<float> kg = cuda::to_device(std::vector<float>(static_cast<std::size_t>(ctx * 5), 1.0f)), vg = cuda::to_device(std::vector<float>(static_cast<std::size_t>(ctx * 5), 1.0f));
    std::vector<cuda::KvSlot> slots(static_cast<std::size_t>(tokens), cuda::KvSlot{kc.data(), vc.data(), kg.data(), vg.data(), ctx - 1, ctx});
    cuda::DeviceBuffer<cuda::KvSlot> ds = cuda::to_device(slots);
    cuda::DeviceBuffer<float> qd = cuda::to_device(test::uniform(static_cast<std::size_t>(tokens * d), 30)), out(static_cast<std::size_t>(tokens * d));
    const double us = time_both([&](int) { cuda::attention(qd.data(), d, ds.data(), tokens, 0, s, ctx, out.data(), d, g_stream); }, 100);
    push(rows, {"attention decode, ctx 512, 3-bit KV (1 B/code)", us, tokens * 2.0 * ctx * kv});
    {
      std::vector<float> cos_t, sin_t;
      cuda::rope_tables(128, 500000.0, ctx, cos_t, sin_t);
      cuda::DeviceBuffer<float> dcos = cuda::to_device(cos_t), dsin = cuda::to_device(sin_t);
      cuda::DeviceBuffer<float> kd = cuda::to_device(test::uniform(static_cast<std::size_t>(tokens * kv), 32)),
                                vd = cuda::to_device(test::uniform(static_cast<std::size_t>(tokens * kv), 33));
      const double us_rope = time_both([&](int) {
        cuda::rope_store_kv(qd.data(), d, kd.data(), vd.data(), kv, ds.data(), tokens, 0, s, dcos.data(), dsin.data(), g_stream);
      }, 100);
      push(rows, {"rope + q quantize + 3-bit K/V store", us_rope, tokens * (2.0 * d + 4.0 * kv) * 4});
    }
    cuda::AttentionWorkspace ws(s, tokens);
    const double us_split = time_both([&](int) { cuda::attention(qd.data(), d, ds.data(), tokens, 0, s, ctx, out.data(), d, g_stream, &ws); }, 100);
    push(rows, {fmt::format("attention split x{}, ctx 512, 3-bit KV", ws.splits(tokens)), us_split, tokens * 2.0 * ctx * kv});
  }
  {
    std::vector<float> head_w(static_cast<std::size_t>(128256) * d);
    Xorshift x{77};
    for (float& v : head_w) v = static_cast<float>(static_cast<int64_t>(x.next() % 2001) - 1000) * 1e-5f;
    const cuda::DeviceHead h = cuda::upload_head(head_w, 128256, d, true);
    cuda::DeviceBuffer<float> normed = cuda::to_device(test::uniform(static_cast<std::size_t>(tokens * d), 31));
    std::vector<int32_t> idx(static_cast<std::size_t>(tokens));
    for (int64_t t = 0; t < tokens; ++t) idx[static_cast<std::size_t>(t)] = static_cast<int32_t>(t);
    cuda::DeviceBuffer<int32_t> di = cuda::to_device(idx);
    cuda::DeviceBuffer<float> logits(static_cast<std::size_t>(tokens * 128256));
    const double us = time_both([&](int) { cuda::head_logits(h, normed.data(), d, di.data(), tokens, logits.data(), g_stream); }, 20);
    push(rows, {"lm head int8 128256x2560", us, static_cast<double>(h.bytes()) + tokens * 128256.0 * 4});
  }
  std::printf("\n--- kernels, %lld token(s)\n", static_cast<long long>(tokens));
  print_rows(rows, copy_gbs);
}

Model model_2b4t(ActivationScheme scheme) {
  ModelConfig c;
  c.hidden_size = 2560;
  c.num_hidden_layers = 30;
  c.num_attention_heads = 20;
  c.num_key_value_heads = 5;
  c.intermediate_size = 6912;
  c.vocab_size = 128256;
  c.max_position_embeddings = 2048;
  c.rope_theta = 500000.0;
  c.activation_scheme = scheme;
  c.attention_bits = AttentionBits::q4_kv3;
  Model m;
  m.config = c;
  const int64_t d = c.hidden_size, f = c.intermediate_size;
  LayerWeights layer;
  layer.attn_norm.assign(static_cast<std::size_t>(d), 1.0f);
  layer.ffn_norm = layer.attn_norm;
  layer.attn_sub_norm = layer.attn_norm;
  layer.ffn_sub_norm.assign(static_cast<std::size_t>(f), 1.0f);
  layer.q_proj = bench_linear(d, d, 41);
  layer.k_proj = bench_linear(640, d, 42);
  layer.v_proj = bench_linear(640, d, 43);
  layer.o_proj = bench_linear(d, d, 44);
  layer.gate_proj = bench_linear(f, d, 45);
  layer.up_proj = bench_linear(f, d, 46);
  layer.down_proj = bench_linear(d, f, 47);
  m.weights.layers.assign(30, layer);
  m.weights.embed_tokens.resize(static_cast<std::size_t>(c.vocab_size * d));
  Xorshift x{99};
  for (float& v : m.weights.embed_tokens) v = static_cast<float>(static_cast<int64_t>(x.next() % 2001) - 1000) * 2e-5f;
  m.weights.final_norm.assign(static_cast<std::size_t>(d), 1.0f);
  return m;
}

// Decode tokens/s of `batch` sequences after a 64-token prompt each; also the prompt's tokens/s.
void engine_benchmark(const std::shared_ptr<const Model>& model, const char* name, int batch) {
  std::unique_ptr<Engine> e = make_cuda_engine(model, 0, true);
  std::vector<std::unique_ptr<SequenceState>> seqs;
  std::vector<int32_t> prompt(64);
  for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>((i * 7919) % 128256);
  std::vector<EngineStep> steps;
  for (int b = 0; b < batch; ++b) {
    seqs.push_back(e->new_sequence(1024));
    steps.push_back({seqs.back().get(), prompt, false});
  }
  e->forward(steps);  // warm-up (allocations)
  for (auto& s : seqs) s->truncate(0);
  auto t0 = std::chrono::steady_clock::now();
  e->forward(steps);
  const double prefill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<int32_t> tok(static_cast<std::size_t>(batch), 1000);
  std::vector<EngineStep> dec;
  for (int b = 0; b < batch; ++b) dec.push_back({seqs[static_cast<std::size_t>(b)].get(), std::span<const int32_t>(&tok[static_cast<std::size_t>(b)], 1), false});
  for (int i = 0; i < 3; ++i) e->forward(dec);  // graph capture
  const int n = 100;
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) e->forward(dec);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s: %s\n  prefill %d x 64 tokens: %.1f ms (%.0f tokens/s); decode batch %d: %.3f ms/step, %.0f tokens/s (context 67..167)\n",
              name, e->describe().c_str(), batch, 1e3 * prefill_s, batch * 64 / prefill_s, batch, 1e3 * s / n,
              batch * n / s);
}

TEST(CudaInferBench, Hopper2B4T) {
  A48_REQUIRE_CUDA_DEVICE();
  if (!bench_enabled()) GTEST_SKIP() << "set A48_CUDA_INFER_BENCH=1";
  for (const std::string& line : cuda::describe_devices()) std::printf("device: %s\n", line.c_str());
  const double copy_gbs = copy_bandwidth_gbs();
  std::printf("device-to-device copy: %.0f GB/s (read + write)\n", copy_gbs);
  kernel_benchmarks(1, copy_gbs);
  kernel_benchmarks(8, copy_gbs);
  auto a48 = std::make_shared<const Model>(model_2b4t(ActivationScheme::a48));
  // Weight bytes a decode step reads at most (dense): packed ternary + int8 head.
  std::printf("2B4T packed weights: %.1f MB ternary + %.1f MB int8 head\n", 30.0 * 2560 * 27136 / 4 / 1e6,
              128256.0 * 2564 / 1e6);
  engine_benchmark(a48, "a4.8, 4q3kv, 2B4T random ternary", 1);
  engine_benchmark(a48, "a4.8, 4q3kv, 2B4T random ternary", 8);
  setenv("A48_CUDA_PDL", "0", 1);  // without programmatic dependent launch
  engine_benchmark(a48, "a4.8, 4q3kv, 2B4T random ternary, no PDL", 1);
  unsetenv("A48_CUDA_PDL");
  setenv("A48_CUDA_SPARSE_INPUT", "1", 1);  // o_proj/down through the sparse-input kernels at <= 4 tokens
  engine_benchmark(a48, "a4.8, 4q3kv, 2B4T random ternary, sparse-input o/down", 1);
  unsetenv("A48_CUDA_SPARSE_INPUT");
  Model b = *a48;
  b.config.activation_scheme = ActivationScheme::b158;
  auto b158 = std::make_shared<const Model>(std::move(b));
  engine_benchmark(b158, "b1.58, 4q3kv, 2B4T random ternary", 1);
}

}  // namespace
}  // namespace a48
