// Runtime CPU feature detection: the SIMD kernels are compiled into per-ISA files and only
// called when the running CPU has the ISA, so one binary runs on any x86-64.
#pragma once

#include <string>

namespace a3c {

struct CpuFeatures {
  bool avx2_fma = false;
  bool avx512f = false;
};

const CpuFeatures& cpu_features();

enum class Isa { kScalar, kAvx2 };

// The kernel set in use: read on every kernel call, by every worker, so it is one relaxed
// atomic load (set_kernel_isa below is what keeps it from changing under a running pool).
Isa active_isa();

// The kernel set in use: "avx2" or "scalar". A3C_KERNELS=scalar in the environment forces
// the scalar reference kernels (for testing and for comparing).
const char* kernel_isa();

// Forces the kernel set ("avx2", "scalar"); for tests and benchmarks. Throws
// std::invalid_argument for an unknown name or an ISA the CPU lacks, and std::runtime_error
// while any KernelIsaInUse exists (a training pool runs): a pool's workers would otherwise
// switch kernels mid-rollout, between a forward and the backward that reuses its packing.
void set_kernel_isa(const std::string& isa);

// Held for as long as kernels run on threads the caller does not wait for (Pool::start to
// Pool::join): while one exists, set_kernel_isa refuses to change the kernel set.
class KernelIsaInUse {
 public:
  KernelIsaInUse();
  ~KernelIsaInUse();
  KernelIsaInUse(const KernelIsaInUse&) = delete;
  KernelIsaInUse& operator=(const KernelIsaInUse&) = delete;
};

// Flush-to-zero / denormals-are-zero for the calling thread: RMSProp statistics of weights
// whose gradient stays zero decay into denormals, and arithmetic on denormals is ~10x slower.
void enable_flush_denormals();

// Enables flush-to-zero/denormals-are-zero for a scope and restores the caller's mode after:
// for kernel calls made on a Python thread, whose floating-point mode is not ours to keep.
class ScopedFlushDenormals {
 public:
  ScopedFlushDenormals();
  ~ScopedFlushDenormals();
  ScopedFlushDenormals(const ScopedFlushDenormals&) = delete;
  ScopedFlushDenormals& operator=(const ScopedFlushDenormals&) = delete;

 private:
  unsigned saved_ = 0;
};

}  // namespace a3c
