#include "engine/make_engine.h"

#include "core/error.h"
#include "cpu/cpu_engine.h"
#include "model/reference_engine.h"
#if defined(A48_HAVE_CUDA)
#include "cuda/infer/cuda_engine.h"
#endif

namespace a48 {

EngineBackend parse_engine_backend(std::string_view name) {
  if (name == "reference") return EngineBackend::reference;
  if (name == "cpu") return EngineBackend::cpu;
  if (name == "cuda") return EngineBackend::cuda;
  fail("unknown device '{}' (expected cpu, cuda or reference)", name);
}

std::string_view to_string(EngineBackend backend) {
  switch (backend) {
    case EngineBackend::reference: return "reference";
    case EngineBackend::cpu: return "cpu";
    case EngineBackend::cuda: return "cuda";
  }
  return "?";
}

std::unique_ptr<Engine> make_engine(std::shared_ptr<const Model> model,
                                    const EngineOptions& options) {
  check(model != nullptr, "make_engine: no model");
  switch (options.backend) {
    case EngineBackend::reference:
      check(options.head == HeadPrecision::f32,
            "the reference engine keeps the head in f32 (--head {} needs --device cpu or cuda)",
            to_string(options.head));
      return std::make_unique<ReferenceEngine>(std::move(model));
    case EngineBackend::cpu:
      return std::make_unique<cpu::CpuEngine>(*model,
                                              cpu::CpuEngineOptions{options.threads, options.head});
    case EngineBackend::cuda:
#if defined(A48_HAVE_CUDA)
      return make_cuda_engine(std::move(model), options.device,
                              options.head == HeadPrecision::int8);
#else
      fail("--device cuda: this a48 was built without the CUDA inference engine "
           "(configure with -DA48_CUDA=ON where nvcc exists)");
#endif
  }
  fail("make_engine: unknown backend");
}

}  // namespace a48
