// AVX2+FMA variants of gemm_nn / gemm_nt (same semantics as the `_ref` twins in gemm.cc).
// Compiled with -mavx2 -mfma and only called after runtime detection, so every helper
// here is static / in an anonymous namespace: nothing AVX2-compiled may leak to other
// files through an inline function. Single-threaded, no hidden threads, deterministic
// (blocking depends on the shapes only), no heap allocation per call.
//
// Packing: the small shapes (conv layers, batch-1..5 FC) read their operands in place. The
// batched FC backward (dW, dx over k x t_max = 40..1280 rows) is the exception: its B operand
// (0.4-16 MB) lives in L3, and in-place 6-row blocks each re-streamed all of it (30-50% of
// the FMA peak, less when another process shares L3). There gemm_nn copies B into 16-column
// micro-panels and A into 6-row micro-panels (Goto/BLIS blocking, gemm_nn_packed), which
// needs 1.2 MB of scratch per thread, allocated on the thread's first such call and kept.
// gemm_nt (the FC forward) never packs: its B is the weight matrix, read once per call at
// small batches, so copying it would double the traffic of the memory-bound acting forward;
// panels of B rows sized for L2 give it the reuse across row blocks instead.
#include <immintrin.h>

#include <cstdlib>
#include <new>

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
// gemm_nn, packed (Goto/BLIS blocking) for the FC backward: dW [out, in] = dy^T x and
// dx [n, in] = dy W at rollout batches n = 40..1280, where B (x or W) is far beyond L2. A
// kc x nc panel of B is copied into 16-column micro-panels (kc x 16, contiguous) and an
// mc x kc block of A into 6-row micro-panels (kc x 6, contiguous); the 6 x 16 micro-kernel
// then reads its 16 KB micro-panel of B from L1 for all mc / 6 row panels, and A from L2 as
// one sequential stream. B is read from memory once per call (plus once per extra mc block,
// from L2/L3), A once per nc panel; the copies are O(K N + M K N / nc) beside 2 M N K flops.
//
// Used when M >= kPackMinM and K * N >= kPackMinKN: B larger than a quarter of L2, with
// enough rows to reuse it. The thresholds are measured, not derived: from 24 rows the packed
// path was as fast as the in-place one or faster in same-run A/B (dx at 24-40 rows: even to
// +5%, 64-160 rows: +6-28%); below K * N = 64k it lost (dW at n = 8-12: -10-30%). Every conv
// GEMM has K * N <= 37k, or N <= 64 where packing lost 10-50%: convs stay in place, unchanged.
constexpr int kPackMR = 6;
constexpr int kPackNR = 16;
constexpr Index kPackKC = 256;   // B micro-panel kc x 16 floats: 16 KB, half of L1
constexpr Index kPackMC = 144;   // A block mc x kc floats: 144 KB of L2
constexpr Index kPackNC = 1024;  // B panel kc x nc floats: 1 MB (L2/L3), reused by each mc block
constexpr Index kPackMinM = 24;
constexpr Index kPackMinKN = 64 * 1024;
static_assert(kPackMC % kPackMR == 0 && kPackNC % kPackNR == 0, "blocks of whole micro-panels");

// Per-thread packing buffers, allocated on a thread's first packed call and kept until the
// thread exits (a fixed 1.2 MB: the sizes depend on the block constants only, never on the
// shapes). No locks, and each thread packs its own copy, so results never depend on other
// threads. Raw aligned_alloc, not AlignedBuffer: no inline template instantiated in this
// AVX2-compiled file may be shared with baseline files (see imin above).
struct PackScratch {
  float* a;  // [kPackMC * kPackKC]
  float* b;  // [kPackKC * kPackNC]
  PackScratch()
      : a(static_cast<float*>(std::aligned_alloc(64, kPackMC * kPackKC * sizeof(float)))),
        b(static_cast<float*>(std::aligned_alloc(64, kPackKC * kPackNC * sizeof(float)))) {
    if (!a || !b) {
      std::free(a);
      std::free(b);
      throw std::bad_alloc();
    }
  }
  ~PackScratch() {
    std::free(a);
    std::free(b);
  }
  PackScratch(const PackScratch&) = delete;
  PackScratch& operator=(const PackScratch&) = delete;
};

PackScratch& pack_scratch() {
  thread_local PackScratch s;
  return s;
}

// A(i,k) for i < mc, k < kc -> ceil(mc/6) micro-panels [kc][6], rows past mc zero.
void pack_a(Index mc, Index kc, const float* A, Index rsa, Index csa, float* dst) {
  for (Index i = 0; i < mc; i += kPackMR, dst += kPackMR * kc) {
    const Index m = imin(kPackMR, mc - i);
    const float* a = A + i * rsa;
    if (m == kPackMR && rsa == 1) {  // dW: dy^T, the 6 rows are adjacent in memory
      for (Index k = 0; k < kc; ++k)
        for (int r = 0; r < kPackMR; ++r) dst[k * kPackMR + r] = a[k * csa + r];
    } else if (m == kPackMR) {
      for (int r = 0; r < kPackMR; ++r)
        for (Index k = 0; k < kc; ++k) dst[k * kPackMR + r] = a[r * rsa + k * csa];
    } else {
      for (Index k = 0; k < kc; ++k)
        for (int r = 0; r < kPackMR; ++r) dst[k * kPackMR + r] = r < m ? a[r * rsa + k * csa] : 0.0f;
    }
  }
}

