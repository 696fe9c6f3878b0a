// Training throughput of the CUDA trainer on a ~25M-parameter model (d 512, L 8, H 8, H_kv 4,
// F 1408, V 8192; batches of 32 x 512 tokens, scheme a4.8). Runs only when A48_CUDA_THROUGHPUT=1
// (it takes ~1 minute with model setup); prints tokens/s and the time per phase, and checks that
// training on one batch lowers its loss.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "cuda/train/trainer.h"
#include "cuda_test_util.h"
#include "model/weights.h"
#include "train/parameter_layout.h"
#include "train/train_test_util.h"

namespace a48 {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST(CudaTrainerThroughput, Model25M) {
  A48_REQUIRE_CUDA_DEVICE();
  const char* on = std::getenv("A48_CUDA_THROUGHPUT");
  if (on == nullptr || std::string(on) != "1") GTEST_SKIP() << "set A48_CUDA_THROUGHPUT=1";
  ModelConfig c;
  c.hidden_size = 512;
  c.num_hidden_layers = 8;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 4;
  c.intermediate_size = 1408;
  c.vocab_size = 8192;
  c.max_position_embeddings = 2048;
  const int64_t seqs = 32, len = 512, tokens = seqs * len;
  const ParameterLayout layout(c);
  const std::vector<float> params = flatten_parameters(make_random_model(c, 1), layout);
  const Batch batch = test::random_batch(seqs, len, c.vocab_size, 2, 1 << 30);

  cuda::Trainer trainer(c, layout, seqs, len, 0);
  trainer.upload_parameters(params);
  size_t free_bytes = 0, total_bytes = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_bytes, &total_bytes), cudaSuccess);
  std::printf("model: %.2fM parameters; device memory in use %.2f GiB\n",
              static_cast<double>(layout.total()) / 1e6,
              static_cast<double>(total_bytes - free_bytes) / (1 << 30));
  AdamWHyper hyper;
  hyper.lr = 1e-3;
  int64_t t = 0;
  const auto step = [&]() {
    trainer.zero_gradients();
    const double loss = trainer.forward_backward(batch, ActivationScheme::a48, 1.0f);
    const double norm = trainer.gradient_norm();
    trainer.adamw_step(hyper, ++t, clip_factor(norm, 1.0), 0, layout.total());
    return loss;
  };
  const double first = step();
  step();  // warm-up: plans, module loading
  const int steps = 10;
  trainer.synchronize();
  auto start = std::chrono::steady_clock::now();
  double last = 0.0;
  for (int i = 0; i < steps; ++i) last = step();
  trainer.synchronize();
  const double step_s = seconds_since(start) / steps;
  std::printf("a4.8 train step: %.1f ms, %.0f tokens/s (loss %.4f -> %.4f)\n", step_s * 1e3,
              static_cast<double>(tokens) / step_s, first, last);

  // Phases, each timed to a synchronize: forward only (evaluate), forward+backward, optimizer
  // (norm + AdamW); the GEMMs' share from events around each product.
  const auto time_ms = [&](const std::function<void()>& f, int repeats) {
    trainer.synchronize();
    const auto begin = std::chrono::steady_clock::now();
    for (int i = 0; i < repeats; ++i) f();
    trainer.synchronize();
    return seconds_since(begin) / repeats * 1e3;
  };
  const double forward_ms = time_ms([&] { trainer.evaluate(batch, ActivationScheme::a48); }, 3);
  const double fb_ms =
      time_ms([&] { trainer.forward_backward(batch, ActivationScheme::a48, 1.0f); }, 3);
  const double norm_ms = time_ms([&] { trainer.gradient_norm(); }, 3);
  const double adamw_ms =
      time_ms([&] { trainer.adamw_step(hyper, ++t, 0.5, 0, layout.total()); }, 3);
  trainer.set_gemm_timing(true);
  trainer.gemm_elapsed_ms();  // reset
  for (int i = 0; i < 3; ++i) trainer.forward_backward(batch, ActivationScheme::a48, 1.0f);
  const double gemm_ms = trainer.gemm_elapsed_ms() / 3;
  trainer.set_gemm_timing(false);
  std::printf("a4.8: forward %.1f ms, forward+backward %.1f ms (GEMMs %.1f ms = %.0f%%), "
              "gradient norm %.2f ms, AdamW %.2f ms\n",
              forward_ms, fb_ms, gemm_ms, 100.0 * gemm_ms / fb_ms, norm_ms, adamw_ms);
  for (ActivationScheme scheme : {ActivationScheme::fp, ActivationScheme::b158,
                                  ActivationScheme::a48_fp4}) {
    const double ms = time_ms([&] { trainer.forward_backward(batch, scheme, 1.0f); }, 3);
    std::printf("%s forward+backward: %.1f ms (%.0f tokens/s)\n",
                std::string(to_string(scheme)).c_str(), ms, static_cast<double>(tokens) / ms * 1e3);
  }
  EXPECT_TRUE(std::isfinite(first) && std::isfinite(last));
  EXPECT_LT(last, first);  // twelve steps on one batch must fit it somewhat
}

}  // namespace
}  // namespace a48
