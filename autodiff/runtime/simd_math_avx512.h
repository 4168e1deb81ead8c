// AVX-512 (16 floats per register): the math the vecmath kernels are built from,
// shared by the runtime's vecmath_avx512.cpp and the losses' nn/loss_kernels_avx512.cpp.
// Names for the instructions, exp, log, log1p and the functions built on them (sigmoid,
// softplus, log_sigmoid, tanh), and the loops that apply a function of registers to
// arrays. All inline, so each kernel that uses them is one straight run of vector
// instructions.
//
// The project is compiled without -march, so every function that uses AVX-512 carries a
// target attribute and runs only after vecmath.cpp has checked the CPU. The helpers are
// always_inline so that each kernel's loop is one straight run of vector instructions.
//
// How each function is computed is explained once, here; simd_math_avx2.h follows the
// same steps with the same constants (AVX2 lacks getexp/getmant/scalef and lane masks and
// does those steps with integer bit operations instead, to the same results).
//
// Where the polynomial coefficients come from. Each is a minimax fit: the coefficients
// that make the largest relative error of the whole function over the reduced interval as
// small as possible. They were found by the Remez exchange algorithm: pick one more point
// than there are coefficients, solve the linear system that makes the weighted error equal
// in size and alternating in sign at those points, move the points to the extrema of the
// new error curve, and repeat until the extrema are all equal. The fits were made for this
// project with a short Python script (the target functions evaluated to 60 digits with the
// decimal module, the linear algebra in double) and the results rounded to float. Only
// what follows the exact leading terms is fitted (1 + r for exp, f - f^2/2 for log1p, x for
// tanh), with the weight that turns its error into the relative error of the whole, so
// small arguments come out right to the last bit. Relative error of each approximation
// once its coefficients are rounded to float:
//   exp    1 + r + r^2 P(r),        P degree 4,   |r| <= 0.3466:            3.8e-9
//   log1p  f - f^2/2 + f^3 Q(f),    Q degree 7,   f in [-0.2930, 0.4143]:   6.1e-9
//   tanh   x + x^3 R(x^2),          R degree 4,   |x| <= 0.625:             8.6e-9
// all far below float's own rounding (2^-24 = 6e-8): what remains is the rounding of the
// few operations around them. The bounds in vecmath.h are what the tests measure, with
// margin: a run over all 2^32 floats found at most 1 ulp for exp, log, log1p and tanh and
// at most 2 for sigmoid, softplus and log_sigmoid, in both SIMD versions.
//
// Only for x86-64: for any other CPU this header is empty, and isa.cpp never reports
// AVX there.
#pragma once
#if defined(__x86_64__)

#include <immintrin.h>

#include <cstdint>

#define AD_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))
#define AD_AVX512_INLINE \
  __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma"), always_inline)) inline