// C[mr, nr] (+)= Ap (kc x 6) * B (kc x 16), mr <= 6, nr <= 16, where B is the packed
// micro-panel Bp or, with kPackB, the source rows B(k, 0..nr) (ldb apart; lanes past nr read
// as 0), which are then also written to Bp: the first row panel packs B as it computes, so
// the strided loads of the packing overlap the FMAs. The zero padding of a partial
// micro-panel gives results that are dropped.
template <bool kPackB>
void packed_tile(Index kc, const float* Ap, float* Bp, const float* B, Index ldb, float* C,
                 Index ldc, bool accumulate, Index mr, Index nr) {
  __m256 c[kPackMR][2];
#pragma GCC unroll 8
  for (int r = 0; r < kPackMR; ++r) c[r][0] = c[r][1] = _mm256_setzero_ps();
  const __m256i m0 = lane_mask(imin(nr, 8)), m1 = lane_mask(imax(nr - 8, 0));
#pragma GCC unroll 4
  for (Index k = 0; k < kc; ++k, Ap += kPackMR, Bp += kPackNR) {
    __m256 b0, b1;
    if (kPackB) {
      const float* bk = B + k * ldb;
      // The next micro-panel's row into L2: its fused tile then starts on L2 hits (+2-18%
      // at 80-1280 rows in same-run A/B).
      _mm_prefetch(reinterpret_cast<const char*>(bk + kPackNR), _MM_HINT_T1);
      if (nr == kPackNR) {
        b0 = _mm256_loadu_ps(bk);
        b1 = _mm256_loadu_ps(bk + 8);
      } else {
        b0 = _mm256_maskload_ps(bk, m0);
        b1 = _mm256_maskload_ps(bk + 8, m1);
      }
      _mm256_store_ps(Bp, b0);
      _mm256_store_ps(Bp + 8, b1);
    } else {
      b0 = _mm256_load_ps(Bp);
      b1 = _mm256_load_ps(Bp + 8);
    }
#pragma GCC unroll 8
    for (int r = 0; r < kPackMR; ++r) {
      const __m256 a = _mm256_broadcast_ss(Ap + r);
      c[r][0] = _mm256_fmadd_ps(a, b0, c[r][0]);
      c[r][1] = _mm256_fmadd_ps(a, b1, c[r][1]);
    }
  }
  if (mr == kPackMR && nr == kPackNR) {
#pragma GCC unroll 8
    for (int r = 0; r < kPackMR; ++r) {
      float* cp = C + r * ldc;
      if (accumulate) {
        c[r][0] = _mm256_add_ps(c[r][0], _mm256_loadu_ps(cp));
        c[r][1] = _mm256_add_ps(c[r][1], _mm256_loadu_ps(cp + 8));
      }
      _mm256_storeu_ps(cp, c[r][0]);
      _mm256_storeu_ps(cp + 8, c[r][1]);
    }
    return;
  }
  alignas(32) float t[kPackMR][kPackNR];
#pragma GCC unroll 8
  for (int r = 0; r < kPackMR; ++r) {
    _mm256_store_ps(t[r], c[r][0]);
    _mm256_store_ps(t[r] + 8, c[r][1]);
  }
  for (Index r = 0; r < mr; ++r)
    for (Index j = 0; j < nr; ++j) C[r * ldc + j] = accumulate ? C[r * ldc + j] + t[r][j] : t[r][j];
}

void gemm_nn_packed(Index M, Index N, Index K, const float* A, Index rsa, Index csa,
                    const float* B, Index ldb, float* C, Index ldc, bool accumulate) {
  PackScratch& s = pack_scratch();
  const Index NC = block_size(N, kPackNC, kPackNR), KC = block_size(K, kPackKC, 1),
              MC = block_size(M, kPackMC, kPackMR);
  for (Index jc = 0; jc < N; jc += NC) {
    const Index nc = imin(NC, N - jc);
    for (Index pc = 0; pc < K; pc += KC) {
      const Index kc = imin(KC, K - pc);
      const bool acc = accumulate || pc > 0;
      for (Index ic = 0; ic < M; ic += MC) {
        const Index mc = imin(MC, M - ic);
        pack_a(mc, kc, A + ic * rsa + pc * csa, rsa, csa, s.a);
        for (Index jr = 0; jr < nc; jr += kPackNR) {
          const Index nr = imin(kPackNR, nc - jr);
          float* Cj = C + ic * ldc + jc + jr;
          float* Bp = s.b + jr * kc;
          Index ir = 0;
          // The first row block packs each micro-panel of B while computing its first tile;
          // later tiles and row blocks read the packed copy.
          if (ic == 0) {
            packed_tile<true>(kc, s.a, Bp, B + pc * ldb + jc + jr, ldb, Cj, ldc, acc,
                              imin(kPackMR, mc), nr);
            ir = kPackMR;
          }
          for (; ir < mc; ir += kPackMR)
            packed_tile<false>(kc, s.a + ir * kc, Bp, nullptr, 0, Cj + ir * ldc, ldc, acc,
                               imin(kPackMR, mc - ir), nr);
        }
      }
    }
  }
}

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
  if (M >= kPackMinM && K * N >= kPackMinKN)
    return gemm_nn_packed(M, N, K, A, rsa, csa, B, ldb, C, ldc, accumulate);
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
  // M = 5q + 1 would leave one row for a GEMV pass over all of B: its last 6 rows run as
  // one 6 x 2 block (12 accumulators + 2 B vectors + 1 A vector: all 16 registers but one;
  // 1.05-1.16x over two 3 x 4 blocks at 6 rows in A/B, which read B twice).
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
      const float* Ai = Ak + i * lda;
      float* Ci = Cj + i * ldc;
      switch (M - i) {
        case 6: nt_row_block<6, 2>(nc, kc, Ai, lda, Bk, ldb, Ci, ldc, acc); break;
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
