// The CUDA training loop: one process per data-parallel rank; see train.cpp for the recipe.
#ifdef A48_HAVE_CUDA
#include "cli/train_run.h"

#include <cuda_runtime.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>

#include "core/error.h"
#include "cuda/train/nccl_group.h"
#include "cuda/train/trainer.h"
#include "train/checkpoint.h"
#include "train/data_loader.h"
#include "train/metrics_log.h"
#include "train/parameter_layout.h"
#include "train/sha256.h"
#include "train/train_config.h"

extern char** environ;

namespace a48::cli {
namespace {

namespace fs = std::filesystem;

// H100 SXM dense bf16 peak, the denominator llm.c and PaLM use for MFU.
constexpr double kPeakFlops = 989.4e12;

// Starts `world` copies of this program with --rank r, waits for all; fails if any fails.
void launch_ranks(const TrainOptions& options) {
  const fs::path id_file =
      fs::absolute(options.out_dir) / fmt::format("nccl_id.{}", ::getpid());
  fs::create_directories(options.out_dir);
  fs::remove(id_file);
  std::vector<pid_t> children;
  for (int rank = 0; rank < options.gpus; ++rank) {
    std::vector<std::string> args = {"/proc/self/exe", "train", "--config", options.config_path,
                                     "--out", options.out_dir, "--rank", std::to_string(rank),
                                     "--world", std::to_string(options.gpus), "--nccl-id-file",
                                     id_file.string()};
    if (options.resume) args.push_back("--resume");
    if (!options.scheme.empty()) args.insert(args.end(), {"--scheme", options.scheme});
    if (options.total_tokens > 0) {
      args.insert(args.end(), {"--total-tokens", std::to_string(options.total_tokens)});
    }
    if (options.seed >= 0) args.insert(args.end(), {"--seed", std::to_string(options.seed)});
    if (options.stop_after_steps > 0) {
      args.insert(args.end(), {"--stop-after-steps", std::to_string(options.stop_after_steps)});
    }
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    check(posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), environ) == 0,
          "cannot start rank {}", rank);
    children.push_back(pid);
  }
  int failed = 0;
  for (const pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  fs::remove(id_file);
  check(failed == 0, "{} of {} training processes failed", failed, options.gpus);
}

// Model FLOPs per trained token: 6 per parameter touched by a matmul (forward + backward), plus
// causal attention's score and value products (6 * L * T * d, half of the full 12 * L * T * d).
double flops_per_token(const ModelConfig& c, int64_t seq_len) {
  const double matmul_params = static_cast<double>(count_parameters(c).projections) +
                               static_cast<double>(c.vocab_size * c.hidden_size);
  return 6 * matmul_params + 6.0 * static_cast<double>(c.num_hidden_layers * seq_len * c.q_size());
}

struct Evaluation {
  double loss = 0;
  SparsityStats sparsity;
};

// Mean loss over the validation shard's first eval_tokens / seq_len windows (every rank computes
// the same, so ranks stay in lock step without communication).
Evaluation evaluate(cuda::Trainer& trainer, const DataLoader& valid, const TrainConfig& config,
                    ActivationScheme scheme) {
  const int64_t n_windows =
      std::min(valid.n_windows(), std::max<int64_t>(1, config.eval_tokens / config.seq_len));
  Evaluation result;
  int64_t done = 0;
  for (int64_t first = 0; first < n_windows; first += config.micro_batch) {
    const int64_t n = std::min(config.micro_batch, n_windows - first);
    result.loss += trainer.evaluate(valid.sequential_batch(first, n), scheme, &result.sparsity) *
                   static_cast<double>(n);
    done += n;
  }
  result.loss /= static_cast<double>(done);
  return result;
}

// Under ZeRO-1 each rank's AdamW moments are current only on its own shard: gather them whole
// (on the device, through NCCL) before a checkpoint.
void gather_optimizer_state(cuda::Trainer& trainer, cuda::NcclGroup* group, int64_t total,
                            std::vector<float>& m, std::vector<float>& v) {
  m.resize(total);
  v.resize(total);
  trainer.download_optimizer_state(m, v);
  if (!group) return;
  float* buffer = nullptr;
  const size_t bytes = static_cast<size_t>(total) * sizeof(float);
  check(cudaMalloc(&buffer, bytes) == cudaSuccess, "cudaMalloc of {} bytes failed", bytes);
  std::unique_ptr<float, decltype(&cudaFree)> owner(buffer, &cudaFree);
  for (std::vector<float>* state : {&m, &v}) {
    check(cudaMemcpy(buffer, state->data(), bytes, cudaMemcpyHostToDevice) == cudaSuccess, "copy");
    group->all_gather_shards(buffer, total, trainer.stream());
    check(cudaStreamSynchronize(trainer.stream()) == cudaSuccess, "stream sync");
    check(cudaMemcpy(state->data(), buffer, bytes, cudaMemcpyDeviceToHost) == cudaSuccess, "copy");
  }
}

std::string format_duration(double seconds) {
  const auto s = static_cast<int64_t>(seconds);
  return s >= 3600 ? fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60)
                   : fmt::format("{}m{:02}s", s / 60, s % 60);
}

