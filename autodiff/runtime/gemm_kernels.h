// Internal to gemm: what the blocked driver in gemm.cpp needs from one SIMD
// implementation (gemm_avx2.cpp, gemm_avx512.cpp, gemm_neon.cpp). Not part of the public API.
//
// The driver follows the Goto / BLIS scheme:
//
//   for each column block of C        (nc columns)
//     for each depth block            (kc steps; C accumulates block after block)
//       for each row block of C       (mc rows; its packed A panels, mc x kc, stay in L2)
//         for each B micro-panel      (kc x nr, packed on first use, then kept in cache ...)
//           for each A micro-panel    (... while every A panel of the row block streams past)
//             microkernel: an mr x nr tile of C, held in registers for the whole depth kc
//
// Packing copies a panel into exactly the order the microkernel reads it, so the
// inner loop only does contiguous loads whatever the layout (or transpose) of the
// caller's matrices, and a panel used by many tiles is copied once, not per tile.
#pragma once
#include <algorithm>
#include <cstdint>

namespace ad::gemm_detail {

// An A micro-panel as the microkernel reads it: element (row r, depth step p) is
// data[r * row_stride + p * depth_stride]. A packed panel has strides (1, mr); the
// caller's matrix read in place has (lda, 1), or (1, lda) when it is stored transposed.
template <class T>
struct APanel {
  const T* data;
  int64_t row_stride, depth_stride;
};

// A B micro-panel: the columns of depth step p are data[p * depth_stride + 0 .. width),
// width = b_panel_width(cols). Packed: depth_stride = width; in place: ldb.
template <class T>
struct BPanel {
  const T* data;
  int64_t depth_stride;
};

// The rows x cols tile of C that a microkernel call updates (1 <= rows <= mr,
// 1 <= cols <= nr), and how: c = alpha * (a b) + beta * c, not reading c if beta == 0.
template <class T>
struct CTile {
  T* data;
  int64_t ldc;
  int rows, cols;
  T alpha, beta;
};

// One register-tile microkernel plus the cache blocking chosen for it.
template <class T>
struct GemmKernel {
  int mr;      // rows of the register tile = height of an A micro-panel
  int nr;      // columns of the register tile = width of a full B micro-panel (a multiple of lanes)
  int lanes;   // elements in one SIMD register
  int64_t kc;  // depth of a block
  int64_t mc;  // rows of a packed A block (a multiple of mr)
  int64_t nc;  // columns of a packed B block (a multiple of nr)

  // c = c.alpha * (a b) + c.beta * c over `depth` steps. a has mr rows and b has
  // b_panel_width(c.cols) columns, zero-padded where C has none.
  // (All by reference: GCC assembles by-value structs with narrow stores and re-reads
  // them wider, a store-forwarding stall on every call; and alpha, beta stay out of
  // the registers the microkernel needs.)
  void (*tile)(int64_t depth, const APanel<T>& a, const BPanel<T>& b, const CTile<T>& c);

  // Packs one A micro-panel: rows (<= mr) of op(A) over `depth` steps, starting at `a`
  // (A stored m x k, or k x m when trans), as mr values per depth step.
  void (*pack_a)(const T* a, int64_t lda, bool trans, int rows, int64_t depth, T* out);
  // Packs one B micro-panel: cols (<= nr) columns of op(B) over `depth` steps, starting
  // at `b` (B stored k x n, or n x k when trans), as `width` values per depth step.
  void (*pack_b)(const T* b, int64_t ldb, bool trans, int cols, int width, int64_t depth, T* out);
};

// Width of a packed B micro-panel holding `cols` columns: whole SIMD registers, so the
// last (narrow) panel of a matrix is computed with fewer registers instead of padding
// it to a full nr (e.g. n = 400 with nr = 48 ends in one 16-wide panel, not a 48-wide one).
inline int b_panel_width(int cols, int nr, int lanes) {
  return std::min(nr, (cols + lanes - 1) / lanes * lanes);
}

// Defined in gemm_avx2.cpp and gemm_avx512.cpp (x86-64 only) and in gemm_neon.cpp
// (arm64 only); call them only when isa_supported() says the CPU runs the ISA.
#if defined(__x86_64__)
template <class T>
const GemmKernel<T>& avx2_kernel();
template <class T>
const GemmKernel<T>& avx512_kernel();

template <>
const GemmKernel<float>& avx2_kernel<float>();
template <>
const GemmKernel<double>& avx2_kernel<double>();
template <>
const GemmKernel<float>& avx512_kernel<float>();
template <>
const GemmKernel<double>& avx512_kernel<double>();
#endif

#if defined(__aarch64__)
template <class T>
const GemmKernel<T>& neon_kernel();

template <>
const GemmKernel<float>& neon_kernel<float>();
template <>
const GemmKernel<double>& neon_kernel<double>();
#endif

}  // namespace ad::gemm_detail
