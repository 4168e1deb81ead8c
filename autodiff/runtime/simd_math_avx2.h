// AVX2 (8 floats per register): the math the vecmath kernels are built from,
// shared by the runtime's vecmath_avx2.cpp and the losses' nn/loss_kernels_avx2.cpp.
// Names for the instructions, exp, log, log1p and the functions built on them (sigmoid,
// softplus, log_sigmoid, tanh), and the loops that apply a function of registers to
// arrays. All inline, so each kernel that uses them is one straight run of vector
// instructions.
//
// The same algorithms, constants and polynomials as simd_math_avx512.h, where each is
// explained; read that file first. AVX2 has no vgetexpps / vgetmantps / vscalefps and no
// lane masks, so three steps are done here with integer operations on the floats' bits:
//   splitting u = 2^e m      subtract the bits of sqrt(1/2) and shift: see split_exponent;
//   multiplying by 2^n       build 2^n from its exponent bits: see scale;
//   the last n % 8 elements  vmaskmovps loads and stores, with an integer lane mask.
// Both give the same e, m and products as the AVX-512 instructions, so the two ISAs
// compute the same floats.
//
// Only for x86-64: for any other CPU this header is empty, and isa.cpp never reports
// AVX there.
#pragma once
#if defined(__x86_64__)

#include <immintrin.h>

#include <cstdint>

#define AD_AVX2 __attribute__((target("avx2,fma")))
#define AD_AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) inline

namespace ad::vec::avx2 {

using V = __m256;     // 8 floats
using Mask = __m256;  // all bits set in the lanes where a comparison holds
constexpr int kLanes = 8;

// ---- a few names for the instructions, so the math below reads like math ----------

AD_AVX2_INLINE V set1(float x) { return _mm256_set1_ps(x); }
AD_AVX2_INLINE V zero() { return _mm256_setzero_ps(); }
AD_AVX2_INLINE V add(V a, V b) { return _mm256_add_ps(a, b); }
AD_AVX2_INLINE V sub(V a, V b) { return _mm256_sub_ps(a, b); }
AD_AVX2_INLINE V mul(V a, V b) { return _mm256_mul_ps(a, b); }
AD_AVX2_INLINE V div(V a, V b) { return _mm256_div_ps(a, b); }
AD_AVX2_INLINE V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }  // a b + c, one rounding
AD_AVX2_INLINE V abs(V a) { return _mm256_andnot_ps(set1(-0.0f), a); }
// x86 min/max return their second operand when either is NaN: with the constant first,
// a NaN x passes through.
AD_AVX2_INLINE V max_keep_nan(V constant, V x) { return _mm256_max_ps(constant, x); }
AD_AVX2_INLINE V min_keep_nan(V constant, V x) { return _mm256_min_ps(constant, x); }
AD_AVX2_INLINE V select(Mask m, V if_true, V if_false) {
  return _mm256_blendv_ps(if_false, if_true, m);
}
AD_AVX2_INLINE Mask less(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
AD_AVX2_INLINE Mask greater(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
AD_AVX2_INLINE Mask greater_equal(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
AD_AVX2_INLINE Mask equal(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
AD_AVX2_INLINE Mask not_greater(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_NGT_UQ); }
AD_AVX2_INLINE Mask either(Mask a, Mask b) { return _mm256_or_ps(a, b); }
AD_AVX2_INLINE bool any(Mask m) { return _mm256_movemask_ps(m) != 0; }
AD_AVX2_INLINE V copy_sign(V magnitude, V sign) {  // |magnitude| with sign's sign bit
  return _mm256_or_ps(abs(magnitude), _mm256_and_ps(set1(-0.0f), sign));
}

// v 2^n for whole numbers n in [-252, 254] (as vscalefps): 2^n itself may not be a float
// (2^128, 2^-150), so v is multiplied by 2^floor(n/2) and then by 2^(n - floor(n/2)),
// both normal floats built from their exponent bits. For the v used here (e^r ~ 1 in exp,
// the tiny c in log1p) the first product is still a normal float, hence exact, so the
// result is rounded once, also when it is a denormal.
AD_AVX2_INLINE V scale(V v, V n) {
  const __m256i k = _mm256_cvtps_epi32(n);
  const __m256i half = _mm256_srai_epi32(k, 1);
  const __m256i rest = _mm256_sub_epi32(k, half);
  const __m256i bias = _mm256_set1_epi32(127);
  const V first = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, bias), 23));
  const V second = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(rest, bias), 23));
  return mul(mul(v, first), second);
}

