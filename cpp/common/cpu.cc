#include "common/cpu.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>

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

namespace {

Isa initial_isa() {
  const char* env = std::getenv("A3C_KERNELS");
  if (env && std::string(env) == "scalar") return Isa::kScalar;
  return cpu_features().avx2_fma ? Isa::kAvx2 : Isa::kScalar;
}

// The switch: written by set_kernel_isa only, read (relaxed) by every kernel call. Relaxed is
// enough: nothing else is published through it, it cannot change while a pool runs (g_users
// below), and a pool's threads start after its KernelIsaInUse took g_users_mu, i.e. after the
// last store. (A plain global was a data race with any concurrent set.)
std::atomic<Isa>& isa_slot() {
  static std::atomic<Isa> isa{initial_isa()};
  return isa;
}

std::mutex g_users_mu;  // guards g_users, and orders set_kernel_isa against pool starts
int g_users = 0;        // live KernelIsaInUse guards (running pools)

}  // namespace

Isa active_isa() { return isa_slot().load(std::memory_order_relaxed); }

const char* kernel_isa() { return active_isa() == Isa::kAvx2 ? "avx2" : "scalar"; }

void set_kernel_isa(const std::string& isa) {
  A3C_REQUIRE(isa == "scalar" || isa == "avx2", "unknown kernel set '", isa,
              "': expected 'avx2' or 'scalar'");
  A3C_REQUIRE(isa != "avx2" || cpu_features().avx2_fma,
              "this CPU has no AVX2+FMA: only the 'scalar' kernels can run");
  std::lock_guard<std::mutex> lock(g_users_mu);
  if (g_users > 0)
    throw std::runtime_error(str_cat("cannot change the kernel set to '", isa, "' while ", g_users,
                                     " training pool(s) run with '", kernel_isa(),
                                     "': set it before train() starts or after it returns"));
  isa_slot().store(isa == "avx2" ? Isa::kAvx2 : Isa::kScalar, std::memory_order_relaxed);
}

KernelIsaInUse::KernelIsaInUse() {
  std::lock_guard<std::mutex> lock(g_users_mu);
  ++g_users;
}

KernelIsaInUse::~KernelIsaInUse() {
  std::lock_guard<std::mutex> lock(g_users_mu);
  --g_users;
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
