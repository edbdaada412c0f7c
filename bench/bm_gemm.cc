// GEMM microbenchmarks: gemm_nn / gemm_nt AVX2 vs the scalar reference on the shapes the
// a3c and nature networks reduce to (batch 1 and 5; the FC layers also at the batched
// actor-learner's k = 4..64 acting rows and k x t_max = 40..1280 rollout rows), plus the FMA
// peak of one core.
// Before any timing, every variant is checked against the reference (random shapes and
// strides, then each benchmarked shape); a mismatch exits with status 1 before timing.
// Machine: AMD EPYC Zen 4 (2 vCPU VM), one core; BM_FmaPeak measured 106.8 GFLOP/s AVX2 fp32
// (2 FMA pipes x 8 lanes x 2 flops x ~3.3 GHz). Command, from the build dir:
//   bench/bm_gemm --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// (add --benchmark_filter='avx2|Peak' to skip the slow reference runs; the checks still run
// the reference on every shape, tens of seconds for the batched FC shapes). Operands are
// reused across iterations: warm in L1/L2 for the conv shapes, in L3 for the 2.6-6.4 MB
// fc weights, as in a training step.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "common/aligned.h"
#include "common/cpu.h"
#include "nn/gemm.h"
#include "peak.h"

namespace a3c::bench {
namespace {

// ---------------------------------------------------------------------------------------
// Shapes. Conv layers are im2col'd channels-last, so A is the col matrix [N*OH*OW, KH*KW*Cin].

enum class Op { kNN, kNT };

struct Shape {
  std::string name;
  Op op;
  Index M, N, K;
  Index rsa, csa;  // nn: A(i,k) = A[i*rsa + k*csa]; nt: lda = rsa
  Index ldb, ldc;
  bool accumulate;
};

Shape nn(std::string name, Index M, Index N, Index K, Index rsa, Index csa, bool acc) {
  return {std::move(name), Op::kNN, M, N, K, rsa, csa, N, N, acc};
}
Shape nt(std::string name, Index M, Index N, Index K) {
  return {std::move(name), Op::kNT, M, N, K, K, 1, K, N, false};
}

std::vector<Shape> shapes() {
  std::vector<Shape> s;
  for (Index b : {1, 5}) {
    const std::string sb = "/b" + std::to_string(b);
    // a3c: conv 16x8x8/4 -> 32x4x4/2 -> fc 2592->256 -> heads 256->7
    s.push_back(nn("a3c.conv1.fwd" + sb, 400 * b, 16, 256, 256, 1, false));
    s.push_back(nn("a3c.conv2.fwd" + sb, 81 * b, 32, 256, 256, 1, false));
    s.push_back(nn("a3c.conv1.dW" + sb, 256, 16, 400 * b, 1, 256, true));
    s.push_back(nn("a3c.conv2.dW" + sb, 256, 32, 81 * b, 1, 256, true));
    s.push_back(nn("a3c.conv2.dcol" + sb, 81 * b, 256, 32, 32, 1, false));
    s.push_back(nn("a3c.fc.dx" + sb, b, 2592, 256, 256, 1, false));
    s.push_back(nn("a3c.fc.dW" + sb, 256, 2592, b, 1, 256, true));
    s.push_back(nt("a3c.fc.fwd" + sb, b, 256, 2592));
    s.push_back(nt("a3c.heads.fwd" + sb, b, 7, 256));
    // nature: conv 32x8x8/4 -> 64x4x4/2 -> 64x3x3/1 -> fc 3136->512
    s.push_back(nn("nature.conv1.fwd" + sb, 400 * b, 32, 256, 256, 1, false));
    s.push_back(nn("nature.conv2.fwd" + sb, 81 * b, 64, 512, 512, 1, false));
    s.push_back(nn("nature.conv3.fwd" + sb, 49 * b, 64, 576, 576, 1, false));
    s.push_back(nt("nature.fc.fwd" + sb, b, 512, 3136));
  }
  // The batched actor-learner (k envs per worker): its FC layers run the forward at k rows per
  // acting step and the backward at k x t_max rows per rollout. The network runs its conv GEMMs
  // one image at a time whatever the batch: the /b1 conv shapes above are those of every batch.
  for (Index k : {4, 8, 16, 32, 64}) {
    const std::string sb = "/b" + std::to_string(k);
    s.push_back(nt("a3c.fc.fwd" + sb, k, 256, 2592));
    s.push_back(nt("nature.fc.fwd" + sb, k, 512, 3136));
  }
  for (Index n : {40, 80, 160, 320, 640, 1280}) {
    const std::string sb = "/b" + std::to_string(n);
    s.push_back(nn("a3c.fc.dx" + sb, n, 2592, 256, 256, 1, false));
    s.push_back(nn("a3c.fc.dW" + sb, 256, 2592, n, 1, 256, true));
    s.push_back(nn("nature.fc.dx" + sb, n, 3136, 512, 512, 1, false));
    s.push_back(nn("nature.fc.dW" + sb, 512, 3136, n, 1, 512, true));
  }
  return s;
}

// ---------------------------------------------------------------------------------------
// Operands sized from the strides, so any view (transposed, padded, overlapping) fits.

struct Operands {
  std::vector<float> A, B, C;
};

Index span(Index rows, Index cols, Index rs, Index cs) {
  return rows == 0 || cols == 0 ? 0 : (rows - 1) * rs + (cols - 1) * cs + 1;
}

Operands make_operands(const Shape& s, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  Operands o;
  o.A.resize(s.op == Op::kNN ? span(s.M, s.K, s.rsa, s.csa) : span(s.M, s.K, s.rsa, 1));
  o.B.resize(s.op == Op::kNN ? span(s.K, s.N, s.ldb, 1) : span(s.N, s.K, s.ldb, 1));
  o.C.resize(span(s.M, s.N, s.ldc, 1));
  for (auto* v : {&o.A, &o.B, &o.C})
    for (float& x : *v) x = u(rng);
  return o;
}

using Kernel = void (*)(const Shape&, const float*, const float*, float*);

void run_ref(const Shape& s, const float* A, const float* B, float* C) {
  if (s.op == Op::kNN)
    gemm_nn_ref(s.M, s.N, s.K, A, s.rsa, s.csa, B, s.ldb, C, s.ldc, s.accumulate);
  else
    gemm_nt_ref(s.M, s.N, s.K, A, s.rsa, B, s.ldb, C, s.ldc, s.accumulate);
}
void run_avx2(const Shape& s, const float* A, const float* B, float* C) {
  if (s.op == Op::kNN)
    gemm_nn_avx2(s.M, s.N, s.K, A, s.rsa, s.csa, B, s.ldb, C, s.ldc, s.accumulate);
  else
    gemm_nt_avx2(s.M, s.N, s.K, A, s.rsa, B, s.ldb, C, s.ldc, s.accumulate);
}

// ---------------------------------------------------------------------------------------
// Correctness against the reference.

// Float summation error grows with the number of terms; relative to sum_k |a||b| + |c|,
// a blocked fp32 sum of K <= ~4000 terms stays well under 1e-5, so 1e-4 catches any real
// indexing bug (errors of order 1) without flagging rounding.
constexpr double kRelTol = 1e-4;

// Checks one shape; returns the max error relative to the magnitude bound. Prints and
// returns +inf on a mismatch (including any write outside the M x N block of C).
double check_shape(const Shape& s, std::mt19937& rng, bool verbose) {
  Operands o = make_operands(s, rng);
  if (!s.accumulate)  // overwrite mode must never read C: poison it
    for (Index i = 0; i < s.M; ++i)
      for (Index j = 0; j < s.N; ++j) o.C[i * s.ldc + j] = NAN;
  std::vector<float> want = o.C, got = o.C;
  run_ref(s, o.A.data(), o.B.data(), want.data());
  run_avx2(s, o.A.data(), o.B.data(), got.data());
  // Magnitude bound: the reference run on |A|, |B|, |C| gives sum_k |a||b| + |c|.
  Operands a = o;
  for (auto* v : {&a.A, &a.B, &a.C})
    for (float& x : *v) x = std::isnan(x) ? 0.f : std::fabs(x);
  std::vector<float> mag = a.C;
  run_ref(s, a.A.data(), a.B.data(), mag.data());

  double worst = 0, max_abs = 0;
  for (size_t idx = 0; idx < want.size(); ++idx) {
    const bool both_nan = std::isnan(want[idx]) && std::isnan(got[idx]);
    const double diff = both_nan ? 0.0 : std::fabs(double(got[idx]) - want[idx]);
    const double rel = diff / (double(mag[idx]) + 1e-30);
    if (!(diff == 0.0 || rel <= kRelTol)) {
      std::fprintf(stderr,
                   "NOT OK %s M=%lld N=%lld K=%lld rsa=%lld csa=%lld ldb=%lld ldc=%lld acc=%d: "
                   "C[%zu] got %.7g want %.7g (|diff| %.3g, bound %.3g)\n",
                   s.name.c_str(), (long long)s.M, (long long)s.N, (long long)s.K,
                   (long long)s.rsa, (long long)s.csa, (long long)s.ldb, (long long)s.ldc,
                   int(s.accumulate), idx, got[idx], want[idx], diff, kRelTol * mag[idx]);
      return INFINITY;
    }
    worst = std::max(worst, rel);
    max_abs = std::max(max_abs, diff);
  }
  if (verbose)
    std::printf("check %-24s max abs diff %.3g  max rel %.3g  OK\n", s.name.c_str(), max_abs,
                worst);
  return worst;
}

// Random shapes with every stride pattern the callers use, and some they don't. M, N in
// min_mn..max_mn cover every register-tile remainder; K up to max_k crosses the K-chunk
// boundaries; large M, N, K reach the packed gemm_nn path and gemm_nt's column panels.
bool check_random(std::mt19937& rng, int cases, int min_mn, int max_mn, int max_k) {
  std::uniform_int_distribution<int> dim(min_mn, max_mn), kdim(0, max_k), pad(0, 9),
      pick(0, 3), coin(0, 1);
  double worst = 0;
  for (int t = 0; t < cases; ++t) {
    Shape s;
    s.name = "random";
    s.op = coin(rng) ? Op::kNN : Op::kNT;
    s.M = dim(rng), s.N = dim(rng), s.K = kdim(rng);
    if (t % 7 == 0) s.K = 8 * (s.K / 8);  // exact vector multiples too
    s.accumulate = coin(rng);
    s.ldb = (s.op == Op::kNN ? s.N : s.K) + (coin(rng) ? pad(rng) : 0);
    s.ldc = s.N + (coin(rng) ? pad(rng) : 0);
    if (s.op == Op::kNT) {
      s.rsa = s.K + (coin(rng) ? pad(rng) : 0), s.csa = 1;
    } else {
      switch (pick(rng)) {
        case 0: s.rsa = s.K + pad(rng), s.csa = 1; break;  // row-major, padded
        case 1: s.rsa = 1, s.csa = s.M + pad(rng); break;  // transposed view
        case 2: s.rsa = 1 + pad(rng), s.csa = 1 + pad(rng); break;  // arbitrary, may overlap
        default: s.rsa = s.K, s.csa = 1; break;
      }
    }
    const double w = check_shape(s, rng, false);
    if (!std::isfinite(w)) return false;
    worst = std::max(worst, w);
  }
  std::printf("check %d random shapes (M,N in %d..%d, K in 0..%d, strides, accumulate)  "
              "max rel %.3g  OK\n", cases, min_mn, max_mn, max_k, worst);
  return true;
}

// ---------------------------------------------------------------------------------------
// Benchmarks.

AlignedBuffer<float> aligned_copy(const std::vector<float>& v) {
  AlignedBuffer<float> b(v.size());
  std::copy(v.begin(), v.end(), b.data());
  return b;
}

// Timed on 64-byte aligned copies, like the network's buffers (the checks above use
// exact-size vectors instead, so reads past the end or misalignment would show there).
// The counter is a rate: "FLOP=95G/s" means 95 GFLOP/s.
void BM_Gemm(benchmark::State& state, const Shape& s, Kernel kernel) {
  std::mt19937 rng(1);
  const Operands o = make_operands(s, rng);
  const AlignedBuffer<float> A = aligned_copy(o.A), B = aligned_copy(o.B);
  AlignedBuffer<float> C = aligned_copy(o.C);
  for (auto _ : state) {
    kernel(s, A.data(), B.data(), C.data());
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * double(s.M) * double(s.N) * double(s.K);
  state.counters["FLOP"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_FmaPeak(benchmark::State& state) {
  const std::int64_t iters = state.range(0);
  for (auto _ : state) benchmark::DoNotOptimize(fma_peak_loop(iters));
  state.counters["FLOP"] = benchmark::Counter(kFmaPeakFlopsPerIter * double(iters),
                                              benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace
}  // namespace a3c::bench

int main(int argc, char** argv) {
  using namespace a3c::bench;
  const bool avx2 = a3c::cpu_features().avx2_fma;
  if (!avx2) std::printf("CPU has no AVX2+FMA: timing the reference kernels only\n");

  const std::vector<Shape> all = shapes();
  if (avx2) {
    std::mt19937 rng(12345);
    bool ok = check_random(rng, 3000, 0, 70, 70) && check_random(rng, 300, 0, 40, 3000) &&
              check_random(rng, 40, 64, 400, 700);
    // Edges the network shapes miss (checked, not timed): partial 16-column panels with
    // several column panels, several row blocks and K chunks of the packed gemm_nn (A read
    // through a transposed view too), and gemm_nt with a partial last column panel, a
    // masked K tail and the 5q + 1 row split.
    Shape t = nn("edge.nn.packed.At", 151, 1030, 97, 1, 151, true);
    t.ldb += 3, t.ldc += 5;
    const std::vector<Shape> edges = {nn("edge.nn.packed", 70, 2100, 300, 300, 1, false), t,
                                      nt("edge.nt.panels", 67, 1001, 2050),
                                      nt("edge.nt.rows16", 16, 300, 1001), nt("edge.nt.rows6", 6, 100, 77)};
    for (const Shape& s : edges) ok = ok && std::isfinite(check_shape(s, rng, true));
    for (const Shape& s : all) ok = ok && std::isfinite(check_shape(s, rng, true));
    if (!ok) {
      std::fprintf(stderr, "bm_gemm: AVX2 kernels disagree with the reference; not timing.\n");
      return 1;
    }
  }

  if (avx2) benchmark::RegisterBenchmark("BM_FmaPeak", BM_FmaPeak)->Arg(1 << 20);
  for (const Shape& s : all) {
    const std::string base = std::string(s.op == Op::kNN ? "BM_GemmNN/" : "BM_GemmNT/") + s.name;
    if (avx2) benchmark::RegisterBenchmark((base + "/avx2").c_str(), BM_Gemm, s, run_avx2);
    benchmark::RegisterBenchmark((base + "/ref").c_str(), BM_Gemm, s, run_ref);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
