// gemm: C = alpha * op(A) * op(B) + beta * C, the one matrix-multiply kernel of the project.
//
// op(X) is X or X^T, so the backward pass of matmul computes A^T G and G B^T
// without copying a transposed matrix. All matrices are row-major:
//   op(A) is m x k, op(B) is k x n, C is m x n;
//   A is stored as m x k (lda >= k) or, with trans_a, as k x m (lda >= m); same for B.
//
// Four implementations share this interface:
//   reference  plain triple loop, the definition every fast path is tested against;
//   avx2       packed panels + cache blocking + an FMA register-tile microkernel (x86-64);
//   avx512     the same with 512-bit registers (x86-64);
//   neon       the same with 128-bit Advanced SIMD registers (arm64).
// gemm() picks the best one the CPU supports at run time (or the reference one when
// AD_REFERENCE=1, see isa.h) and splits C between the threads of parallel_for (parallel.h;
// their number is OMP_NUM_THREADS). Bad sizes or leading dimensions throw ad::Error.
//
// Example:
//   float A[2*3] = {1,2,3, 4,5,6}, B[3*1] = {1,1,1}, C[2] = {0,0};
//   ad::gemm(false, false, 2, 1, 3, 1.0f, A, 3, B, 1, 0.0f, C, 1);  // C = {6, 15}
#pragma once
#include <cstdint>
#include <vector>

#include "autodiff/runtime/isa.h"

namespace ad {

// The default entry point: ad::active_isa() (isa.h), parallel_for's threads.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

// A chosen implementation (tests and benchmarks); throws std::runtime_error when the
// CPU does not support it.
template <class T>
void gemm_with(Isa isa, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
               const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

}  // namespace ad
