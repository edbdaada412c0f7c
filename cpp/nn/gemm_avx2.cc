// AVX2+FMA variants of gemm_nn / gemm_nt (same semantics as the `_ref` twins in gemm.cc).
// Compiled with -mavx2 -mfma and only called after runtime detection, so every helper
// here is static / in an anonymous namespace: nothing AVX2-compiled may leak to other
// files through an inline function. Single-threaded, deterministic (blocking depends on
// the shapes only), no heap allocation, no packing.
#include <immintrin.h>

#include "nn/gemm.h"

namespace a3c {
namespace {

// No std:: templates in this file (std::min, std::fill, ...): at -O0 they are emitted as
// weak symbols compiled with -mavx2, and the linker may pick that copy for baseline files.
inline Index imin(Index a, Index b) { return a < b ? a : b; }
inline Index imax(Index a, Index b) { return a > b ? a : b; }

// n (> 0) split into ceil(n / max) near-equal blocks, each a multiple of `unit` (no thin last
// block); the result is <= max when max is a multiple of unit.
Index block_size(Index n, Index max, Index unit) {
  if (n <= max) return n;
  const Index blocks = (n + max - 1) / max;
  const Index b = (n + blocks - 1) / blocks;
  return (b + unit - 1) / unit * unit;
}

// maskload/maskstore masks: the first n (0..8) lanes on.
alignas(32) const int kMaskTable[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
inline __m256i lane_mask(Index n) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + 8 - n));
}

// ---------------------------------------------------------------------------------------
// gemm_nn: MR x (8*NV) register tile, B rows loaded as NV vectors per k, A broadcast from
// memory (any strides). The main tile is 6 x 16: 12 ymm accumulators, the largest that
// fits the 16 registers with two B vectors and a broadcast; 12 FMAs per 8 loads keeps
// both FMA pipes busy. One or two rows (M = batch, M remainders) get 64 / 32 wide tiles so
// there are still 8 independent FMA chains to cover the FMA latency (4 cycles x 2 pipes).
constexpr int kMR = 6;
// K is processed in chunks so that the chunk of B (24 KB per 16 columns) stays in L1/L2
// while all row blocks sweep over it; C is re-read once per chunk, cheap beside K.
constexpr Index kKC = 384;

template <int MR, int NV, bool kMasked>
inline void nn_tile(Index K, const float* A, Index rsa, Index csa, const float* B, Index ldb,
                    float* C, Index ldc, bool accumulate, const __m256i* mask) {
  __m256 c[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) c[r][v] = _mm256_setzero_ps();
  const float* a[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) a[r] = A + r * rsa;

  for (Index k = 0; k < K; ++k) {
    const float* bk = B + k * ldb;
    __m256 b[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v)
      b[v] = kMasked ? _mm256_maskload_ps(bk + 8 * v, mask[v]) : _mm256_loadu_ps(bk + 8 * v);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m256 av = _mm256_broadcast_ss(a[r]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) c[r][v] = _mm256_fmadd_ps(av, b[v], c[r][v]);
      a[r] += csa;
    }
  }

#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      float* cp = C + r * ldc + 8 * v;
      if (kMasked) {
        if (accumulate) c[r][v] = _mm256_add_ps(c[r][v], _mm256_maskload_ps(cp, mask[v]));
        _mm256_maskstore_ps(cp, mask[v], c[r][v]);
      } else {
        if (accumulate) c[r][v] = _mm256_add_ps(c[r][v], _mm256_loadu_ps(cp));
        _mm256_storeu_ps(cp, c[r][v]);
      }
    }
}

