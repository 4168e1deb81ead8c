// AVX2 + FMA register-tile microkernels for gemm (float and double).
//
// The same design as gemm_avx512.cpp with 256-bit registers: 16 ymm registers
// instead of 32, and no mask registers (edge columns use vector masks).
// Every function carries a target attribute (the project has no -march) and is
// called only after gemm.cpp has checked the CPU.
//
// Compiled only for x86-64: for any other CPU this file is empty, and isa.cpp never
// reports AVX there.
#if defined(__x86_64__)

#include <immintrin.h>

#include <type_traits>

#include "autodiff/runtime/gemm_kernels.h"
#include "autodiff/runtime/gemm_pack.h"

#define AD_AVX2 __attribute__((target("avx2,fma")))
#define AD_AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) inline

namespace ad::gemm_detail {
namespace {

// Vector operations for 8 floats or 4 doubles per 256-bit register. A mask is a
// vector whose lanes are all-ones for the lanes to touch.
struct Avx2Float {
  using T = float;
  using Vec = __m256;
  using Mask = __m256i;
  static constexpr int lanes = 8;
  AD_AVX2_INLINE static Vec zero() { return _mm256_setzero_ps(); }
  AD_AVX2_INLINE static Vec load(const T* p) { return _mm256_loadu_ps(p); }
  AD_AVX2_INLINE static void store(T* p, Vec v) { _mm256_storeu_ps(p, v); }
  AD_AVX2_INLINE static Vec broadcast(T x) { return _mm256_set1_ps(x); }
  AD_AVX2_INLINE static Vec mul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
  AD_AVX2_INLINE static Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  AD_AVX2_INLINE static Mask first(int count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  AD_AVX2_INLINE static Vec load(const T* p, Mask m) { return _mm256_maskload_ps(p, m); }
  AD_AVX2_INLINE static void store(T* p, Vec v, Mask m) { _mm256_maskstore_ps(p, m, v); }
};

struct Avx2Double {
  using T = double;
  using Vec = __m256d;
  using Mask = __m256i;
  static constexpr int lanes = 4;
  AD_AVX2_INLINE static Vec zero() { return _mm256_setzero_pd(); }
  AD_AVX2_INLINE static Vec load(const T* p) { return _mm256_loadu_pd(p); }
  AD_AVX2_INLINE static void store(T* p, Vec v) { _mm256_storeu_pd(p, v); }
  AD_AVX2_INLINE static Vec broadcast(T x) { return _mm256_set1_pd(x); }
  AD_AVX2_INLINE static Vec mul(Vec a, Vec b) { return _mm256_mul_pd(a, b); }
  AD_AVX2_INLINE static Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_pd(a, b, c); }
  AD_AVX2_INLINE static Mask first(int count) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(count), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  AD_AVX2_INLINE static Vec load(const T* p, Mask m) { return _mm256_maskload_pd(p, m); }
  AD_AVX2_INLINE static void store(T* p, Vec v, Mask m) { _mm256_maskstore_pd(p, m, v); }
};

// c = alpha * acc + beta * c for the rows x cols corner of the tile. Full registers
// use plain loads/stores (AVX2 masked stores are slow on several CPUs); only the
// last, partial register of an edge tile is masked.
template <class S, int MR, int NV>
AD_AVX2_INLINE void store_tile(const typename S::Vec (&acc)[MR][NV],
                               const CTile<typename S::T>& tile) {
  // Local copies made once: otherwise the compiler must assume that each store into
  // C may change tile's fields, and reloads them per register.
  typename S::T* const c = tile.data;
  const int64_t ldc = tile.ldc;
  const int rows = tile.rows;
  int count[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) count[v] = std::min(S::lanes, tile.cols - v * S::lanes);
  const bool read_c = tile.beta != 0;
  const typename S::Vec alpha_v = S::broadcast(tile.alpha), beta_v = S::broadcast(tile.beta);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    if (r >= rows) break;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      typename S::T* cv = c + r * ldc + v * S::lanes;
      typename S::Vec result = S::mul(alpha_v, acc[r][v]);
      if (count[v] == S::lanes) {
        if (read_c) result = S::fma(beta_v, S::load(cv), result);
        S::store(cv, result);
      } else {
        const auto mask = S::first(count[v]);
        if (read_c) result = S::fma(beta_v, S::load(cv, mask), result);
        S::store(cv, result, mask);
      }
    }
  }
}

// The microkernel: MR x NV registers of accumulators for the whole depth; each depth
// step loads NV registers of B, broadcasts MR values of A, does MR*NV independent FMAs.
template <class S, int MR, int NV>
AD_AVX2 void tile_kernel(int64_t depth, const APanel<typename S::T>& a,
                         const BPanel<typename S::T>& b, const CTile<typename S::T>& c) {
  typename S::Vec acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = S::zero();

  // Offsets of the panel's rows, kept in registers: the same loop serves packed panels
  // and panels read in place from the caller's matrix.
  int64_t row_offset[MR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) row_offset[r] = r * a.row_stride;
  const typename S::T* a_step = a.data;
  const typename S::T* b_step = b.data;
  // Four depth steps per loop iteration: fewer loop instructions between the FMAs
  // (measured 3-9% faster on the conv VAE's gemms on Zen 3; the same sums, same bits).
#pragma GCC unroll 4
  for (int64_t p = 0; p < depth; ++p) {
    typename S::Vec bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = S::load(b_step + v * S::lanes);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const typename S::Vec ar = S::broadcast(a_step[row_offset[r]]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = S::fma(ar, bv[v], acc[r][v]);
    }
    a_step += a.depth_stride;
    b_step += b.depth_stride;
  }
  store_tile<S, MR, NV>(acc, c);
}

