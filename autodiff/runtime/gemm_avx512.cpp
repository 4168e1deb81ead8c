// AVX-512 register-tile microkernels for gemm (float and double).
//
// The project is compiled without -march, so every function that uses AVX-512
// carries a target attribute and gemm.cpp calls it only after checking the CPU
// (__builtin_cpu_supports). Nothing here runs at static-initialisation time.
//
// Compiled only for x86-64: for any other CPU this file is empty, and isa.cpp never
// reports AVX there.
#if defined(__x86_64__)

#include <immintrin.h>

#include "autodiff/runtime/gemm_kernels.h"
#include "autodiff/runtime/gemm_pack.h"

// always_inline on the helpers: the microkernel's accumulators must stay in registers,
// which needs every helper inlined into it.
#define AD_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))
#define AD_AVX512_INLINE \
  __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma"), always_inline)) inline

namespace ad::gemm_detail {
namespace {

// The handful of vector operations the microkernel uses, for 16 floats or 8 doubles
// per 512-bit register. Partial registers use AVX-512 lane masks.
struct Avx512Float {
  using T = float;
  using Vec = __m512;
  using Mask = __mmask16;
  static constexpr int lanes = 16;
  AD_AVX512_INLINE static Vec zero() { return _mm512_setzero_ps(); }
  AD_AVX512_INLINE static Vec load(const T* p) { return _mm512_loadu_ps(p); }
  AD_AVX512_INLINE static Vec broadcast(T x) { return _mm512_set1_ps(x); }
  AD_AVX512_INLINE static Vec mul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
  AD_AVX512_INLINE static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  AD_AVX512_INLINE static Mask first(int count) { return Mask((1u << count) - 1u); }
  AD_AVX512_INLINE static Vec load(const T* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  AD_AVX512_INLINE static void store(T* p, Vec v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }
};

struct Avx512Double {
  using T = double;
  using Vec = __m512d;
  using Mask = __mmask8;
  static constexpr int lanes = 8;
  AD_AVX512_INLINE static Vec zero() { return _mm512_setzero_pd(); }
  AD_AVX512_INLINE static Vec load(const T* p) { return _mm512_loadu_pd(p); }
  AD_AVX512_INLINE static Vec broadcast(T x) { return _mm512_set1_pd(x); }
  AD_AVX512_INLINE static Vec mul(Vec a, Vec b) { return _mm512_mul_pd(a, b); }
  AD_AVX512_INLINE static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_pd(a, b, c); }
  AD_AVX512_INLINE static Mask first(int count) { return Mask((1u << count) - 1u); }
  AD_AVX512_INLINE static Vec load(const T* p, Mask m) { return _mm512_maskz_loadu_pd(m, p); }
  AD_AVX512_INLINE static void store(T* p, Vec v, Mask m) { _mm512_mask_storeu_pd(p, m, v); }
};

// c = alpha * acc + beta * c for the rows x cols corner of the tile; masked stores
// write only the columns that exist, so edge tiles need no scratch copy.
template <class S, int MR, int NV>
AD_AVX512_INLINE void store_tile(const typename S::Vec (&acc)[MR][NV],
                                 const CTile<typename S::T>& tile) {
  // Local copies and masks made once: otherwise the compiler must assume that each
  // store into C may change tile's fields, and recomputes everything per register.
  typename S::T* const c = tile.data;
  const int64_t ldc = tile.ldc;
  const int rows = tile.rows;
  typename S::Mask mask[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) mask[v] = S::first(std::min(S::lanes, tile.cols - v * S::lanes));
  const bool read_c = tile.beta != 0;
  const typename S::Vec alpha_v = S::broadcast(tile.alpha), beta_v = S::broadcast(tile.beta);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    if (r >= rows) break;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      typename S::T* cv = c + r * ldc + v * S::lanes;
      typename S::Vec result = S::mul(alpha_v, acc[r][v]);
      if (read_c) result = S::fma(beta_v, S::load(cv, mask[v]), result);
      S::store(cv, result, mask[v]);
    }
  }
}

