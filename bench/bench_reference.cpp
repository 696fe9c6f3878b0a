// Microbenchmarks of the scalar reference: the baseline every fast kernel is measured against.
// Counters report weight bytes per second at the reference layout (1 byte per ternary code).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "model/forward.h"
#include "quant/int4_absmean.h"
#include "quant/int8_absmax.h"
#include "ref/bitlinear.h"

namespace a48 {
namespace {

std::vector<float> gaussian(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = normal(rng);
  return x;
}

void BM_QuantizeInt4Absmean(benchmark::State& state) {
  const auto x = gaussian(state.range(0), 1);
  std::vector<int8_t> q(x.size());
  for (auto _ : state) benchmark::DoNotOptimize(quantize_int4_absmean(x, q));
  state.SetBytesProcessed(state.iterations() * state.range(0) * sizeof(float));
}
BENCHMARK(BM_QuantizeInt4Absmean)->Arg(2560)->Arg(6912);

void BM_QuantizeInt8Absmax(benchmark::State& state) {
  const auto x = gaussian(state.range(0), 2);
  std::vector<int8_t> q(x.size());
  for (auto _ : state) benchmark::DoNotOptimize(quantize_int8_absmax(x, q));
  state.SetBytesProcessed(state.iterations() * state.range(0) * sizeof(float));
}
BENCHMARK(BM_QuantizeInt8Absmax)->Arg(2560)->Arg(6912);

// The 2B4T shapes: q_proj 2560x2560, gate/up 6912x2560.
void BM_RefBitlinear(benchmark::State& state) {
  LinearWeights w;
  w.n_out = state.range(0);
  w.n_in = state.range(1);
  w.latent = gaussian(w.n_out * w.n_in, 3);
  w.quantize_from_latent();
  const auto x = gaussian(w.n_in, 4);
  std::vector<int8_t> q(x.size());
  const float step = quantize_int4_absmean(x, q);
  std::vector<float> y(w.n_out);
  for (auto _ : state) {
    ref::bitlinear(w, q, step, y);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * w.n_out * w.n_in);
}
BENCHMARK(BM_RefBitlinear)->Args({2560, 2560})->Args({6912, 2560})->Unit(benchmark::kMillisecond);

// One decode step of a small a4.8 model (d=512, 4 layers) at position 64.
void BM_RefDecodeStep(benchmark::State& state) {
  ModelConfig config;
  config.hidden_size = 512;
  config.num_hidden_layers = 4;
  config.num_attention_heads = 8;
  config.num_key_value_heads = 4;
  config.intermediate_size = 1376;
  config.vocab_size = 8192;
  config.max_position_embeddings = 256;
  config.activation_scheme = ActivationScheme::a48;
  const Model model = make_random_model(config, 5);
  std::vector<int32_t> prompt(64);
  for (int32_t i = 0; i < 64; ++i) prompt[i] = (i * 37) % 8192;
  KvCache cache(config, 256);
  forward(model, {{SequenceInput{&cache, prompt, false}}});
  const int32_t token = 42;
  for (auto _ : state) {
    cache.truncate(64);
    benchmark::DoNotOptimize(forward(model, {{SequenceInput{&cache, {&token, 1}, false}}}));
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                  benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RefDecodeStep)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace a48