// A tile of a single column of C (the last column of a matrix 24 q + 1 wide: 49, the
// positions of a 7 x 7 convolution grid), for a packed float A panel of 4 rows:
// c_r = sum_p a[p][r] b[p]. The register-tile kernel would spend 8 lanes on the one
// column (7 of them on padding); here the lanes run over the panel instead, two depth
// steps of its 4 rows per register (a[p][0..3], a[p+1][0..3]) against (b[p] x 4,
// b[p+1] x 4), and the two halves are added at the end. (Measured on the conv VAE's
// 49-wide gemms: 16-36% faster than the register tile.)
AD_AVX2 void column_kernel(int64_t depth, const APanel<float>& a, const BPanel<float>& b,
                           const CTile<float>& c) {
  const float* ap = a.data;
  const float* bp = b.data;
  const int64_t bs = b.depth_stride;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t p = 0;
  for (; p + 4 <= depth; p += 4, ap += 16, bp += 4 * bs) {
    const __m256 b01 = _mm256_set_m128(_mm_set1_ps(bp[bs]), _mm_set1_ps(bp[0]));
    const __m256 b23 = _mm256_set_m128(_mm_set1_ps(bp[3 * bs]), _mm_set1_ps(bp[2 * bs]));
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(ap), b01, acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(ap + 8), b23, acc1);
  }
  const __m256 both = _mm256_add_ps(acc0, acc1);
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(both), _mm256_extractf128_ps(both, 1));
  for (; p < depth; ++p, ap += 4, bp += bs)
    sum = _mm_fmadd_ps(_mm_loadu_ps(ap), _mm_set1_ps(bp[0]), sum);
  // c = alpha * sum + beta * c as store_tile does, one float per row (store_tile's masked
  // vector stores would cost more than this whole tile on Zen).
  alignas(16) float rows[4];
  _mm_store_ps(rows, sum);
  for (int r = 0; r < c.rows; ++r) {
    float& cr = c.data[r * c.ldc];
    cr = c.beta != 0 ? c.alpha * rows[r] + c.beta * cr : c.alpha * rows[r];
  }
}

// Picks the kernel with just enough registers for the tile's columns (see b_panel_width).
template <class S, int MR, int NV>
AD_AVX2 void tile(int64_t depth, const APanel<typename S::T>& a, const BPanel<typename S::T>& b,
                  const CTile<typename S::T>& c) {
  if constexpr (NV > 1) {
    if (c.cols <= (NV - 1) * S::lanes) return tile<S, MR, NV - 1>(depth, a, b, c);
  }
  if constexpr (std::is_same_v<typename S::T, float> && MR == 4 && NV == 1) {
    if (c.cols == 1 && a.row_stride == 1 && a.depth_stride == MR)  // packed
      return column_kernel(depth, a, b, c);
  }
  tile_kernel<S, MR, NV>(depth, a, b, c);
}

}  // namespace

// float: a 4 x 24 tile = 4 rows x 3 ymm: 12 accumulators + 3 B registers + 1 broadcast
// use all 16 ymm registers (12 FMAs per 3 loads + 4 broadcasts). 4 rows rather than
// the classic 6 x 16 so that A panels pack with 4 x 4 in-register transposes.
// Blocks as for AVX-512 (see gemm_avx512.cpp): kc = 512 (B micro-panel 48 KB),
// mc = 128 (A block 256 KB in L2).
template <>
const GemmKernel<float>& avx2_kernel<float>() {
  static const GemmKernel<float> kernel{.mr = 4,
                                        .nr = 24,
                                        .lanes = 8,
                                        .kc = 512,
                                        .mc = 128,
                                        .nc = 4800,
                                        .tile = &tile<Avx2Float, 4, 3>,
                                        .pack_a = &pack::pack_a_panel<float, 4>,
                                        .pack_b = &pack::pack_b_panel<float>};
  return kernel;
}

// double: a 4 x 12 tile, the same register budget with 4 lanes per register.
template <>
const GemmKernel<double>& avx2_kernel<double>() {
  static const GemmKernel<double> kernel{.mr = 4,
                                         .nr = 12,
                                         .lanes = 4,
                                         .kc = 512,
                                         .mc = 128,
                                         .nc = 2400,
                                         .tile = &tile<Avx2Double, 4, 3>,
                                         .pack_a = &pack::pack_a_panel<double, 4>,
                                         .pack_b = &pack::pack_b_panel<double>};
  return kernel;
}

}  // namespace ad::gemm_detail

#endif  // defined(__x86_64__)
