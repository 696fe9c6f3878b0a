// Choosing and building an inference engine (model/engine.h) from user-facing options:
//   reference  the plain scalar forward (model/reference_engine.h), the yardstick
//   cpu        packed ternary weights and the dispatched integer kernels (cpu/cpu_engine.h)
//   cuda       the Hopper kernels (cuda/infer/), where a48 was built with CUDA and a device exists
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "model/engine.h"
#include "model/weights.h"

namespace a48 {

enum class EngineBackend { reference, cpu, cuda };
EngineBackend parse_engine_backend(std::string_view name);  // "reference", "cpu", "cuda"
std::string_view to_string(EngineBackend backend);

struct EngineOptions {
  EngineBackend backend = EngineBackend::cpu;
  int threads = 0;  // CPU threads; 0 = all hardware threads
  HeadPrecision head = HeadPrecision::f32;
  int device = 0;  // CUDA device ordinal
};

// Throws a48::Error when the backend is unavailable (e.g. cuda in a build without CUDA) or the
// model is not one it runs.
std::unique_ptr<Engine> make_engine(std::shared_ptr<const Model> model,
                                    const EngineOptions& options);

}  // namespace a48
