// ISA dispatch for the CPU kernels: the one place that knows which kernel table runs. cpuid picks
// the best table the CPU (and OS) supports; the environment variable A48_ISA=scalar|avx2|avx512
// forces one, and it is an error to force an ISA the CPU lacks.
#pragma once

#include <string_view>
#include <vector>

#include "cpu/kernel_table.h"

namespace a48::cpu {

enum class Isa { scalar, avx2, avx512 };

const char* to_string(Isa isa);
Isa parse_isa(std::string_view name);  // "scalar", "avx2", "avx512"; throws a48::Error

// Whether this build has the table and this CPU can run it. avx2 needs AVX2, FMA, F16C and
// POPCNT; avx512 needs AVX-512 F, BW, VL, VNNI, VBMI and POPCNT (what its translation unit is
// compiled with).
bool isa_supported(Isa isa);
std::vector<Isa> supported_isas();  // ascending; always starts with scalar
Isa best_isa();                     // the last of supported_isas()

// What A48_ISA=`value` selects: best_isa() for null or empty, else that ISA; throws a48::Error
// naming it when it is unknown or unsupported.
Isa resolve_isa(const char* value);

// resolve_isa(getenv("A48_ISA")), read once per process.
Isa active_isa();

const KernelTable& kernels(Isa isa);  // throws a48::Error when !isa_supported(isa)
const KernelTable& active_kernels();  // kernels(active_isa())

}  // namespace a48::cpu
