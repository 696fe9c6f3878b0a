// `a48 bench`: prompt processing (pp) and text generation (tg) tokens per second in the spirit of
// llama-bench, on a model directory or on a synthetic model of a named shape (random ternary
// weights: model/model_shapes.h), for each combination of scheme, thread count, head precision,
// prompt length (pp) and decode batch (tg: B sequences advanced one token each per forward()).
// Prints a markdown table (and JSON with --json), and for the CPU engine the decode roofline: the
// weight bytes a step must read (at batch 1 Table 2's sparsity of the run applied to each
// projection, plus the head; at batch > 1 every weight once) against the machine's read bandwidth
// measured in the same run.
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
#include "cuda/device_info.h"
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
  std::vector<int64_t> n_prompt = {512};  // pp lengths; 0 skips pp
  std::vector<int64_t> n_gen = {128};     // tg steps; 0 skips tg
  std::vector<int64_t> batch = {1};       // tg batches
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

// Each tg sequence first takes a prompt of this many tokens (untimed), so that a batch decodes from
// a filled KV cache as a server's would.
constexpr int64_t kTgPromptTokens = 16;

// pp: one forward over n_prompt tokens from an empty sequence. Returns tokens per second.
double run_pp(Engine& engine, std::span<const int32_t> prompt) {
  const auto seq = engine.new_sequence(static_cast<int64_t>(prompt.size()));
  const EngineStep step{seq.get(), prompt};
  const auto t0 = std::chrono::steady_clock::now();
  engine.forward(std::span(&step, 1));
  return static_cast<double>(prompt.size()) / seconds_since(t0);
}

// tg: B = sequences.size() sequences are emptied and given their prompts in one forward
// (untimed), then n_steps forwards each carry one new token per sequence (tokens: [n_steps, B]).
// Returns tokens per second, B * n_steps tokens over the timed forwards.
double run_tg(Engine& engine, std::span<const std::unique_ptr<SequenceState>> sequences,
              std::span<const std::vector<int32_t>> prompts, std::span<const int32_t> tokens,
              int64_t n_steps, SparsityStats* stats) {
  const std::size_t b = sequences.size();
  std::vector<EngineStep> steps(b);
  for (std::size_t s = 0; s < b; ++s) {
    sequences[s]->clear();
    steps[s] = {sequences[s].get(), prompts[s]};
  }
  engine.forward(steps);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < n_steps; ++i) {
    for (std::size_t s = 0; s < b; ++s) {
      steps[s].tokens = tokens.subspan(static_cast<std::size_t>(i) * b + s, 1);
    }
    engine.forward(steps, stats);
  }
  return static_cast<double>(n_steps) * static_cast<double>(b) / seconds_since(t0);
}

// Values of a list option: each >= minimum (else an error naming the option), zeros dropped.
std::vector<int64_t> positive_values(const std::vector<int64_t>& values, int64_t minimum,
                                     std::string_view option) {
  std::vector<int64_t> out;
  for (int64_t v : values) {
    check(v >= minimum, "{} values must be >= {}, got {}", option, minimum, v);
    if (v > 0) out.push_back(v);
  }
  return out;
}

std::string human_bytes(double bytes) {
  if (bytes >= 1e9) return fmt::format("{:.2f} GB", bytes / 1e9);
  return fmt::format("{:.1f} MB", bytes / 1e6);
}

// "pp512", "tg128", "tg128 x b8": llama-bench's names, the batch added where it is not 1.
std::string test_name(std::string_view kind, int64_t n_tokens, int64_t batch) {
  return batch > 1 ? fmt::format("{}{} x b{}", kind, n_tokens, batch)
                   : fmt::format("{}{}", kind, n_tokens);
}

void write_json(const std::string& path, const nlohmann::json& records) {
  std::ofstream out(path);
  check(out.good(), "cannot write {}", path);
  out << records.dump(2) << "\n";
}

// Every -p and tg length must fit the model's context (checked before a large model is made).
void check_context(const ModelConfig& config, std::span<const int64_t> prompts,
                   std::span<const int64_t> gens) {
  const int64_t context = config.max_position_embeddings;
  for (int64_t p : prompts) {
    check(p <= context, "-p {} exceeds the model's context of {} tokens", p, context);
  }
  for (int64_t n : gens) {
    check(kTgPromptTokens + n <= context,
          "-n {} plus the {}-token prompt of each tg sequence exceeds the model's context of {} "
          "tokens",
          n, kTgPromptTokens, context);
  }
}

