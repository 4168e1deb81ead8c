// AVX-512 versions of the two row loops behind unfold and fold (conv_fast_unfold.cpp),
// for float. (unfold and fold read an image of any stride through its phases, so a
// block is always runs of neighbouring pixels.)
//
// A run is short: 7, 14 or 28 positions for the Keras VAE's layers, unless a tap's block
// is whole grid rows (then one run of up to 784). The plain loops move one float (copy:
// memmove, a call per run) or four (add) at a time; here 16 positions go at once, with a
// masked load and a masked store at the end of a run. Each float is moved or added
// exactly as the plain loop does it, so both give the same bits (tests/test_conv_fast.cpp
// compares them, and both with im2col / col2im).
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

// dst[i dst_ld + j] = src[i src_ld + j]
AD_AVX512 void copy_rows_avx512(const float* src, int64_t src_ld, int64_t rows, int64_t cols,
                                float* dst, int64_t dst_ld) {
  for (int64_t i = 0; i < rows; ++i, src += src_ld, dst += dst_ld)
    for (int64_t j = 0; j < cols; j += 16) {
      const __mmask16 m = first_lanes(cols - j);
      _mm512_mask_storeu_ps(dst + j, m, _mm512_maskz_loadu_ps(m, src + j));
    }
}

// dst[i dst_ld + j] += src[i src_ld + j]
AD_AVX512 void add_rows_avx512(const float* src, int64_t src_ld, int64_t rows, int64_t cols,
                               float* dst, int64_t dst_ld) {
  for (int64_t i = 0; i < rows; ++i, src += src_ld, dst += dst_ld)
    for (int64_t j = 0; j < cols; j += 16) {
      const __mmask16 m = first_lanes(cols - j);
      float* d = dst + j;
      _mm512_mask_storeu_ps(d, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, d),
                                                _mm512_maskz_loadu_ps(m, src + j)));
    }
}

}  // namespace nn::conv_fast::detail
#endif
