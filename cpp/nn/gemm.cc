#include "nn/gemm.h"

#include "common/cpu.h"

namespace a3c {

// Reference kernels accumulate in double: they are the yardstick the SIMD kernels are
// checked against, so their own rounding error should be negligible.
void gemm_nn_ref(Index M, Index N, Index K, const float* A, Index rsa, Index csa,
                 const float* B, Index ldb, float* C, Index ldc, bool accumulate) {
  for (Index i = 0; i < M; ++i) {
    for (Index j = 0; j < N; ++j) {
      double acc = accumulate ? C[i * ldc + j] : 0.0;
      for (Index k = 0; k < K; ++k)
        acc += static_cast<double>(A[i * rsa + k * csa]) * B[k * ldb + j];
      C[i * ldc + j] = static_cast<float>(acc);
    }
  }
}

void gemm_nt_ref(Index M, Index N, Index K, const float* A, Index lda, const float* B,
                 Index ldb, float* C, Index ldc, bool accumulate) {
  for (Index i = 0; i < M; ++i) {
    for (Index j = 0; j < N; ++j) {
      double acc = accumulate ? C[i * ldc + j] : 0.0;
      for (Index k = 0; k < K; ++k)
        acc += static_cast<double>(A[i * lda + k]) * B[j * ldb + k];
      C[i * ldc + j] = static_cast<float>(acc);
    }
  }
}

void gemm_nn(Index M, Index N, Index K, const float* A, Index rsa, Index csa, const float* B,
             Index ldb, float* C, Index ldc, bool accumulate) {
#if defined(A3C_X86)
  if (active_isa() == Isa::kAvx2)
    return gemm_nn_avx2(M, N, K, A, rsa, csa, B, ldb, C, ldc, accumulate);
#endif
  gemm_nn_ref(M, N, K, A, rsa, csa, B, ldb, C, ldc, accumulate);
}

void gemm_nt(Index M, Index N, Index K, const float* A, Index lda, const float* B, Index ldb,
             float* C, Index ldc, bool accumulate) {
#if defined(A3C_X86)
  if (active_isa() == Isa::kAvx2) return gemm_nt_avx2(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
#endif
  gemm_nt_ref(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

}  // namespace a3c