void run_bench(const BenchOptions& options) {
  check(options.model_dir.empty() || options.shape.empty(),
        "give --model or --shape, not both (neither: the embedded default model)");
  const std::vector<int64_t> prompts = positive_values(options.n_prompt, 0, "-p/--n-prompt");
  const std::vector<int64_t> gens = positive_values(options.n_gen, 0, "-n/--n-gen");
  check(!prompts.empty() || !gens.empty(), "-p and -n must be >= 0 and not both 0");
  const std::vector<int64_t> batches = positive_values(options.batch, 1, "-b/--batch");
  check(!batches.empty(), "-b/--batch needs at least one value");
  check(options.repetitions >= 1, "-r must be >= 1, got {}", options.repetitions);
  const EngineBackend backend = parse_engine_backend(options.device);
  // The CUDA device, before a large model is made for nothing.
  std::string device_name;
  if (backend == EngineBackend::cuda) {
#if defined(A48_HAVE_CUDA)
    const std::vector<std::string> devices = cuda::describe_devices();
    check(!devices.empty(), "--device cuda: no CUDA device is visible");
    device_name = devices.front();  // the engine runs on device 0
    fmt::print(stderr, "a48 bench: {}\n", device_name);
#else
    fail("--device cuda: this a48 was built without the CUDA inference engine "
         "(configure with -DA48_CUDA=ON where nvcc exists)");
#endif
  }

  // The model, once; each scheme re-labels its config before an engine packs it.
  std::shared_ptr<Model> model;
  std::string model_name;
  if (!options.shape.empty()) {
    const ModelConfig config = model_shape(options.shape);
    check_context(config, prompts, gens);
    fmt::print(stderr, "a48 bench: making a random ternary model of shape {}...\n", options.shape);
    const auto t_make = std::chrono::steady_clock::now();
    model = std::make_shared<Model>(make_random_ternary_model(config, options.seed));
    fmt::print(stderr, "a48 bench: made in {:.1f} s\n", seconds_since(t_make));
    model_name = options.shape + " (random)";
  } else {
    ModelOptions model_options;
    model_options.model_dir = options.model_dir;
    ModelSession session = open_model(model_options);
    model = std::make_shared<Model>(std::move(session.model));
    model_name = session.dir.filename().string();
    check_context(model->config, prompts, gens);
  }
  const ModelConfig base = model->config;
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
  if (!options.json_path.empty()) write_json(options.json_path, records);  // writable, before the runs
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

        // kind: "pp" or "tg"; n_tokens: the prompt length or the tg steps; batch: tg sequences.
        auto report = [&](std::string_view kind, int64_t n_tokens, int64_t batch, const Sample& s,
                          double bytes_per_token) {
          const std::string test = test_name(kind, n_tokens, batch);
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
                             {"shape", options.shape},
                             {"params", params.embedding + params.non_embedding},
                             {"scheme", to_string(c.activation_scheme)},
                             {"attention_bits", to_string(c.attention_bits)},
                             {"backend", to_string(backend)},
                             {"engine", engine->describe()},
                             {"device", device_name},
                             {"threads", n_threads},
                             {"head", head_name},
                             {"test", test},
                             {"kind", std::string(kind)},
                             {"n_tokens", n_tokens},
                             {"batch", batch},
                             {"tokens_per_second", s.mean},
                             {"stddev", s.stddev},
                             {"samples", s.values},
                             {"bytes_per_token", bytes_per_token},
                             {"bytes_per_step", bytes_per_token * static_cast<double>(batch)},
                             {"read_bandwidth", bw}});
          // Rewritten after every row, so that a run cut short (a timeout) keeps what it measured.
          if (!options.json_path.empty()) write_json(options.json_path, records);
        };

        for (int64_t n_prompt : prompts) {
          const std::vector<int32_t> prompt = random_ids(n_prompt, c.vocab_size, options.seed + 1);
          run_pp(*engine, prompt);  // warm-up: buffers sized for this length, kernels loaded
          std::vector<double> values;
          for (int r = 0; r < options.repetitions; ++r) values.push_back(run_pp(*engine, prompt));
          report("pp", n_prompt, 1, summarize(values), 0);
        }
        for (int64_t n_gen : gens) {
          for (int64_t batch : batches) {
            std::vector<std::unique_ptr<SequenceState>> sequences;
            std::vector<std::vector<int32_t>> tg_prompts;
            for (std::size_t s = 0; s < static_cast<std::size_t>(batch); ++s) {
              sequences.push_back(engine->new_sequence(kTgPromptTokens + n_gen));
              tg_prompts.push_back(random_ids(kTgPromptTokens, c.vocab_size, options.seed + 3 + s));
            }
            const std::vector<int32_t> tokens =
                random_ids(n_gen * batch, c.vocab_size, options.seed + 2);
            // Warm-up: a few steps at this batch (the CUDA engine captures its graph per shape).
            run_tg(*engine, sequences, tg_prompts, tokens, std::min<int64_t>(n_gen, 4), nullptr);
            std::vector<double> values;
            SparsityStats stats;
            for (int r = 0; r < options.repetitions; ++r) {
              values.push_back(run_tg(*engine, sequences, tg_prompts, tokens, n_gen, &stats));
            }
            double bytes_per_step = 0;
            if (cpu_engine != nullptr) {
              const cpu::CpuEngine::ProjectionBytes b = cpu_engine->projection_bytes();
              const auto head = static_cast<double>(cpu_engine->head_bytes());
              if (batch == 1) {
                // What a token must read with a48's layouts: q/k/v and gate whole (rows order
                // reads every row), up only on the non-zero gate channels (its rows), o_proj and
                // down only the columns of non-zero inputs, and the whole head. (Table 2 also
                // counts the ~12% zero INT4 inputs of q/k/v/gate as skippable; the rows kernels do
                // not skip them.)
                const double up_rows =
                    (1 - stats.up.sparsity()) / std::max(1e-12, 1 - stats.gate.sparsity());
                bytes_per_step = static_cast<double>(b.qkv) + static_cast<double>(b.gate) +
                                 static_cast<double>(b.up) * up_rows +
                                 static_cast<double>(b.out) * (1 - stats.out.sparsity()) +
                                 static_cast<double>(b.down) * (1 - stats.down.sparsity()) + head;
              } else {
                // A batch's step needs every weight once: the union of B tokens' non-zero inputs
                // and gate channels covers nearly all of them (50% top-K over 8 independent tokens
                // leaves 0.4% of o_proj's columns unread). The head counts once, although the CPU
                // head reads it once per sequence: the roofline is what an ideal step reads.
                bytes_per_step = static_cast<double>(b.total()) + head;
              }
              fmt::print(stderr,
                         "a48 bench: {} sparsity qkv {:.1f}% out {:.1f}% gate {:.1f}% up {:.1f}% "
                         "down {:.1f}%; dense bytes/step {}\n",
                         test_name("tg", n_gen, batch), 100 * stats.qkv.sparsity(),
                         100 * stats.out.sparsity(), 100 * stats.gate.sparsity(),
                         100 * stats.up.sparsity(), 100 * stats.down.sparsity(),
                         human_bytes(static_cast<double>(b.total()) + head));
            }
            report("tg", n_gen, batch, summarize(values),
                   bytes_per_step / static_cast<double>(batch));
          }
        }
      }
    }
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
  command->add_option("-p,--n-prompt", options->n_prompt,
                      "Prompt lengths of pp, comma-separated (0: skip pp)")
      ->delimiter(',')
      ->capture_default_str();
  command->add_option("-n,--n-gen", options->n_gen,
                      "Generated tokens per sequence of tg, comma-separated (0: skip tg)")
      ->delimiter(',')
      ->capture_default_str();
  command->add_option("-b,--batch", options->batch,
                      "tg batches, comma-separated: sequences advanced one token each per step")
      ->delimiter(',')
      ->capture_default_str();
  command->add_option("-r,--repetitions", options->repetitions, "Repetitions of each test")
      ->capture_default_str();
  command->add_option("--json", options->json_path, "Also write the results as JSON to a file");
  command->add_option("--seed", options->seed, "Seed of the synthetic model and token ids")
      ->capture_default_str();
  command->callback([options] { run_bench(*options); });
}

}  // namespace a48::cli
