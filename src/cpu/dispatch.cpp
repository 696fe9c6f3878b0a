#include "cpu/dispatch.h"

#include <cstdlib>
#include <string>

#include "core/error.h"

namespace a48::cpu {

namespace {

#if defined(A48_CPU_X86_KERNELS)
// __builtin_cpu_supports also checks that the OS saves the wide registers (XGETBV).
bool cpu_has(Isa isa) {
  __builtin_cpu_init();  // needed when called before static constructors have run
  switch (isa) {
    case Isa::scalar:
      return true;
    case Isa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c") && __builtin_cpu_supports("popcnt");
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
             __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("popcnt");
  }
  return false;
}
const KernelTable* table(Isa isa) {
  switch (isa) {
    case Isa::scalar:
      return &kScalarKernels;
    case Isa::avx2:
      return &kAvx2Kernels;
    case Isa::avx512:
      return &kAvx512Kernels;
  }
  return nullptr;
}
#else
// Not an x86-64 build: only the scalar kernels exist.
bool cpu_has(Isa isa) { return isa == Isa::scalar; }
const KernelTable* table(Isa isa) { return isa == Isa::scalar ? &kScalarKernels : nullptr; }
#endif

}  // namespace

Isa resolve_isa(const char* forced) {
  if (forced == nullptr || *forced == '\0') return best_isa();
  const Isa isa = parse_isa(forced);
  if (!isa_supported(isa)) {
    std::string list;
    for (Isa s : supported_isas()) list += (list.empty() ? "" : ", ") + std::string(to_string(s));
    fail("A48_ISA={}: this CPU (or build) cannot run it; supported: {}", forced, list);
  }
  return isa;
}

const char* to_string(Isa isa) {
  switch (isa) {
    case Isa::scalar:
      return "scalar";
    case Isa::avx2:
      return "avx2";
    case Isa::avx512:
      return "avx512";
  }
  return "unknown";
}

Isa parse_isa(std::string_view name) {
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (name == to_string(isa)) return isa;
  }
  fail("unknown ISA '{}' (expected scalar, avx2 or avx512)", name);
}

bool isa_supported(Isa isa) { return table(isa) != nullptr && cpu_has(isa); }

std::vector<Isa> supported_isas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (isa_supported(isa)) isas.push_back(isa);
  }
  return isas;
}

Isa best_isa() { return supported_isas().back(); }

Isa active_isa() {
  static const Isa isa =
      resolve_isa(std::getenv("A48_ISA"));  // a throw leaves it unset: the next call retries
  return isa;
}

const KernelTable& kernels(Isa isa) {
  check(isa_supported(isa), "CPU kernels: ISA {} is not supported on this CPU or build",
        to_string(isa));
  return *table(isa);
}

const KernelTable& active_kernels() {
  static const KernelTable& k = kernels(active_isa());
  return k;
}

}  // namespace a48::cpu