namespace ad::vec::avx512 {

using V = __m512;        // 16 floats
using Mask = __mmask16;  // one bit per lane
constexpr int kLanes = 16;

// ---- a few names for the instructions, so the math below reads like math ----------
//
// GCC 12's avx512fintrin.h passes _mm512_undefined_ps() (a self-initialised variable) as
// the unused source of max, min, scalef, getexp, getmant, roundscale, the widening
// conversions and the horizontal sum, which -Wmaybe-uninitialized wrongly reports once
// they are inlined (GCC bug 105593, fixed in GCC 13). Those intrinsics are used only
// through the helpers in this block, with that one warning silenced for it.
#if !defined(__clang__)  // clang has no such warning, and warns about the pragma
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

AD_AVX512_INLINE V set1(float x) { return _mm512_set1_ps(x); }
AD_AVX512_INLINE V add(V a, V b) { return _mm512_add_ps(a, b); }
AD_AVX512_INLINE V sub(V a, V b) { return _mm512_sub_ps(a, b); }
AD_AVX512_INLINE V mul(V a, V b) { return _mm512_mul_ps(a, b); }
AD_AVX512_INLINE V div(V a, V b) { return _mm512_div_ps(a, b); }
AD_AVX512_INLINE V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }  // a b + c, one rounding
AD_AVX512_INLINE V abs(V a) { return _mm512_abs_ps(a); }
// x86 min/max return their second operand when either is NaN: with the constant first,
// a NaN x passes through.
AD_AVX512_INLINE V max_keep_nan(V constant, V x) { return _mm512_max_ps(constant, x); }
AD_AVX512_INLINE V min_keep_nan(V constant, V x) { return _mm512_min_ps(constant, x); }
AD_AVX512_INLINE V select(Mask m, V if_true, V if_false) {
  return _mm512_mask_blend_ps(m, if_false, if_true);
}
AD_AVX512_INLINE Mask less(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
AD_AVX512_INLINE Mask greater(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
AD_AVX512_INLINE Mask greater_equal(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
AD_AVX512_INLINE Mask equal(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
AD_AVX512_INLINE Mask not_greater(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_NGT_UQ); }
AD_AVX512_INLINE V copy_sign(V magnitude, V sign) {  // |magnitude| with sign's sign bit
  return _mm512_or_ps(_mm512_andnot_ps(set1(-0.0f), magnitude), _mm512_and_ps(set1(-0.0f), sign));
}
AD_AVX512_INLINE V round_to_integer(V x) {  // to nearest, ties to even
  return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
// v 2^n, one rounding (vscalefps): inf on overflow, denormals and 0 on underflow.
AD_AVX512_INLINE V scale(V v, V n) { return _mm512_scalef_ps(v, n); }
// For u = 2^e s with s in [1, 2): e and s (denormals are normalised first).
AD_AVX512_INLINE V exponent_of(V u) { return _mm512_getexp_ps(u); }
AD_AVX512_INLINE V significand_of(V u) {
  return _mm512_getmant_ps(u, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
}
// The low and high 8 floats of v, widened to double.
AD_AVX512_INLINE __m512d widen_low(V v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
AD_AVX512_INLINE __m512d widen_high(V v) {
  return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}
AD_AVX512_INLINE double sum_lanes(__m512d v) { return _mm512_reduce_add_pd(v); }
#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// ---- exp ------------------------------------------------------------------------

// e^r for |r| <= 0.3466: 1 + r + r^2 P(r), P evaluated by Horner's rule.
AD_AVX512_INLINE V exp_polynomial(V r) {
  V p = set1(0x1.6a2438p-10f);          // 1.3814601e-3   ~ 1/720
  p = fma(p, r, set1(0x1.1239e0p-7f));  // 8.3687156e-3   ~ 1/120
  p = fma(p, r, set1(0x1.5558f2p-5f));  // 4.1668389e-2   ~ 1/24
  p = fma(p, r, set1(0x1.555492p-3f));  // 0.16666521     ~ 1/6
  p = fma(p, r, set1(0x1.fffffcp-2f));  // 0.49999994     ~ 1/2
  return add(fma(mul(r, r), p, r), set1(1.0f));
}

// e^x = 2^n e^r with n = round(x / ln2) and r = x - n ln2.
//
// Cody-Waite: ln2 = ln2_hi + ln2_lo with ln2_hi = float(ln2). With an FMA, x - n ln2_hi
// is exact (the true difference is a multiple of 2^-25 below 0.35 in size, which fits in
// a float), and subtracting n ln2_lo then leaves only r's own rounding: the error of the
// reduction is ~2^-25 |r|, not the 2^-24 |x| that one float product n ln2 would cost.
//
// x is first clamped to [-104, 89] (outside, e^x rounds to 0 or overflows anyway), so that
// n stays finite; vscalefps then multiplies by 2^n with a single rounding, giving inf
// above 88.72, denormals below -87.34 and 0 below -103.97 on its own.
AD_AVX512_INLINE V exp_core(V x) {
  const V ln2_hi = set1(0x1.62e430p-1f), ln2_lo = set1(-0x1.05c610p-29f);
  x = min_keep_nan(set1(89.0f), max_keep_nan(set1(-104.0f), x));
  const V n = round_to_integer(mul(x, set1(0x1.715476p+0f)));  // x / ln2
  V r = fma(n, sub(_mm512_setzero_ps(), ln2_hi), x);
  r = fma(n, sub(_mm512_setzero_ps(), ln2_lo), r);
  return scale(exp_polynomial(r), n);
}

// ---- log and log1p --------------------------------------------------------------

// log1p(f) for f in [sqrt(1/2) - 1, sqrt(2) - 1]: f + f^2 (-1/2 + f Q(f)). The first
// term is exact and the second at most a fifth of the result, so its rounding costs
// little.
AD_AVX512_INLINE V log1p_polynomial(V f) {
  V q = set1(-0x1.38c1acp-4f);           // -0.076356575
  q = fma(q, f, set1(0x1.05649ap-3f));   //  0.12763329
  q = fma(q, f, set1(-0x1.0d875ap-3f));  // -0.13160582
  q = fma(q, f, set1(0x1.22d90ap-3f));   //  0.14201553   ~  1/7
  q = fma(q, f, set1(-0x1.5471f6p-3f));  // -0.16623299   ~ -1/6
  q = fma(q, f, set1(0x1.99a012p-3f));   //  0.20001234   ~  1/5
  q = fma(q, f, set1(-0x1.000228p-2f));  // -0.25000823   ~ -1/4
  q = fma(q, f, set1(0x1.555554p-2f));   //  0.33333331   ~  1/3
  const V t = fma(q, f, set1(-0.5f));
  return fma(mul(f, f), t, f);
}

// u = 2^e m with m in [sqrt(1/2), sqrt(2)), for u > 0 finite (denormals included).
// vgetmantps gives u's significand in [1, 2) and vgetexpps its exponent (both normalise
// denormals); significands from sqrt(2) up are halved so that m - 1 is small both ways.
struct Split {
  V e, m;
};
AD_AVX512_INLINE Split split_exponent(V u) {
  V m = significand_of(u);
  V e = exponent_of(u);
  const Mask upper = greater_equal(m, set1(0x1.6a09e6p+0f));  // float(sqrt(2))
  m = _mm512_mask_mul_ps(m, upper, m, set1(0.5f));
  e = _mm512_mask_add_ps(e, upper, e, set1(1.0f));
  return {e, m};
}

// e ln2 + p, with ln2 in two parts as in exp: e ln2_hi + (e ln2_lo + p), one rounding
// for the large part.
AD_AVX512_INLINE V add_exponent(V e, V p) {
  return fma(e, set1(0x1.62e430p-1f), fma(e, set1(-0x1.05c610p-29f), p));
}

// log x for x > 0 finite.
AD_AVX512_INLINE V log_core(V x) {
  const Split s = split_exponent(x);
  return add_exponent(s.e, log1p_polynomial(sub(s.m, set1(1.0f))));  // m - 1 is exact
}

// log1p x for -1 < x < inf. u = 1 + x is rounded; Fast2Sum recovers its rounding error
// c = (1 + x) - u exactly (subtracting in this order is exact when the first operand of
// the sum is the larger: 1 for |x| <= 1, x above). Then with u = 2^e m,
//   1 + x = 2^e (m + c 2^-e),  so  log1p(x) = e ln2 + log1p(m - 1 + c 2^-e),
// where m - 1 is exact and c 2^-e is only a power-of-two scaling: the one rounding left
// is that of the sum, which is as small relative to it as a float allows.
AD_AVX512_INLINE V log1p_core(V x) {
  const V one = set1(1.0f);
  const V u = add(one, x);
  const V c = select(greater(x, one), sub(one, sub(u, x)), sub(x, sub(u, one)));
  const Split s = split_exponent(u);
  const V f = add(sub(s.m, one), scale(c, sub(_mm512_setzero_ps(), s.e)));
  return add_exponent(s.e, log1p_polynomial(f));
}

// Lanes whose x lies outside the cores' domains get the special values of vecmath.h.
// They are rare, so the fix-up is skipped unless some lane needs it.
AD_AVX512_INLINE V log_kernel(V x) {
  V y = log_core(x);
  const V inf = set1(__builtin_inff());
  const Mask special = not_greater(x, _mm512_setzero_ps()) | equal(x, inf);  // <= 0, NaN, inf
  if (special) {
    y = select(special, set1(__builtin_nanf("")), y);  // x < 0 and NaN
    y = select(equal(x, _mm512_setzero_ps()), set1(-__builtin_inff()), y);
    y = select(equal(x, inf), inf, y);
  }
  return y;
}

AD_AVX512_INLINE V log1p_kernel(V x) {
  V y = log1p_core(x);
  const V minus_one = set1(-1.0f), inf = set1(__builtin_inff()), zero = _mm512_setzero_ps();
  const Mask special = not_greater(x, minus_one) | equal(x, inf) | equal(x, zero);
  if (special) {
    y = select(special, set1(__builtin_nanf("")), y);  // x < -1 and NaN
    y = select(equal(x, minus_one), set1(-__builtin_inff()), y);
    y = select(equal(x, inf), inf, y);
    y = select(equal(x, zero), x, y);  // keeps the sign of zero
  }
  return y;
}

// ---- the functions built on exp and log1p ----------------------------------------

// 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below: with e = e^-|x| <= 1 both are
// (x >= 0 ? 1 : e) / (1 + e), one division, and no exponential can overflow.
AD_AVX512_INLINE V sigmoid_kernel(V x) {
  const V e = exp_core(sub(_mm512_setzero_ps(), abs(x)));
  const V one = set1(1.0f);
  return div(select(greater_equal(x, _mm512_setzero_ps()), one, e), add(one, e));
}

// log1p(e^-|x|): the shared part of softplus and log_sigmoid, in (0, log 2].
AD_AVX512_INLINE V log1p_exp_minus_abs(V x) {
  return log1p_core(exp_core(sub(_mm512_setzero_ps(), abs(x))));
}

AD_AVX512_INLINE V softplus_kernel(V x) {
  return add(max_keep_nan(_mm512_setzero_ps(), x), log1p_exp_minus_abs(x));
}

AD_AVX512_INLINE V log_sigmoid_kernel(V x) {
  return sub(min_keep_nan(_mm512_setzero_ps(), x), log1p_exp_minus_abs(x));
}

// tanh is odd: computed for a = |x|, then given x's sign.
//   a < 0.625:  a + a^3 R(a^2)  (near 0 the formula below would cancel)
//   otherwise:  1 - 2 / (e^2a + 1), which is >= 0.55 so the subtraction loses nothing;
//               e^2a overflowing to inf (a > 44) gives exactly 1.
AD_AVX512_INLINE V tanh_kernel(V x) {
  const V a = abs(x);
  const V z = mul(a, a);
  V r = set1(-0x1.75e1cep-8f);           // -5.7049873e-3
  r = fma(r, z, set1(0x1.52269cp-6f));   //  2.0639088e-2
  r = fma(r, z, set1(-0x1.b83c5ap-5f));  // -5.3739715e-2
  r = fma(r, z, set1(0x1.110726p-3f));   //  0.13331442   ~  2/15
  r = fma(r, z, set1(-0x1.555532p-2f));  // -0.33333281   ~ -1/3
  const V small = fma(mul(a, z), r, a);
  const V one = set1(1.0f);
  const V large = sub(one, div(set1(2.0f), add(exp_core(add(a, a)), one)));
  return copy_sign(select(less(a, set1(0.625f)), small, large), x);
}

// ---- loops over arrays -----------------------------------------------------------
// Whole registers first, then one masked register for the last n % 16 elements (the
// masked-off lanes read as 0 and are never written).

AD_AVX512_INLINE Mask first_lanes(int64_t count) { return Mask((1u << count) - 1u); }

template <V (*f)(V)>
AD_AVX512 void map(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) _mm512_storeu_ps(y + i, f(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const Mask m = first_lanes(n - i);
    _mm512_mask_storeu_ps(y + i, m, f(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

template <V (*f)(V, V)>
AD_AVX512 void map2(const float* a, const float* b, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    _mm512_storeu_ps(y + i, f(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
  if (i < n) {
    const Mask m = first_lanes(n - i);
    _mm512_mask_storeu_ps(y + i, m,
                          f(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
  }
}

template <V (*f)(V, V, V)>
AD_AVX512 void map3(const float* a, const float* b, const float* c, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    _mm512_storeu_ps(y + i,
                     f(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), _mm512_loadu_ps(c + i)));
  if (i < n) {
    const Mask m = first_lanes(n - i);
    _mm512_mask_storeu_ps(y + i, m,
                          f(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i),
                            _mm512_maskz_loadu_ps(m, c + i)));
  }
}

// Adds the 16 floats of v, widened to double, to two accumulators of 8 doubles.
AD_AVX512_INLINE void accumulate(__m512d& low, __m512d& high, V v) {
  low = _mm512_add_pd(low, widen_low(v));
  high = _mm512_add_pd(high, widen_high(v));
}

}  // namespace ad::vec::avx512

#endif  // defined(__x86_64__)
