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
#include <algorithm>
#include <cstdint>
#include <vector>

#include "autodiff/runtime/isa.h"
#include "autodiff/runtime/scratch.h"

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

// op(A) packed once, for many products with the same A. A convolution multiplies its
// weights with every image of a batch; gemm() copies op(A) into the panels its
// microkernel reads (gemm_kernels.h) on every call, which would redo the same copy
// image after image. Packed once, the gemms only pack their B.
//
//   ad::PackedA<float> w(false, c_out, K, weight, K);           // op(A) = weight [c_out, K]
//   for (n ...) ad::gemm(w, false, P, 1.0f, patches_n, P, 0.0f, y_n, P);
//
// Each product is the same sums in the same order as gemm() with A itself: the same bits.
// A is packed for active_isa() when the PackedA is made, and its products run that ISA's
// kernel. Under the reference ISA nothing is packed and the products read A itself, so A
// must outlive its PackedA.
template <class T>
class PackedA {
 public:
  // Packed for `isa` (tests choose one; throws ad::Error when the CPU lacks it).
  PackedA(bool trans_a, int64_t m, int64_t k, const T* a, int64_t lda, Isa isa = active_isa());

  int64_t rows() const { return m_; }   // m
  int64_t depth() const { return k_; }  // k
  Isa isa() const { return isa_; }
  const T* a() const { return a_; }
  int64_t lda() const { return lda_; }
  bool trans_a() const { return trans_a_; }
  // The micro-panel of rows [row, row + mr) over the depth block that starts at p0.
  const T* panel(int64_t row, int64_t p0) const {
    return panels_ + p0 * padded_rows_ + row * std::min(kc_, k_ - p0);
  }

 private:
  Isa isa_;
  const T* a_;
  int64_t lda_;
  bool trans_a_;
  int64_t m_, k_;
  int64_t kc_ = 0, padded_rows_ = 0;  // the blocking the products use (gemm.cpp)
  Scratch<T> storage_;
  const T* panels_ = nullptr;  // depth block after depth block, each all of its row panels
};

// C = alpha * op(A) op(B) + beta * C with op(A) packed beforehand (m = a.rows(),
// k = a.depth()); otherwise as gemm() above.
template <class T>
void gemm(const PackedA<T>& a, bool trans_b, int64_t n, T alpha, const T* b, int64_t ldb, T beta,
          T* c, int64_t ldc);

}  // namespace ad