// ---- exp ------------------------------------------------------------------------

AD_AVX2_INLINE V exp_polynomial(V r) {
  V p = set1(0x1.6a2438p-10f);
  p = fma(p, r, set1(0x1.1239e0p-7f));
  p = fma(p, r, set1(0x1.5558f2p-5f));
  p = fma(p, r, set1(0x1.555492p-3f));
  p = fma(p, r, set1(0x1.fffffcp-2f));
  return add(fma(mul(r, r), p, r), set1(1.0f));
}

AD_AVX2_INLINE V exp_core(V x) {
  const V ln2_hi = set1(0x1.62e430p-1f), ln2_lo = set1(-0x1.05c610p-29f);
  x = min_keep_nan(set1(89.0f), max_keep_nan(set1(-104.0f), x));
  const V n =
      _mm256_round_ps(mul(x, set1(0x1.715476p+0f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  V r = fma(n, sub(zero(), ln2_hi), x);
  r = fma(n, sub(zero(), ln2_lo), r);
  return scale(exp_polynomial(r), n);
}

// ---- log and log1p --------------------------------------------------------------

AD_AVX2_INLINE V log1p_polynomial(V f) {
  V q = set1(-0x1.38c1acp-4f);
  q = fma(q, f, set1(0x1.05649ap-3f));
  q = fma(q, f, set1(-0x1.0d875ap-3f));
  q = fma(q, f, set1(0x1.22d90ap-3f));
  q = fma(q, f, set1(-0x1.5471f6p-3f));
  q = fma(q, f, set1(0x1.99a012p-3f));
  q = fma(q, f, set1(-0x1.000228p-2f));
  q = fma(q, f, set1(0x1.555554p-2f));
  const V t = fma(q, f, set1(-0.5f));
  return fma(mul(f, f), t, f);
}

struct Split {
  V e, m;
};

// u = 2^e m with m in [sqrt(1/2), sqrt(2)), for u > 0 finite. A normal float's bits are
// (biased exponent << 23) | significand bits, and integer subtraction of the bits of
// sqrt(1/2) = 0x3f3504f3 leaves, after an arithmetic shift by 23, exactly the e that puts
// m in that range (the significand part borrows from the exponent when it is below
// sqrt(2)'s). Subtracting e << 23 from u's bits then gives m. Denormals are scaled by 2^23
// first, which makes them normal.
AD_AVX2_INLINE Split split_exponent(V u) {
  const Mask denormal = less(u, set1(0x1p-126f));
  u = select(denormal, mul(u, set1(0x1p23f)), u);
  const __m256i bits = _mm256_castps_si256(u);
  const __m256i e = _mm256_srai_epi32(_mm256_sub_epi32(bits, _mm256_set1_epi32(0x3f3504f3)), 23);
  const V m = _mm256_castsi256_ps(_mm256_sub_epi32(bits, _mm256_slli_epi32(e, 23)));
  return {sub(_mm256_cvtepi32_ps(e), _mm256_and_ps(denormal, set1(23.0f))), m};
}

AD_AVX2_INLINE V add_exponent(V e, V p) {
  return fma(e, set1(0x1.62e430p-1f), fma(e, set1(-0x1.05c610p-29f), p));
}

AD_AVX2_INLINE V log_core(V x) {
  const Split s = split_exponent(x);
  return add_exponent(s.e, log1p_polynomial(sub(s.m, set1(1.0f))));
}

AD_AVX2_INLINE V log1p_core(V x) {
  const V one = set1(1.0f);
  const V u = add(one, x);
  const V c = select(greater(x, one), sub(one, sub(u, x)), sub(x, sub(u, one)));
  const Split s = split_exponent(u);
  const V f = add(sub(s.m, one), scale(c, sub(zero(), s.e)));
  return add_exponent(s.e, log1p_polynomial(f));
}

AD_AVX2_INLINE V log_kernel(V x) {
  V y = log_core(x);
  const V inf = set1(__builtin_inff());
  const Mask special = either(not_greater(x, zero()), equal(x, inf));  // <= 0, NaN, inf
  if (any(special)) {
    y = select(special, set1(__builtin_nanf("")), y);  // x < 0 and NaN
    y = select(equal(x, zero()), set1(-__builtin_inff()), y);
    y = select(equal(x, inf), inf, y);
  }
  return y;
}

AD_AVX2_INLINE V log1p_kernel(V x) {
  V y = log1p_core(x);
  const V minus_one = set1(-1.0f), inf = set1(__builtin_inff());
  const Mask special = either(either(not_greater(x, minus_one), equal(x, inf)), equal(x, zero()));
  if (any(special)) {
    y = select(special, set1(__builtin_nanf("")), y);  // x < -1 and NaN
    y = select(equal(x, minus_one), set1(-__builtin_inff()), y);
    y = select(equal(x, inf), inf, y);
    y = select(equal(x, zero()), x, y);  // keeps the sign of zero
  }
  return y;
}

// ---- the functions built on exp and log1p ----------------------------------------

AD_AVX2_INLINE V sigmoid_kernel(V x) {
  const V e = exp_core(sub(zero(), abs(x)));
  const V one = set1(1.0f);
  return div(select(greater_equal(x, zero()), one, e), add(one, e));
}

AD_AVX2_INLINE V log1p_exp_minus_abs(V x) { return log1p_core(exp_core(sub(zero(), abs(x)))); }

AD_AVX2_INLINE V softplus_kernel(V x) {
  return add(max_keep_nan(zero(), x), log1p_exp_minus_abs(x));
}

AD_AVX2_INLINE V log_sigmoid_kernel(V x) {
  return sub(min_keep_nan(zero(), x), log1p_exp_minus_abs(x));
}

AD_AVX2_INLINE V tanh_kernel(V x) {
  const V a = abs(x);
  const V z = mul(a, a);
  V r = set1(-0x1.75e1cep-8f);
  r = fma(r, z, set1(0x1.52269cp-6f));
  r = fma(r, z, set1(-0x1.b83c5ap-5f));
  r = fma(r, z, set1(0x1.110726p-3f));
  r = fma(r, z, set1(-0x1.555532p-2f));
  const V small = fma(mul(a, z), r, a);
  const V one = set1(1.0f);
  const V large = sub(one, div(set1(2.0f), add(exp_core(add(a, a)), one)));
  return copy_sign(select(less(a, set1(0.625f)), small, large), x);
}

// ---- loops over arrays -----------------------------------------------------------
// Whole registers first, then the last n % 8 elements through vmaskmovps: lanes outside
// the mask read as 0 and are never written (nor touched in memory).

AD_AVX2_INLINE __m256i first_lanes(int64_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
AD_AVX2_INLINE V load(const float* p, __m256i m) { return _mm256_maskload_ps(p, m); }
AD_AVX2_INLINE void store(float* p, __m256i m, V v) { _mm256_maskstore_ps(p, m, v); }

template <V (*f)(V)>
AD_AVX2 void map(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)));
  if (i < n) {
    const __m256i m = first_lanes(n - i);
    store(y + i, m, f(load(x + i, m)));
  }
}

template <V (*f)(V, V)>
AD_AVX2 void map2(const float* a, const float* b, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  if (i < n) {
    const __m256i m = first_lanes(n - i);
    store(y + i, m, f(load(a + i, m), load(b + i, m)));
  }
}

template <V (*f)(V, V, V)>
AD_AVX2 void map3(const float* a, const float* b, const float* c, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    _mm256_storeu_ps(y + i,
                     f(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), _mm256_loadu_ps(c + i)));
  if (i < n) {
    const __m256i m = first_lanes(n - i);
    store(y + i, m, f(load(a + i, m), load(b + i, m), load(c + i, m)));
  }
}

// Adds the 8 floats of v, widened to double, to two accumulators of 4 doubles.
AD_AVX2_INLINE void accumulate(__m256d& low, __m256d& high, V v) {
  low = _mm256_add_pd(low, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
  high = _mm256_add_pd(high, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

AD_AVX2_INLINE double sum_lanes(__m256d v) {
  const __m128d pair = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(pair, _mm_unpackhi_pd(pair, pair)));
}

}  // namespace ad::vec::avx2

#endif  // defined(__x86_64__)
