#include "common/cpu.h"

#include <cstdlib>

#include "common/check.h"

#if defined(A3C_X86)
#include <immintrin.h>
#endif

namespace a3c {

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = [] {
    CpuFeatures r;
#if defined(A3C_X86)
    __builtin_cpu_init();
    r.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    r.avx512f = __builtin_cpu_supports("avx512f");
#endif
    return r;
  }();
  return f;
}

static std::string& isa_slot() {
  static std::string isa = [] {
    const char* env = std::getenv("A3C_KERNELS");
    if (env && std::string(env) == "scalar") return std::string("scalar");
    return std::string(cpu_features().avx2_fma ? "avx2" : "scalar");
  }();
  return isa;
}

const std::string& kernel_isa() { return isa_slot(); }

static Isa& isa_enum() {
  static Isa isa = kernel_isa() == "avx2" ? Isa::kAvx2 : Isa::kScalar;
  return isa;
}

Isa active_isa() { return isa_enum(); }

void set_kernel_isa(const std::string& isa) {
  A3C_REQUIRE(isa == "scalar" || isa == "avx2", "unknown kernel set '", isa,
              "': expected 'avx2' or 'scalar'");
  A3C_REQUIRE(isa != "avx2" || cpu_features().avx2_fma,
              "this CPU has no AVX2+FMA: only the 'scalar' kernels can run");
  isa_slot() = isa;
  isa_enum() = isa == "avx2" ? Isa::kAvx2 : Isa::kScalar;
}

void enable_flush_denormals() {
#if defined(A3C_X86)
  _mm_setcsr(_mm_getcsr() | 0x8040);  // FTZ (bit 15) | DAZ (bit 6)
#endif
}

ScopedFlushDenormals::ScopedFlushDenormals() {
#if defined(A3C_X86)
  saved_ = _mm_getcsr();
  _mm_setcsr(saved_ | 0x8040);
#endif
}

ScopedFlushDenormals::~ScopedFlushDenormals() {
#if defined(A3C_X86)
  _mm_setcsr(saved_);
#endif
}

}  // namespace a3c
