// `a48 bench`: prompt processing (pp) and text generation (tg) tokens per second in the spirit of
// llama-bench, on a model directory or on a synthetic model of a named shape (random ternary
// weights: model/model_shapes.h), for each combination of scheme, thread count and head
// precision. Prints a markdown table (and JSON with --json), and for the CPU engine the decode
// roofline: the weight bytes a token must read (Table 2's sparsity of the run applied to each
// projection, plus the head) against the machine's read bandwidth measured in the same run.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <map>
#include <thread>

#include "cli/app.h"
#include "cli/model_session.h"
#include "core/error.h"
#include "cpu/cpu_engine.h"
#include "cpu/read_bandwidth.h"
#include "engine/make_engine.h"
#include "model/model_shapes.h"

namespace a48::cli {
namespace {

struct BenchOptions {
  std::string model_dir;
  std::string shape;
  std::vector<std::string> schemes;  // empty: the model's (a4.8 and b1.58 for --shape)
  std::string device = "cpu";
  std::vector<int> threads;  // empty: all hardware threads
  std::vector<std::string> heads = {"f16"};
  int64_t n_prompt = 512;
  int64_t n_gen = 128;
  int repetitions = 3;
  std::string json_path;
  uint64_t seed = 1;
};

std::vector<std::string> split_list(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const std::string& item : items) {
    std::stringstream ss(item);
    for (std::string part; std::getline(ss, part, ',');) {
      if (!part.empty()) out.push_back(part);
    }
  }
  return out;
}

struct Sample {
  double mean = 0, stddev = 0;
  std::vector<double> values;
};

Sample summarize(std::vector<double> values) {
  Sample s;
  s.values = std::move(values);
  for (double v : s.values) s.mean += v;
  s.mean /= static_cast<double>(s.values.size());
  for (double v : s.values) s.stddev += (v - s.mean) * (v - s.mean);
  s.stddev = s.values.size() > 1 ? std::sqrt(s.stddev / static_cast<double>(s.values.size() - 1)) : 0;
  return s;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<int32_t> random_ids(int64_t n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, static_cast<int32_t>(vocab - 1));
  std::vector<int32_t> ids(static_cast<std::size_t>(n));
  for (int32_t& id : ids) id = dist(rng);
  return ids;
}

// pp: one forward over n_prompt tokens from an empty sequence. tg: n_gen single-token forwards
// from an empty sequence (llama-bench's tg). Both return tokens per second.
double run_pp(Engine& engine, std::span<const int32_t> prompt) {
  const auto seq = engine.new_sequence(static_cast<int64_t>(prompt.size()));
  const EngineStep step{seq.get(), prompt};
  const auto t0 = std::chrono::steady_clock::now();
  engine.forward(std::span(&step, 1));
  return static_cast<double>(prompt.size()) / seconds_since(t0);
}

double run_tg(Engine& engine, std::span<const int32_t> tokens, SparsityStats* stats) {
  const auto seq = engine.new_sequence(static_cast<int64_t>(tokens.size()));
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const EngineStep step{seq.get(), tokens.subspan(i, 1)};
    engine.forward(std::span(&step, 1), stats);
  }
  return static_cast<double>(tokens.size()) / seconds_since(t0);
}

std::string human_bytes(double bytes) {
  if (bytes >= 1e9) return fmt::format("{:.2f} GB", bytes / 1e9);
  return fmt::format("{:.1f} MB", bytes / 1e6);
}

