// The two matrix-multiply shapes every layer of the networks reduces to (conv via im2col in
// channels-last layout, linear layers directly). Each has a scalar reference (`_ref`, kept
// forever as the algorithmic reference and fallback) and an AVX2+FMA variant in
// gemm_avx2.cc, chosen at run time by the plain name. No threads, no allocation per call
// (the AVX2 gemm_nn packs its large operands into 1.2 MB of scratch per calling thread,
// allocated on that thread's first such call and kept); results are deterministic.
//
// Dimension letters: M rows of C, N columns of C, K the reduced dimension.
#pragma once

#include <cstdint>

namespace a3c {

using Index = std::int64_t;

// C[M,N] (+)= A(M,K) * B(K,N)
//   A(i,k) = A[i*rsa + k*csa]   any strides: lets callers pass transposed views for free
//   B(k,j) = B[k*ldb + j]       rows contiguous (the vectorized operand)
//   C(i,j) = C[i*ldc + j]       rows contiguous
// accumulate=false overwrites C, true adds into it.
void gemm_nn(Index M, Index N, Index K, const float* A, Index rsa, Index csa, const float* B,
             Index ldb, float* C, Index ldc, bool accumulate);

// C[M,N] (+)= A(M,K) * B(N,K)^T -- dot products, both operands contiguous along k.
//   A(i,k) = A[i*lda + k],  B(j,k) = B[j*ldb + k],  C(i,j) = C[i*ldc + j]
// The shape of a linear layer's forward pass: y[n,o] = sum_i x[n,i] W[o,i].
void gemm_nt(Index M, Index N, Index K, const float* A, Index lda, const float* B, Index ldb,
             float* C, Index ldc, bool accumulate);

void gemm_nn_ref(Index M, Index N, Index K, const float* A, Index rsa, Index csa,
                 const float* B, Index ldb, float* C, Index ldc, bool accumulate);
void gemm_nt_ref(Index M, Index N, Index K, const float* A, Index lda, const float* B,
                 Index ldb, float* C, Index ldc, bool accumulate);

#if defined(A3C_X86)
void gemm_nn_avx2(Index M, Index N, Index K, const float* A, Index rsa, Index csa,
                  const float* B, Index ldb, float* C, Index ldc, bool accumulate);
void gemm_nt_avx2(Index M, Index N, Index K, const float* A, Index lda, const float* B,
                  Index ldb, float* C, Index ldc, bool accumulate);
#endif

}  // namespace a3c