// One row block (MR rows) against all columns of C: wide panels, then 16-wide panels,
// then one masked panel for the last N % 16 columns.
template <int MR>
void nn_row_block(Index N, Index K, const float* A, Index rsa, Index csa, const float* B,
                  Index ldb, float* C, Index ldc, bool accumulate) {
  constexpr int kNV = MR == 1 ? 8 : MR == 2 ? 4 : 2;
  Index j = 0;
  for (; j + 8 * kNV <= N; j += 8 * kNV)
    nn_tile<MR, kNV, false>(K, A, rsa, csa, B + j, ldb, C + j, ldc, accumulate, nullptr);
  for (; j + 16 <= N; j += 16)
    nn_tile<MR, 2, false>(K, A, rsa, csa, B + j, ldb, C + j, ldc, accumulate, nullptr);
  if (j < N) {
    const Index n = N - j;
    const __m256i mask[2] = {lane_mask(imin(n, 8)), lane_mask(imax(n - 8, 0))};
    nn_tile<MR, 2, true>(K, A, rsa, csa, B + j, ldb, C + j, ldc, accumulate, mask);
  }
}

using NnRowBlockFn = void (*)(Index, Index, const float*, Index, Index, const float*, Index,
                              float*, Index, bool);
constexpr NnRowBlockFn kNnRowBlock[kMR + 1] = {nullptr,         nn_row_block<1>, nn_row_block<2>,
                                               nn_row_block<3>, nn_row_block<4>, nn_row_block<5>,
                                               nn_row_block<6>};

// ---------------------------------------------------------------------------------------
// gemm_nt: dot products. An MR x NR block of C keeps MR*NR vector accumulators over k,
// loading MR vectors of A and NR vectors of B per 8 k's, then reduces each horizontally.
// NR is chosen so the block has 8-12 independent FMA chains (latency 4 x 2 pipes).
// At M=1 (acting) this is a GEMV bound by streaming B once.

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// K in chunks so the 5 rows of A (5 x 1024 floats = 20 KB) stay in L1 while B streams;
// N in panels of at most 72 rows of B (72 x 1024 floats = 288 KB) that stay in L2 while every
// row block of A passes over them (72: whole 2-, 3-, 4- and 8-wide tiles). Without the panels,
// every 5-row block re-read all of B (2.6-6.4 MB) from L3.
constexpr Index kNtKC = 1024;
constexpr Index kNtNC = 72;

template <int MR, int NR>
inline void nt_tile(Index K, const float* A, Index lda, const float* B, Index ldb, float* C,
                    Index ldc, bool accumulate) {
  __m256 acc[MR][NR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < NR; ++c) acc[r][c] = _mm256_setzero_ps();

  auto step = [&](Index k, auto load) {
    __m256 b[NR];
#pragma GCC unroll 16
    for (int c = 0; c < NR; ++c) b[c] = load(B + c * ldb + k);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      __m256 a = load(A + r * lda + k);
      // Keep `a` in a register: otherwise GCC folds it into each FMA as a memory operand,
      // loading it NR times and making the loop load-bound (12 loads per 10 FMAs at 5x2).
      asm("" : "+x"(a));
#pragma GCC unroll 16
      for (int c = 0; c < NR; ++c) acc[r][c] = _mm256_fmadd_ps(a, b[c], acc[r][c]);
    }
  };
  Index k = 0;
  auto loadu = [](const float* p) { return _mm256_loadu_ps(p); };
  // From 3 rows up, prefetch the next tile's rows of B (the caller's next j) into L2, one
  // line per row per 16 k: the hardware prefetcher only picks up a new row after its first
  // misses (+6-16% at 4-5 rows in same-run A/B). Not for 1-2 rows: those are bound by
  // streaming B from L3, and prefetching cost the 1-row GEMV ~25% in the same A/B.
  const float* pf = B + NR * ldb;
  for (; MR >= 3 && k + 16 <= K; k += 16) {
#pragma GCC unroll 16
    for (int c = 0; c < NR; ++c)
      _mm_prefetch(reinterpret_cast<const char*>(pf + c * ldb + k), _MM_HINT_T1);
    step(k, loadu);
    step(k + 8, loadu);
  }
  for (; k + 8 <= K; k += 8) step(k, loadu);
  if (k < K) {
    const __m256i m = lane_mask(K - k);
    step(k, [m](const float* p) { return _mm256_maskload_ps(p, m); });
  }

#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < NR; ++c) {
      float* out = C + r * ldc + c;
      const float s = hsum(acc[r][c]);
      *out = accumulate ? *out + s : s;
    }
}

