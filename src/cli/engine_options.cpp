#include "cli/engine_options.h"

#include <CLI/CLI.hpp>

#include <string>

namespace a48::cli {

void add_engine_options(CLI::App& command, EngineOptions& options) {
  command
      .add_option_function<std::string>(
          "--device",
          [&options](const std::string& name) { options.backend = parse_engine_backend(name); },
          "Engine: cpu (packed ternary kernels), cuda, or reference (the scalar yardstick)")
      ->check(CLI::IsMember({"cpu", "cuda", "reference"}))
      ->default_str(std::string(to_string(options.backend)));
  command.add_option("-t,--threads", options.threads, "CPU threads; 0 = all hardware threads")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command
      .add_option_function<std::string>(
          "--head",
          [&options](const std::string& name) { options.head = parse_head_precision(name); },
          "LM head precision: f32, f16 or int8 (per-row absmax); cpu and cuda only")
      ->check(CLI::IsMember({"f32", "f16", "int8"}))
      ->default_str(std::string(to_string(options.head)));
  command.add_option("--gpu", options.device, "CUDA device ordinal")->capture_default_str();
}

}  // namespace a48::cli
