// AVX-512 versions of the two row loops behind unfold and fold_add (conv_fast_unfold.cpp),
// for float and the strides 1 and 2 that the project's networks use.
//
// A row of a patch matrix is short: 7, 14 or 28 positions for the Keras VAE's layers. The
// plain loops move one float at a time (stride 2 reads every second pixel, which the
// compiler does not vectorise for so few elements); here 16 positions go at once:
//   stride 1: a masked load and a masked store;
//   stride 2: two masked loads cover the 31 pixels under 16 positions, and one permute
//             picks the even ones; adding back, the 16 values are spread onto the even
//             lanes and added there only (a masked add, so every other pixel keeps its
//             bits: even a -0 stays -0, as in the plain loop).
// Each float is moved or added exactly as the plain loop does it, so both give the same
// bits (tests/test_conv_fast.cpp compares them, and both with im2col / col2im).
//
// Compiled only for x86-64; the functions carry target attributes and run only after
// the CPU was checked (ad::active_isa()).
#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>

#include "nn/conv_fast.h"

#define AD_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl")))

namespace nn::conv_fast::detail {

namespace {

// The first `count` lanes (count in [0, 16]).
AD_AVX512 __mmask16 first_lanes(int64_t count) {
  return count >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << std::max<int64_t>(count, 0)) - 1u);
}

}  // namespace

// dst[i dst_ld + j] = src[i src_ld + j step]
AD_AVX512 void copy_rows_avx512(const float* src, int64_t src_ld, int64_t step, int64_t rows,
                                int64_t cols, float* dst, int64_t dst_ld) {
  const __m512i evens =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (int64_t i = 0; i < rows; ++i, src += src_ld, dst += dst_ld) {
    for (int64_t j = 0; j < cols; j += 16) {
      const int64_t n = std::min<int64_t>(16, cols - j);
      const __mmask16 out = first_lanes(n);
      if (step == 1) {
        _mm512_mask_storeu_ps(dst + j, out, _mm512_maskz_loadu_ps(out, src + j));
      } else {  // step 2: pixels 2j .. 2j + 2n - 2
        const __m512 low = _mm512_maskz_loadu_ps(first_lanes(2 * n - 1), src + 2 * j);
        const __m512 high = _mm512_maskz_loadu_ps(first_lanes(2 * n - 17), src + 2 * j + 16);
        _mm512_mask_storeu_ps(dst + j, out, _mm512_permutex2var_ps(low, evens, high));
      }
    }
  }
}

// dst[i dst_ld + j step] += src[i src_ld + j]
AD_AVX512 void add_rows_avx512(const float* src, int64_t src_ld, int64_t step, int64_t rows,
                               int64_t cols, float* dst, int64_t dst_ld) {
  // Lane 2q of the spread vectors holds value q (low) or 8 + q (high) of the 16 read.
  const __m512i spread_low = _mm512_setr_epi32(0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0);
  const __m512i spread_high =
      _mm512_setr_epi32(8, 0, 9, 0, 10, 0, 11, 0, 12, 0, 13, 0, 14, 0, 15, 0);
  const __mmask16 even = 0x5555;
  for (int64_t i = 0; i < rows; ++i, src += src_ld, dst += dst_ld) {
    for (int64_t j = 0; j < cols; j += 16) {
      const int64_t n = std::min<int64_t>(16, cols - j);
      const __mmask16 m = first_lanes(n);
      const __m512 values = _mm512_maskz_loadu_ps(m, src + j);
      if (step == 1) {
        float* d = dst + j;
        _mm512_mask_storeu_ps(d, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, d), values));
      } else {  // step 2: pixels 2j .. 2j + 2n - 2, the even ones
        float* d = dst + 2 * j;
        const __mmask16 m_low = first_lanes(2 * n - 1), m_high = first_lanes(2 * n - 17);
        const __m512 low = _mm512_maskz_loadu_ps(m_low, d);
        const __m512 high = _mm512_maskz_loadu_ps(m_high, d + 16);
        _mm512_mask_storeu_ps(
            d, m_low & even,
            _mm512_add_ps(low, _mm512_maskz_permutexvar_ps(even, spread_low, values)));
        _mm512_mask_storeu_ps(
            d + 16, m_high & even,
            _mm512_add_ps(high, _mm512_maskz_permutexvar_ps(even, spread_high, values)));
      }
    }
  }
}

}  // namespace nn::conv_fast::detail
#endif