void train_rank(const TrainOptions& options) {
  TrainConfig config = load_train_config(options.config_path);
  if (!options.scheme.empty()) config.model.activation_scheme = parse_activation_scheme(options.scheme);
  if (options.total_tokens > 0) config.total_tokens = options.total_tokens;
  if (options.seed >= 0) config.seed = static_cast<uint64_t>(options.seed);
  config.validate();
  const int world = options.world;
  const int rank = std::max(options.rank, 0);
  const bool leader = rank == 0;
  const fs::path out = options.out_dir;
  fs::create_directories(out);

  int n_devices = 0;
  check(cudaGetDeviceCount(&n_devices) == cudaSuccess && n_devices > 0, "no CUDA device visible");
  const int device = rank % n_devices;  // several ranks may share a device (correctness tests)
  check(cudaSetDevice(device) == cudaSuccess, "cannot select CUDA device {}", device);

  // Data: shards must come from the tokenizer the run names.
  TokenShard train_shard(config.train_shard), valid_shard(config.valid_shard);
  if (!config.tokenizer.empty()) {
    const Sha256Digest digest = sha256_file(config.tokenizer);
    train_shard.check_tokenizer(digest, config.tokenizer);
    valid_shard.check_tokenizer(digest, config.tokenizer);
  }
  check(train_shard.info().vocab_size <= config.model.vocab_size,
        "{} has vocab {} but the model's vocab_size is {}", config.train_shard,
        train_shard.info().vocab_size, config.model.vocab_size);
  DataLoader train(std::move(train_shard), {config.seq_len, config.seed, rank, world});
  const DataLoader valid(std::move(valid_shard), {config.seq_len, config.seed, 0, 1});

  const ParameterLayout layout(config.model);
  const int64_t total = layout.total();
  const cuda::Shard shard = cuda::shard_of(total, rank, world);
  const ScheduleConfig schedule = config.schedule(world);
  const int64_t total_steps = schedule.total_steps;

  // Start: a checkpoint (--resume) or a seeded random model.
  int64_t step = 0, tokens_seen = 0;
  std::vector<float> params, adam_m, adam_v;
  std::optional<fs::path> resume_from = options.resume ? latest_checkpoint(out / "checkpoints")
                                                       : std::nullopt;
  check(!options.resume || resume_from.has_value(), "--resume: no checkpoint in {}",
        (out / "checkpoints").string());
  if (resume_from) {
    Checkpoint checkpoint = load_checkpoint(*resume_from);
    check(checkpoint.model.hidden_size == config.model.hidden_size &&
              static_cast<int64_t>(checkpoint.params.size()) == total,
          "{} does not match the run's model config", resume_from->string());
    step = checkpoint.step;
    tokens_seen = checkpoint.tokens_seen;
    train.restore(checkpoint.data);
    params = std::move(checkpoint.params);
    adam_m = std::move(checkpoint.adam_m);
    adam_v = std::move(checkpoint.adam_v);
  } else {
    params = flatten_parameters(make_random_model(config.model, config.seed), layout);
  }

  cuda::Trainer trainer(config.model, layout, config.micro_batch, config.seq_len, device);
  trainer.upload_parameters(params);
  if (!adam_m.empty()) trainer.upload_optimizer_state(adam_m, adam_v);
  std::unique_ptr<cuda::NcclGroup> group;
  if (world > 1) group = std::make_unique<cuda::NcclGroup>(rank, world, options.nccl_id_file);

  std::optional<MetricsLog> metrics;
  if (leader) {
    metrics.emplace(out / "metrics.jsonl", resume_from ? std::optional<int64_t>(step) : std::nullopt);
    std::ofstream(out / "train_config.json") << train_config_to_json(config).dump(2) << "\n";
    fmt::print(stderr,
               "a48 train: {} params ({} non-embedding), {} steps of {} tokens on {} GPU process(es), "
               "final scheme {}{}\n",
               total, count_parameters(config.model).non_embedding, total_steps,
               config.tokens_per_step(world), world, to_string(config.model.activation_scheme),
               resume_from ? fmt::format(", resumed at step {}", step) : "");
  }

  const auto save = [&](int64_t at_step) {
    std::vector<float> m, v;
    gather_optimizer_state(trainer, group.get(), total, m, v);
    if (!leader) return;
    Checkpoint checkpoint;
    checkpoint.model = config.model;
    checkpoint.train_config = train_config_to_json(config);
    checkpoint.step = at_step;
    checkpoint.tokens_seen = tokens_seen;
    checkpoint.data = train.state();
    checkpoint.params.resize(total);
    trainer.download_parameters(checkpoint.params);
    checkpoint.adam_m = std::move(m);
    checkpoint.adam_v = std::move(v);
    const fs::path path = save_checkpoint_in_dir(out / "checkpoints", checkpoint, config.keep_last);
    fmt::print(stderr, "a48 train: checkpoint {}\n", path.string());
  };
  const auto run_evaluation = [&](int64_t at_step, ActivationScheme scheme) {
    const Evaluation e = evaluate(trainer, valid, config, scheme);
    if (!leader) return;
    const double overall = e.sparsity.overall(config.model);
    metrics->write({{"step", at_step}, {"tokens", tokens_seen}, {"val_loss", e.loss},
                    {"val_ppl", std::exp(e.loss)}, {"scheme", to_string(scheme)},
                    {"sparsity", {{"qkv", e.sparsity.qkv.sparsity()}, {"out", e.sparsity.out.sparsity()},
                                  {"up", e.sparsity.up.sparsity()}, {"gate", e.sparsity.gate.sparsity()},
                                  {"down", e.sparsity.down.sparsity()}, {"overall", overall}}}});
    fmt::print(stderr, "a48 train: step {} val loss {:.4f} ppl {:.2f} ({}, sparsity {:.1f}%)\n",
               at_step, e.loss, std::exp(e.loss), to_string(scheme), 100 * overall);
  };

  const double flops_token = flops_per_token(config.model, config.seq_len);
  const auto start = std::chrono::steady_clock::now();
  auto window_start = start;
  int64_t window_tokens = 0, steps_here = 0;
  while (step < total_steps) {
    const ActivationScheme scheme = activation_scheme_at(schedule, step);
    trainer.zero_gradients();
    double loss = 0;
    const float loss_scale = 1.0f / static_cast<float>(config.grad_accum * world);
    for (int64_t micro = 0; micro < config.grad_accum; ++micro) {
      loss += trainer.forward_backward(train.next_batch(config.micro_batch), scheme, loss_scale) /
              static_cast<double>(config.grad_accum);
    }
    if (group) {
      group->all_reduce_sum(trainer.gradients_device(), total, trainer.stream());
      loss = group->all_reduce_sum_host(loss, trainer.stream()) / world;  // mean over ranks
    }
    const double norm = trainer.gradient_norm();
    check(std::isfinite(norm), "step {}: gradient norm is {} (training diverged)", step, norm);
    const double lr = learning_rate_at(schedule, step);
    const double wd = weight_decay_at(schedule, step);
    trainer.adamw_step(config.adamw(lr, wd), step + 1,
                       config.grad_clip > 0 ? clip_factor(norm, config.grad_clip) : 1.0,
                       shard.offset, shard.count);
    if (group) group->all_gather_shards(trainer.parameters_device(), total, trainer.stream());
    ++step;
    ++steps_here;
    tokens_seen += config.tokens_per_step(world);
    window_tokens += config.tokens_per_step(world);

    const bool last = step == total_steps;
    if (leader && (step % config.log_every == 0 || last)) {
      const auto now = std::chrono::steady_clock::now();
      const double window_s = std::chrono::duration<double>(now - window_start).count();
      const double tokens_per_s = window_tokens / std::max(window_s, 1e-9);
      const double mfu = tokens_per_s * flops_token / (kPeakFlops * world);
      const double elapsed_s = std::chrono::duration<double>(now - start).count();
      const double eta_s = elapsed_s / steps_here * static_cast<double>(total_steps - step);
      fmt::print(stderr,
                 "step {:6}/{} | loss {:.4f} | lr {:.2e} | |g| {:.3f} | {:.0f} tok/s | MFU {:.1f}% | "
                 "{} | eta {}\n",
                 step, total_steps, loss, lr, norm, tokens_per_s, 100 * mfu, to_string(scheme),
                 format_duration(eta_s));
      metrics->write({{"step", step}, {"tokens", tokens_seen}, {"loss", loss}, {"lr", lr},
                      {"weight_decay", wd}, {"grad_norm", norm}, {"tokens_per_s", tokens_per_s},
                      {"mfu", mfu}, {"scheme", to_string(scheme)}});
      window_start = now;
      window_tokens = 0;
    }
    if ((config.eval_every > 0 && step % config.eval_every == 0) || last) {
      run_evaluation(step, activation_scheme_at(schedule, step - 1));
    }
    const bool stop_here = options.stop_after_steps > 0 && steps_here == options.stop_after_steps;
    if ((config.checkpoint_every > 0 && step % config.checkpoint_every == 0) || last || stop_here) {
      save(step);
    }
    if (stop_here) break;
  }
}

}  // namespace

void run_training(const TrainOptions& options) {
  check(options.gpus >= 1, "--gpus must be >= 1");
  if (options.gpus > 1 && options.rank < 0) {
    launch_ranks(options);
    return;
  }
  train_rank(options);
}

}  // namespace a48::cli
#endif  // A48_HAVE_CUDA
