// The fp32 FMA throughput ceiling of one core: a register-only loop of independent AVX2
// FMAs, the yardstick for the GFLOP/s of the kernels (bm_gemm's BM_FmaPeak).
#pragma once

#include <cstdint>

namespace a3c::bench {

// FLOPs done by one iteration of fma_peak_loop (12 accumulators x 8 lanes x mul+add).
constexpr double kFmaPeakFlopsPerIter = 12 * 8 * 2;

// Runs `iters` iterations; returns a sum of the accumulators so the work is observable.
float fma_peak_loop(std::int64_t iters);

}  // namespace a3c::bench
