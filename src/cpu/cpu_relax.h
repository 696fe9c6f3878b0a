// A spin-wait hint: `pause` on x86 (lets the sibling hyperthread run, saves power), nothing
// elsewhere. The one place the thread pool's spinning touches an ISA.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace a48::cpu {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

}  // namespace a48::cpu