// The microkernel: an MR x (NV registers) tile of C lives in MR*NV accumulator registers
// for the whole depth; each depth step loads NV registers of B, broadcasts MR values of A
// and does MR*NV independent FMAs (enough to hide the FMA latency on both FMA pipes).
template <class S, int MR, int NV>
AD_AVX512 void tile_kernel(int64_t depth, const APanel<typename S::T>& a,
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

// Picks the kernel with just enough registers for the tile's columns (see b_panel_width).
template <class S, int MR, int NV>
AD_AVX512 void tile(int64_t depth, const APanel<typename S::T>& a, const BPanel<typename S::T>& b,
                    const CTile<typename S::T>& c) {
  if constexpr (NV > 1) {
    if (c.cols <= (NV - 1) * S::lanes) return tile<S, MR, NV - 1>(depth, a, b, c);
  }
  tile_kernel<S, MR, NV>(depth, a, b, c);
}

// A float tile only a few columns wide: the last columns of a product whose width is
// not a multiple of 48, such as the 49 = 48 + 1 positions of a 7x7 convolution layer.
// The register tile above would spend a load, 8 broadcasts and 8 FMAs per depth step on
// that one column. Here one 8-float register holds a column's 8 rows instead: per depth
// step, one load of the packed A panel (its 8 rows of one step lie side by side), then one
// broadcast of b and one FMA per column. Each column keeps four partial sums, over every
// fourth depth step, so that four independent FMAs are in flight (one running sum would
// wait out each FMA's latency); they are added up at the end.
constexpr int kNarrowColumns = 4;

template <int COLS>
AD_AVX512 void narrow_float_tile(int64_t depth, const APanel<float>& a, const BPanel<float>& b,
                                 const CTile<float>& c) {
  __m256 acc[COLS][4];
#pragma GCC unroll 4
  for (int j = 0; j < COLS; ++j)
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) acc[j][u] = _mm256_setzero_ps();
  const float* a_step = a.data;  // 8 rows per depth step (packed: depth_stride == 8)
  const float* b_step = b.data;
  const int64_t bs = b.depth_stride;
  int64_t p = 0;
  for (; p + 4 <= depth; p += 4, a_step += 32, b_step += 4 * bs) {
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) {
      const __m256 av = _mm256_loadu_ps(a_step + 8 * u);
#pragma GCC unroll 4
      for (int j = 0; j < COLS; ++j)
        acc[j][u] = _mm256_fmadd_ps(av, _mm256_set1_ps(b_step[u * bs + j]), acc[j][u]);
    }
  }
  for (; p < depth; ++p, a_step += 8, b_step += bs) {
    const __m256 av = _mm256_loadu_ps(a_step);
#pragma GCC unroll 4
    for (int j = 0; j < COLS; ++j)
      acc[j][0] = _mm256_fmadd_ps(av, _mm256_set1_ps(b_step[j]), acc[j][0]);
  }
  for (int j = 0; j < COLS; ++j) {
    alignas(32) float column[8];
    _mm256_store_ps(column, _mm256_add_ps(_mm256_add_ps(acc[j][0], acc[j][1]),
                                          _mm256_add_ps(acc[j][2], acc[j][3])));
    for (int r = 0; r < c.rows; ++r) {
      float& out = c.data[r * c.ldc + j];
      out = c.beta != 0 ? c.alpha * column[r] + c.beta * out : c.alpha * column[r];
    }
  }
}

// The float microkernel: narrow tiles of a packed A panel by columns, all others by the
// register tile.
AD_AVX512 void float_tile(int64_t depth, const APanel<float>& a, const BPanel<float>& b,
                          const CTile<float>& c) {
  if (c.cols <= kNarrowColumns && a.row_stride == 1 && a.depth_stride == 8) {
    switch (c.cols) {
      case 1: return narrow_float_tile<1>(depth, a, b, c);
      case 2: return narrow_float_tile<2>(depth, a, b, c);
      case 3: return narrow_float_tile<3>(depth, a, b, c);
      default: return narrow_float_tile<4>(depth, a, b, c);
    }
  }
  tile<Avx512Float, 8, 3>(depth, a, b, c);
}

}  // namespace

// float: an 8 x 48 tile = 8 rows x 3 zmm: 24 accumulators + 3 B registers of the 32,
// 24 FMAs per 3 loads + 8 broadcasts. 8 rows divide the usual batch sizes, and with
// 16-wide edge panels 48 columns fit most n exactly (400 = 8*48 + 16).
// kc = 512: deep blocks mean few passes over C (each loads and stores the tile) and
// little per-call overhead; the B micro-panel (512 x 48 floats = 96 KB) then lives in
// L2 rather than L1, which still feeds the 192 bytes per 12 cycles the loop needs.
// Measured on Zen 5: 1-4 % faster than kc = 256, no shape slower.
// mc = 128: the A block (128 x 512 floats = 256 KB) stays in L2 next to it.
// nc = 4800 only bounds the packed B block (kc x nc = 9.8 MB, for L3).
template <>
const GemmKernel<float>& avx512_kernel<float>() {
  static const GemmKernel<float> kernel{.mr = 8,
                                        .nr = 48,
                                        .lanes = 16,
                                        .kc = 512,
                                        .mc = 128,
                                        .nc = 4800,
                                        .tile = &float_tile,
                                        .pack_a = &pack::pack_a_panel<float, 8>,
                                        .pack_b = &pack::pack_b_panel<float>};
  return kernel;
}

// double: an 8 x 24 tile, the same register budget with 8 lanes per register, and
// the same blocking (the A block is 512 KB, still within L2).
template <>
const GemmKernel<double>& avx512_kernel<double>() {
  static const GemmKernel<double> kernel{.mr = 8,
                                         .nr = 24,
                                         .lanes = 8,
                                         .kc = 512,
                                         .mc = 128,
                                         .nc = 2400,
                                         .tile = &tile<Avx512Double, 8, 3>,
                                         .pack_a = &pack::pack_a_panel<double, 8>,
                                         .pack_b = &pack::pack_b_panel<double>};
  return kernel;
}

}  // namespace ad::gemm_detail

#endif  // defined(__x86_64__)
