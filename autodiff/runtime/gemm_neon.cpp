// NEON (Advanced SIMD) register-tile microkernels for gemm (float and double), for arm64:
// Apple Silicon (in Docker or a VM), Raspberry Pi 3 and later, cloud arm64 servers.
//
// The same design as gemm_avx2.cpp and gemm_avx512.cpp, with 128-bit registers: 4 floats
// or 2 doubles each, and 32 of them, like AVX-512. Advanced SIMD is part of every arm64
// CPU, so no check and no target attribute is needed; the file is compiled only for
// arm64 (for any other CPU it is empty, and isa.cpp never reports NEON there).
//
// NEON has no masked loads or stores: the last, partial register of an edge tile goes
// through a small array (the other kernels mask it).
#if defined(__aarch64__)

#include <arm_neon.h>

#include <algorithm>
#include <cstring>

#include "autodiff/runtime/gemm_kernels.h"

namespace ad::gemm_detail {
namespace {

// The vector operations the microkernel uses, for 4 floats or 2 doubles per register.
struct NeonFloat {
  using T = float;
  using Vec = float32x4_t;
  static constexpr int lanes = 4;
  static Vec zero() { return vdupq_n_f32(0.0f); }
  static Vec load(const T* p) { return vld1q_f32(p); }
  static void store(T* p, Vec v) { vst1q_f32(p, v); }
  static Vec broadcast(T x) { return vdupq_n_f32(x); }
  static Vec mul(Vec a, Vec b) { return vmulq_f32(a, b); }
  static Vec fma(Vec a, Vec b, Vec c) { return vfmaq_f32(c, a, b); }  // a b + c
  static Vec fma(T a, Vec b, Vec c) { return vfmaq_n_f32(c, b, a); }  // fmla by element
};

struct NeonDouble {
  using T = double;
  using Vec = float64x2_t;
  static constexpr int lanes = 2;
  static Vec zero() { return vdupq_n_f64(0.0); }
  static Vec load(const T* p) { return vld1q_f64(p); }
  static void store(T* p, Vec v) { vst1q_f64(p, v); }
  static Vec broadcast(T x) { return vdupq_n_f64(x); }
  static Vec mul(Vec a, Vec b) { return vmulq_f64(a, b); }
  static Vec fma(Vec a, Vec b, Vec c) { return vfmaq_f64(c, a, b); }
  static Vec fma(T a, Vec b, Vec c) { return vfmaq_n_f64(c, b, a); }
};

// c = alpha * acc + beta * c for the rows x cols corner of the tile. A register that
// C has only `count` < lanes columns for is read and written through a small array.
template <class S, int MR, int NV>
inline void store_tile(const typename S::Vec (&acc)[MR][NV], const CTile<typename S::T>& tile) {
  using T = typename S::T;
  T* const c = tile.data;  // local copies: see store_tile in gemm_avx2.cpp
  const int64_t ldc = tile.ldc;
  const int rows = tile.rows;
  int count[NV];
  for (int v = 0; v < NV; ++v) count[v] = std::min(S::lanes, tile.cols - v * S::lanes);
  const bool read_c = tile.beta != 0;
  const typename S::Vec alpha_v = S::broadcast(tile.alpha), beta_v = S::broadcast(tile.beta);
  for (int r = 0; r < MR; ++r) {
    if (r >= rows) break;
    for (int v = 0; v < NV; ++v) {
      T* cv = c + r * ldc + v * S::lanes;
      typename S::Vec result = S::mul(alpha_v, acc[r][v]);
      if (count[v] == S::lanes) {
        if (read_c) result = S::fma(beta_v, S::load(cv), result);
        S::store(cv, result);
      } else if (count[v] > 0) {
        T part[S::lanes] = {};
        if (read_c) std::memcpy(part, cv, count[v] * sizeof(T));
        if (read_c) result = S::fma(beta_v, S::load(part), result);
        S::store(part, result);
        std::memcpy(cv, part, count[v] * sizeof(T));
      }
    }
  }
}

// The microkernel: MR x NV registers of accumulators for the whole depth; each depth
// step loads NV registers of B and multiplies each by MR values of A (fmla by element,
// so A needs no broadcast register), MR*NV independent FMAs.
template <class S, int MR, int NV>
void tile_kernel(int64_t depth, const APanel<typename S::T>& a, const BPanel<typename S::T>& b,
                 const CTile<typename S::T>& c) {
  typename S::Vec acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = S::zero();

  int64_t row_offset[MR];  // packed panels and panels read in place alike
  for (int r = 0; r < MR; ++r) row_offset[r] = r * a.row_stride;
  const typename S::T* a_step = a.data;
  const typename S::T* b_step = b.data;
  for (int64_t p = 0; p < depth; ++p) {
    typename S::Vec bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = S::load(b_step + v * S::lanes);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const typename S::T ar = a_step[row_offset[r]];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = S::fma(ar, bv[v], acc[r][v]);
    }
    a_step += a.depth_stride;
    b_step += b.depth_stride;
  }
  store_tile<S, MR, NV>(acc, c);
}

// Picks the kernel with just enough registers for the tile's columns (see b_panel_width).
template <class S, int MR, int NV>
void tile(int64_t depth, const APanel<typename S::T>& a, const BPanel<typename S::T>& b,
          const CTile<typename S::T>& c) {
  if constexpr (NV > 1) {
    if (c.cols <= (NV - 1) * S::lanes) return tile<S, MR, NV - 1>(depth, a, b, c);
  }
  tile_kernel<S, MR, NV>(depth, a, b, c);
}

// ---- packing: the layout of gemm_pack.h, in plain loops ------------------------------
// (Packing only moves data; the straight copies are memcpy, the transposing ones are
// loops the compiler vectorises as it can. The x86 kernels transpose in registers.)

// One A micro-panel: `rows` (<= MR) rows of op(A) over `depth` steps, starting at `a`,
// stored as MR values per depth step (rows beyond `rows` are zero).
template <class T, int MR>
void pack_a_panel(const T* a, int64_t lda, bool trans, int rows, int64_t depth, T* out) {
  if (trans && rows == MR) {  // A stored k x m: the MR values of a depth step are contiguous
    for (int64_t p = 0; p < depth; ++p) std::memcpy(out + p * MR, a + p * lda, MR * sizeof(T));
    return;
  }
  const int64_t row_stride = trans ? 1 : lda, depth_stride = trans ? lda : 1;
  for (int64_t p = 0; p < depth; ++p)
    for (int r = 0; r < MR; ++r)
      out[p * MR + r] = r < rows ? a[r * row_stride + p * depth_stride] : T(0);
}

// One B micro-panel: `cols` columns of op(B) over `depth` steps, starting at `b`,
// stored as `width` values per depth step (columns beyond `cols` are zero).
template <class T>
void pack_b_panel(const T* b, int64_t ldb, bool trans, int cols, int width, int64_t depth, T* out) {
  for (int64_t p = 0; p < depth; ++p) {
    T* row = out + p * width;
    if (trans) {  // B stored n x k: column c of depth step p is b[c * ldb + p]
      for (int c = 0; c < cols; ++c) row[c] = b[c * ldb + p];
    } else {  // B stored k x n: a depth step is a contiguous row piece
      std::memcpy(row, b + p * ldb, cols * sizeof(T));
    }
    std::fill(row + cols, row + width, T(0));
  }
}

}  // namespace