void run_bench(const BenchOptions& options) {
  check(options.model_dir.empty() || options.shape.empty(),
        "give --model or --shape, not both (neither: the embedded default model)");
  check(options.n_prompt >= 0 && options.n_gen >= 0 && options.n_prompt + options.n_gen > 0,
        "-p and -n must be >= 0 and not both 0");
  check(options.repetitions >= 1, "-r must be >= 1, got {}", options.repetitions);
  const EngineBackend backend = parse_engine_backend(options.device);

  // The model, once; each scheme re-labels its config before an engine packs it.
  std::shared_ptr<Model> model;
  std::string model_name;
  if (!options.shape.empty()) {
    const ModelConfig config = model_shape(options.shape);
    fmt::print(stderr, "a48 bench: making a random ternary model of shape {}...\n", options.shape);
    model = std::make_shared<Model>(make_random_ternary_model(config, options.seed));
    model_name = options.shape + " (random)";
  } else {
    ModelOptions model_options;
    model_options.model_dir = options.model_dir;
    ModelSession session = open_model(model_options);
    model = std::make_shared<Model>(std::move(session.model));
    model_name = session.dir.filename().string();
  }
  const ModelConfig base = model->config;
  check(base.max_position_embeddings >= std::max(options.n_prompt, options.n_gen),
        "-p {} / -n {} exceed the model's context of {}", options.n_prompt, options.n_gen,
        base.max_position_embeddings);
  std::vector<std::string> schemes = split_list(options.schemes);
  if (schemes.empty()) {
    schemes = options.shape.empty() ? std::vector<std::string>{std::string(to_string(base.activation_scheme))}
                                    : std::vector<std::string>{"a4.8", "b1.58"};
  }
  std::vector<int> threads = options.threads;
  if (threads.empty()) threads = {std::max(1, static_cast<int>(std::thread::hardware_concurrency()))};
  const std::vector<std::string> heads = split_list(options.heads);
  const ParameterCounts params = count_parameters(base);

  std::map<int, double> bandwidth;  // bytes/s by thread count (CPU only)
  if (backend == EngineBackend::cpu) {
    for (int t : threads) bandwidth[t] = cpu::measure_read_bandwidth(t);
  }

  nlohmann::json records = nlohmann::json::array();
  fmt::print("| model | params | scheme | attention | backend | threads | head | test | t/s | "
             "bytes/token | GB/s | of roofline |\n");
  fmt::print("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const std::string& scheme_name : schemes) {
    const ActivationScheme scheme = parse_activation_scheme(scheme_name);
    model->config = base;
    model->config.activation_scheme = scheme;
    if (!options.shape.empty()) {
      // b1.58 as bitnet.cpp runs it: 8-bit activations, an unquantized KV cache.
      model->config.attention_bits =
          scheme == ActivationScheme::b158 ? AttentionBits::fp16 : AttentionBits::q4_kv3;
    }
    for (int n_threads : threads) {
      for (const std::string& head_name : heads) {
        EngineOptions engine_options;
        engine_options.backend = backend;
        engine_options.threads = n_threads;
        engine_options.head = parse_head_precision(head_name);
        const auto t_pack = std::chrono::steady_clock::now();
        const std::unique_ptr<Engine> engine = make_engine(model, engine_options);
        const double pack_s = seconds_since(t_pack);
        const auto* cpu_engine = dynamic_cast<const cpu::CpuEngine*>(engine.get());
        const ModelConfig& c = engine->config();
        fmt::print(stderr, "a48 bench: {} ({:.1f} s to load/pack)\n", engine->describe(), pack_s);
        {
          // The KV cache a 4096-token context needs at this setting, densely packed, and at fp16.
          ModelConfig fp16 = c;
          fp16.attention_bits = AttentionBits::fp16;
          const int64_t kv = KvCache(c, 1).packed_bytes(4096);
          const int64_t kv16 = KvCache(fp16, 1).packed_bytes(4096);
          fmt::print(stderr, "a48 bench: KV cache at 4096 tokens: {} at {} ({} at fp16, {:.1f}% saved)\n",
                     human_bytes(static_cast<double>(kv)), to_string(c.attention_bits),
                     human_bytes(static_cast<double>(kv16)),
                     100.0 * (1.0 - static_cast<double>(kv) / static_cast<double>(kv16)));
        }

        auto report = [&](const std::string& test, const Sample& s, double bytes_per_token) {
          const double gbps = bytes_per_token * s.mean / 1e9;
          const double bw = bandwidth.count(n_threads) ? bandwidth[n_threads] : 0;
          const std::string roof = bytes_per_token > 0 && bw > 0
                                       ? fmt::format("{:.0f}% of {:.1f} GB/s", 100 * gbps * 1e9 / bw, bw / 1e9)
                                       : "";
          fmt::print("| {} | {:.2f}B | {} | {} | {} | {} | {} | {} | {:.2f} ± {:.2f} | {} | {} | {} |\n",
                     model_name, static_cast<double>(params.embedding + params.non_embedding) / 1e9,
                     to_string(c.activation_scheme), to_string(c.attention_bits),
                     to_string(backend),
                     backend == EngineBackend::cuda ? std::string("-") : std::to_string(n_threads),
                     head_name, test, s.mean, s.stddev,
                     bytes_per_token > 0 ? human_bytes(bytes_per_token) : "",
                     bytes_per_token > 0 ? fmt::format("{:.1f}", gbps) : "", roof);
          std::fflush(stdout);
          records.push_back({{"model", model_name},
                             {"params", params.embedding + params.non_embedding},
                             {"scheme", to_string(c.activation_scheme)},
                             {"attention_bits", to_string(c.attention_bits)},
                             {"backend", to_string(backend)},
                             {"engine", engine->describe()},
                             {"threads", n_threads},
                             {"head", head_name},
                             {"test", test},
                             {"tokens_per_second", s.mean},
                             {"stddev", s.stddev},
                             {"samples", s.values},
                             {"bytes_per_token", bytes_per_token},
                             {"read_bandwidth", bw}});
        };

        if (options.n_prompt > 0) {
          const std::vector<int32_t> prompt =
              random_ids(options.n_prompt, c.vocab_size, options.seed + 1);
          run_pp(*engine, std::span(prompt).first(std::min<std::size_t>(prompt.size(), 16)));  // warm-up
          std::vector<double> values;
          for (int r = 0; r < options.repetitions; ++r) values.push_back(run_pp(*engine, prompt));
          report(fmt::format("pp{}", options.n_prompt), summarize(values), 0);
        }
        if (options.n_gen > 0) {
          const std::vector<int32_t> tokens = random_ids(options.n_gen, c.vocab_size, options.seed + 2);
          run_tg(*engine, std::span(tokens).first(std::min<std::size_t>(tokens.size(), 4)), nullptr);
          std::vector<double> values;
          SparsityStats stats;
          for (int r = 0; r < options.repetitions; ++r) {
            values.push_back(run_tg(*engine, tokens, &stats));
          }
          double bytes_per_token = 0;
          if (cpu_engine != nullptr) {
            // What a token must read with a48's layouts: q/k/v and gate whole (rows order reads
            // every row), up only on the non-zero gate channels (its rows), o_proj and down only
            // the columns of non-zero inputs, and the whole head. (Table 2 also counts the ~12%
            // zero INT4 inputs of q/k/v/gate as skippable; the rows kernels do not skip them.)
            const cpu::CpuEngine::ProjectionBytes b = cpu_engine->projection_bytes();
            const double up_rows = (1 - stats.up.sparsity()) / std::max(1e-12, 1 - stats.gate.sparsity());
            bytes_per_token = static_cast<double>(b.qkv) + static_cast<double>(b.gate) +
                              static_cast<double>(b.up) * up_rows +
                              static_cast<double>(b.out) * (1 - stats.out.sparsity()) +
                              static_cast<double>(b.down) * (1 - stats.down.sparsity()) +
                              static_cast<double>(cpu_engine->head_bytes());
            fmt::print(stderr,
                       "a48 bench: tg sparsity qkv {:.1f}% out {:.1f}% gate {:.1f}% up {:.1f}% "
                       "down {:.1f}%; dense bytes/token {}\n",
                       100 * stats.qkv.sparsity(), 100 * stats.out.sparsity(),
                       100 * stats.gate.sparsity(), 100 * stats.up.sparsity(),
                       100 * stats.down.sparsity(),
                       human_bytes(static_cast<double>(b.total() + cpu_engine->head_bytes())));
          }
          report(fmt::format("tg{}", options.n_gen), summarize(values), bytes_per_token);
        }
      }
    }
  }
  if (!options.json_path.empty()) {
    std::ofstream out(options.json_path);
    check(out.good(), "cannot write {}", options.json_path);
    out << records.dump(2) << "\n";
  }
}

}  // namespace