// MR rows of A against all rows of B: NR-wide blocks, then single rows for the tail.
template <int MR, int NR>
void nt_row_block(Index N, Index K, const float* A, Index lda, const float* B, Index ldb,
                  float* C, Index ldc, bool accumulate) {
  Index j = 0;
  for (; j + NR <= N; j += NR)
    nt_tile<MR, NR>(K, A, lda, B + j * ldb, ldb, C + j, ldc, accumulate);
  for (; j < N; ++j) nt_tile<MR, 1>(K, A, lda, B + j * ldb, ldb, C + j, ldc, accumulate);
}

}  // namespace

void gemm_nn_avx2(Index M, Index N, Index K, const float* A, Index rsa, Index csa,
                  const float* B, Index ldb, float* C, Index ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {  // the k loops below would never touch C; the reference still zeroes it
    if (!accumulate)
      for (Index i = 0; i < M; ++i)
        for (Index j = 0; j < N; ++j) C[i * ldc + j] = 0.0f;
    return;
  }
  for (Index k0 = 0; k0 < K; k0 += kKC) {
    const Index kc = imin(kKC, K - k0);
    const bool acc = accumulate || k0 > 0;
    const float* Ak = A + k0 * csa;
    const float* Bk = B + k0 * ldb;
    Index i = 0;
    for (; i + kMR <= M; i += kMR)
      nn_row_block<kMR>(N, kc, Ak + i * rsa, rsa, csa, Bk, ldb, C + i * ldc, ldc, acc);
    if (i < M) kNnRowBlock[M - i](N, kc, Ak + i * rsa, rsa, csa, Bk, ldb, C + i * ldc, ldc, acc);
  }
}

void gemm_nt_avx2(Index M, Index N, Index K, const float* A, Index lda, const float* B,
                  Index ldb, float* C, Index ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  // M = 5q + 1 would leave one row for a GEMV pass over all of B: run 3 + 3 instead.
  const Index five_rows_end = (M > 5 && M % 5 == 1) ? M - 6 : M / 5 * 5;
  // Equal K chunks (3136 = 4 x 784, not 3 x 1024 + 64: a thin last chunk pays the full
  // per-tile reduction and C update for little work). Each C element's summation order
  // depends on K only, so a row's result does not depend on M or on its position.
  const Index NC = block_size(N, kNtNC, 24);
  const Index KC = block_size(imax(K, 1), kNtKC, 8);
  for (Index k0 = 0; k0 < K || k0 == 0; k0 += KC) {
    const Index kc = imin(KC, K - k0);
    const bool acc = accumulate || k0 > 0;
    for (Index j0 = 0; j0 < N; j0 += NC) {
      const Index nc = imin(NC, N - j0);
      const float* Ak = A + k0;
      const float* Bk = B + k0 + j0 * ldb;
      float* Cj = C + j0;
      Index i = 0;
      for (; i < five_rows_end; i += 5)
        nt_row_block<5, 2>(nc, kc, Ak + i * lda, lda, Bk, ldb, Cj + i * ldc, ldc, acc);
      for (; M - i >= 6; i += 3)
        nt_row_block<3, 4>(nc, kc, Ak + i * lda, lda, Bk, ldb, Cj + i * ldc, ldc, acc);
      const float* Ai = Ak + i * lda;
      float* Ci = Cj + i * ldc;
      switch (M - i) {
        case 4: nt_row_block<4, 3>(nc, kc, Ai, lda, Bk, ldb, Ci, ldc, acc); break;
        case 3: nt_row_block<3, 4>(nc, kc, Ai, lda, Bk, ldb, Ci, ldc, acc); break;
        case 2: nt_row_block<2, 4>(nc, kc, Ai, lda, Bk, ldb, Ci, ldc, acc); break;
        case 1: nt_row_block<1, 8>(nc, kc, Ai, lda, Bk, ldb, Ci, ldc, acc); break;
        default: break;
      }
    }
  }
}

}  // namespace a3c