// float: an 8 x 12 tile = 8 rows x 3 registers: 24 accumulators + 3 B registers of the
// 32 (the A values are read as scalars into the rest), 24 FMAs per 3 loads + 8 scalars.
// Blocks sized for the smaller caches of the common arm64 boards (Raspberry Pi 4 and 5:
// 32-64 KB L1, 0.5-2 MB L2; Apple Silicon has more): kc = 256 keeps a B micro-panel
// (256 x 12 floats = 12 KB) in L1, mc = 128 keeps the A block (128 KB) in L2.
// (Chosen from the cache sizes, not measured on arm64 hardware.)
template <>
const GemmKernel<float>& neon_kernel<float>() {
  static const GemmKernel<float> kernel{.mr = 8,
                                        .nr = 12,
                                        .lanes = 4,
                                        .kc = 256,
                                        .mc = 128,
                                        .nc = 4800,
                                        .tile = &tile<NeonFloat, 8, 3>,
                                        .pack_a = &pack_a_panel<float, 8>,
                                        .pack_b = &pack_b_panel<float>};
  return kernel;
}

// double: an 8 x 6 tile, the same register budget with 2 lanes per register.
template <>
const GemmKernel<double>& neon_kernel<double>() {
  static const GemmKernel<double> kernel{.mr = 8,
                                         .nr = 6,
                                         .lanes = 2,
                                         .kc = 256,
                                         .mc = 128,
                                         .nc = 2400,
                                         .tile = &tile<NeonDouble, 8, 3>,
                                         .pack_a = &pack_a_panel<double, 8>,
                                         .pack_b = &pack_b_panel<double>};
  return kernel;
}

}  // namespace ad::gemm_detail

#endif  // defined(__aarch64__)