void register_bench(CLI::App& app) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* command = app.add_subcommand(
      "bench", "Prompt processing (pp) and generation (tg) tokens/s, llama-bench style");
  command->add_option("-m,--model", options->model_dir, "Model directory");
  command->add_option("--shape", options->shape,
                      "A synthetic model with random ternary weights: 2b4t, 700m, 1.3b, 3b, 7b");
  command->add_option("--scheme", options->schemes,
                      "Activation schemes, comma-separated (default: the model's; a4.8,b1.58 "
                      "for --shape)");
  command->add_option("--device", options->device, "cpu, cuda or reference")
      ->check(CLI::IsMember({"cpu", "cuda", "reference"}))
      ->capture_default_str();
  command->add_option("-t,--threads", options->threads, "Thread counts (default: all)")
      ->delimiter(',');
  command->add_option("--head", options->heads, "Head precisions: f32, f16, int8 (comma-separated)")
      ->capture_default_str();
  command->add_option("-p,--n-prompt", options->n_prompt, "Prompt tokens (0: skip pp)")
      ->capture_default_str();
  command->add_option("-n,--n-gen", options->n_gen, "Generated tokens (0: skip tg)")
      ->capture_default_str();
  command->add_option("-r,--repetitions", options->repetitions, "Repetitions of each test")
      ->capture_default_str();
  command->add_option("--json", options->json_path, "Also write the results as JSON to a file");
  command->add_option("--seed", options->seed, "Seed of the synthetic model and token ids")
      ->capture_default_str();
  command->callback([options] { run_bench(*options); });
}

}  // namespace a48::cli
