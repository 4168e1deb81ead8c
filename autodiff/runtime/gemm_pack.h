// Internal to gemm: packing of A and B micro-panels with 256-bit AVX2 instructions,
// shared by the AVX2 and AVX-512 paths (included by gemm_avx2.cpp and gemm_avx512.cpp,
// so only when compiling for x86-64; gemm_neon.cpp packs the same layout for arm64).
//
// Packing is pure data movement, so 256-bit registers already run it at cache
// speed; what matters is to move whole registers instead of single values. The two
// cases that need a transpose (a row-major A panel is read row by row but stored
// depth step by depth step; likewise a transposed B) go through 8x8 (float) or 4x4
// (double) in-register transposes; the others are straight vector copies.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#define AD_PACK_TARGET __attribute__((target("avx2")))
#define AD_PACK_INLINE __attribute__((target("avx2"), always_inline)) inline

namespace ad::gemm_detail::pack {

// ---- in-register transposes: dst[c * dst_ld + r] = src[r * src_ld + c] ----------

// Side of the square block transposed in registers: a full ymm of floats (8) or of
// doubles (4); 4 floats (an xmm) when the panel is only 4 rows high.
template <class T, int MR>
constexpr int block = sizeof(T) == 8 ? 4 : (MR % 8 == 0 ? 8 : 4);

AD_PACK_INLINE void transpose(const float* src, int64_t src_ld, float* dst, int64_t dst_ld,
                              std::integral_constant<int, 8>) {
  __m256 r[8], t[8], s[8];  // (the unroll pragmas keep these arrays in registers)
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * src_ld);
    // Interleave pairs of rows, then pairs of pairs (within each 128-bit half) ...
#pragma GCC unroll 4
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
#pragma GCC unroll 2
  for (int i = 0; i < 8; i += 4) {
    s[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  // ... then swap 128-bit halves between rows 0-3 and rows 4-7.
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(dst + i * dst_ld, _mm256_permute2f128_ps(s[i], s[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * dst_ld, _mm256_permute2f128_ps(s[i], s[i + 4], 0x31));
  }
}

AD_PACK_INLINE void transpose(const float* src, int64_t src_ld, float* dst, int64_t dst_ld,
                              std::integral_constant<int, 4>) {
  __m128 r0 = _mm_loadu_ps(src), r1 = _mm_loadu_ps(src + src_ld);
  __m128 r2 = _mm_loadu_ps(src + 2 * src_ld), r3 = _mm_loadu_ps(src + 3 * src_ld);
  _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
  _mm_storeu_ps(dst, r0);
  _mm_storeu_ps(dst + dst_ld, r1);
  _mm_storeu_ps(dst + 2 * dst_ld, r2);
  _mm_storeu_ps(dst + 3 * dst_ld, r3);
}

AD_PACK_INLINE void transpose(const double* src, int64_t src_ld, double* dst, int64_t dst_ld,
                              std::integral_constant<int, 4>) {
  const __m256d r0 = _mm256_loadu_pd(src), r1 = _mm256_loadu_pd(src + src_ld);
  const __m256d r2 = _mm256_loadu_pd(src + 2 * src_ld), r3 = _mm256_loadu_pd(src + 3 * src_ld);
  const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
  const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
  _mm256_storeu_pd(dst, _mm256_permute2f128_pd(t0, t2, 0x20));
  _mm256_storeu_pd(dst + dst_ld, _mm256_permute2f128_pd(t1, t3, 0x20));
  _mm256_storeu_pd(dst + 2 * dst_ld, _mm256_permute2f128_pd(t0, t2, 0x31));
  _mm256_storeu_pd(dst + 3 * dst_ld, _mm256_permute2f128_pd(t1, t3, 0x31));
}

// ---- 256-bit copies with a zero-filled tail ----------------------------------

AD_PACK_INLINE __m256i first_lanes(int count, float) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
AD_PACK_INLINE __m256i first_lanes(int count, double) {
  return _mm256_cmpgt_epi64(_mm256_set1_epi64x(count), _mm256_setr_epi64x(0, 1, 2, 3));
}
AD_PACK_INLINE __m256 load_first(const float* p, int count) {
  return _mm256_maskload_ps(p, first_lanes(count, 0.0f));
}
AD_PACK_INLINE __m256d load_first(const double* p, int count) {
  return _mm256_maskload_pd(p, first_lanes(count, 0.0));
}
AD_PACK_INLINE __m256 load(const float* p) { return _mm256_loadu_ps(p); }
AD_PACK_INLINE __m256d load(const double* p) { return _mm256_loadu_pd(p); }
AD_PACK_INLINE void store(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
AD_PACK_INLINE void store(double* p, __m256d v) { _mm256_storeu_pd(p, v); }

// dst[0..width) = src[0..count) followed by zeros; width is a multiple of 32 bytes.
// (Masked loads never touch the memory of masked-off lanes.)
template <class T>
AD_PACK_INLINE void copy_zero_padded(const T* src, int count, int width, T* dst) {
  constexpr int lanes = 32 / sizeof(T);
#pragma GCC unroll 8
  for (int c = 0; c < width; c += lanes) {
    const int left = count - c;
    store(dst + c, left >= lanes ? load(src + c) : load_first(src + c, left > 0 ? left : 0));
  }
}

// ---- micro-panels -----------------------------------------------------------

// Edge panels (fewer rows or columns than a full block) and depth remainders: one
// value at a time. out[p * width + i] = x[i * ld_i + p * ld_p], zero for i >= count.
template <class T>
void copy_strided(const T* x, int64_t ld_i, int64_t ld_p, int count, int width, int64_t depth,
                  T* out) {
  for (int64_t p = 0; p < depth; ++p)
    for (int i = 0; i < width; ++i) out[p * width + i] = i < count ? x[i * ld_i + p * ld_p] : T(0);
}

// One A micro-panel: `rows` (<= MR) rows of op(A) over `depth` steps, starting at `a`,
// stored as MR values per depth step (rows beyond `rows` are zero).
template <class T, int MR>
AD_PACK_TARGET void pack_a_panel(const T* a, int64_t lda, bool trans, int rows, int64_t depth,
                                 T* out) {
  if (rows < MR) {  // the last panel of a block: rare, keep it simple
    copy_strided(a, trans ? 1 : lda, trans ? lda : 1, rows, MR, depth, out);
  } else if (trans) {  // A stored k x m: the MR values of a depth step are contiguous
    for (int64_t p = 0; p < depth; ++p) std::memcpy(out + p * MR, a + p * lda, MR * sizeof(T));
  } else {  // A stored m x k: transpose B x B blocks (B rows of A, B depth steps)
    constexpr int B = block<T, MR>;
    static_assert(MR % B == 0, "an A panel is a whole number of transpose blocks high");
    int64_t p = 0;
    for (; p + B <= depth; p += B)
      for (int r = 0; r < MR; r += B)
        transpose(a + r * lda + p, lda, out + p * MR + r, MR, std::integral_constant<int, B>{});
    copy_strided(a + p, lda, 1, MR, MR, depth - p, out + p * MR);
  }
}

// One B micro-panel: `cols` columns of op(B) over `depth` steps, starting at `b`,
// stored as `width` values per depth step (columns beyond `cols` are zero).
template <class T>
AD_PACK_TARGET void pack_b_panel(const T* b, int64_t ldb, bool trans, int cols, int width,
                                 int64_t depth, T* out) {
  if (!trans) {  // B stored k x n: a depth step is a contiguous row piece
    for (int64_t p = 0; p < depth; ++p) copy_zero_padded(b + p * ldb, cols, width, out + p * width);
    return;
  }
  // B stored n x k: transpose B x B blocks (B columns of op(B), B depth steps).
  constexpr int B = 32 / sizeof(T);
  const int full_cols = cols / B * B;
  int64_t p = 0;
  for (; p + B <= depth; p += B)
    for (int c = 0; c < full_cols; c += B)
      transpose(b + c * ldb + p, ldb, out + p * width + c, width, std::integral_constant<int, B>{});
  // The depth remainder of the full column blocks, then the remaining columns + padding.
  for (int64_t q = p; q < depth; ++q)
    for (int c = 0; c < full_cols; ++c) out[q * width + c] = b[c * ldb + q];
  for (int64_t q = 0; q < depth; ++q)
    for (int c = full_cols; c < width; ++c) out[q * width + c] = c < cols ? b[c * ldb + q] : T(0);
}

}  // namespace ad::gemm_detail::pack
