// NEON (4 floats per register, arm64): the math the vecmath kernels are built from,
// shared by the runtime's vecmath_neon.cpp and the losses' nn/loss_kernels_neon.cpp.
// Names for the instructions, exp, log, log1p and the functions built on them (sigmoid,
// softplus, log_sigmoid, tanh), and the loops that apply a function of registers to
// arrays. All inline, so each kernel that uses them is one straight run of vector
// instructions.
//
// The same algorithms, constants and polynomials as simd_math_avx512.h, where each is
// explained, and the same steps as simd_math_avx2.h, whose math this file repeats line
// for line: only the names for the instructions below differ. Like AVX2, NEON has no
// getexp / getmant / scalef, so splitting u = 2^e m and multiplying by 2^n are done with
// integer operations on the floats' bits (split_exponent, scale), and the last n % 4
// elements go through a small array (no masked loads either).
//
// Two differences from x86 that the names below absorb:
//   - NEON's fmax / fmin return NaN when either operand is NaN, so a NaN x passes through
//     max_keep_nan as on x86 (there: the second operand);
//   - GCC writes NEON's vmulq / vaddq as plain vector arithmetic, which it would fuse into
//     an FMA where the x86 versions round twice: every function here is marked
//     AD_NO_CONTRACT (fp_contract.h), and the FMAs the algorithms want are written out
//     (vfmaq, vfmsq).
//
// Only for arm64: for any other CPU this header is empty, and isa.cpp never reports
// NEON there.
#pragma once
#if defined(__aarch64__)

#include <arm_neon.h>

#include <cstdint>

#include "autodiff/runtime/fp_contract.h"

#define AD_NEON_EXACT __attribute__((AD_NO_CONTRACT))
#define AD_NEON_INLINE __attribute__((AD_NO_CONTRACT, always_inline)) inline

namespace ad::vec::neon {

using V = float32x4_t;    // 4 floats
using Mask = uint32x4_t;  // all bits set in the lanes where a comparison holds
constexpr int kLanes = 4;

// ---- a few names for the instructions, so the math below reads like math ----------

AD_NEON_INLINE V set1(float x) { return vdupq_n_f32(x); }
AD_NEON_INLINE V zero() { return vdupq_n_f32(0.0f); }
AD_NEON_INLINE V add(V a, V b) { return vaddq_f32(a, b); }
AD_NEON_INLINE V sub(V a, V b) { return vsubq_f32(a, b); }
AD_NEON_INLINE V mul(V a, V b) { return vmulq_f32(a, b); }
AD_NEON_INLINE V div(V a, V b) { return vdivq_f32(a, b); }
AD_NEON_INLINE V fma(V a, V b, V c) { return vfmaq_f32(c, a, b); }  // a b + c, one rounding
AD_NEON_INLINE V abs(V a) { return vabsq_f32(a); }
AD_NEON_INLINE V max_keep_nan(V constant, V x) { return vmaxq_f32(constant, x); }
AD_NEON_INLINE V min_keep_nan(V constant, V x) { return vminq_f32(constant, x); }
AD_NEON_INLINE V select(Mask m, V if_true, V if_false) { return vbslq_f32(m, if_true, if_false); }
AD_NEON_INLINE Mask less(V a, V b) { return vcltq_f32(a, b); }
AD_NEON_INLINE Mask greater(V a, V b) { return vcgtq_f32(a, b); }
AD_NEON_INLINE Mask greater_equal(V a, V b) { return vcgeq_f32(a, b); }
AD_NEON_INLINE Mask equal(V a, V b) { return vceqq_f32(a, b); }
AD_NEON_INLINE Mask not_greater(V a, V b) { return vmvnq_u32(vcgtq_f32(a, b)); }  // NaN: true
AD_NEON_INLINE Mask either(Mask a, Mask b) { return vorrq_u32(a, b); }
AD_NEON_INLINE bool any(Mask m) { return vmaxvq_u32(m) != 0; }
AD_NEON_INLINE V copy_sign(V magnitude, V sign) {  // |magnitude| with sign's sign bit
  return vbslq_f32(vdupq_n_u32(0x80000000u), sign, magnitude);
}

// v 2^n for whole numbers n in [-252, 254], in two normal-float factors: see scale in
// simd_math_avx2.h.
AD_NEON_INLINE V scale(V v, V n) {
  const int32x4_t k = vcvtq_s32_f32(n);  // n is whole: no rounding
  const int32x4_t half = vshrq_n_s32(k, 1);
  const int32x4_t rest = vsubq_s32(k, half);
  const int32x4_t bias = vdupq_n_s32(127);
  const V first = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(half, bias), 23));
  const V second = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(rest, bias), 23));
  return mul(mul(v, first), second);
}

// ---- exp ------------------------------------------------------------------------

AD_NEON_INLINE V exp_polynomial(V r) {
  V p = set1(0x1.6a2438p-10f);
  p = fma(p, r, set1(0x1.1239e0p-7f));
  p = fma(p, r, set1(0x1.5558f2p-5f));
  p = fma(p, r, set1(0x1.555492p-3f));
  p = fma(p, r, set1(0x1.fffffcp-2f));
  return add(fma(mul(r, r), p, r), set1(1.0f));
}

AD_NEON_INLINE V exp_core(V x) {
  const V ln2_hi = set1(0x1.62e430p-1f), ln2_lo = set1(-0x1.05c610p-29f);
  x = min_keep_nan(set1(89.0f), max_keep_nan(set1(-104.0f), x));
  const V n = vrndnq_f32(mul(x, set1(0x1.715476p+0f)));
  V r = fma(n, sub(zero(), ln2_hi), x);
  r = fma(n, sub(zero(), ln2_lo), r);
  return scale(exp_polynomial(r), n);
}

// ---- log and log1p --------------------------------------------------------------

AD_NEON_INLINE V log1p_polynomial(V f) {
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
AD_NEON_INLINE Split split_exponent(V u) {
  const Mask denormal = less(u, set1(0x1p-126f));
  u = select(denormal, mul(u, set1(0x1p23f)), u);
  const int32x4_t bits = vreinterpretq_s32_f32(u);
  const int32x4_t e = vshrq_n_s32(vsubq_s32(bits, vdupq_n_s32(0x3f3504f3)), 23);
  const V m = vreinterpretq_f32_s32(vsubq_s32(bits, vshlq_n_s32(e, 23)));
  return {sub(vcvtq_f32_s32(e), select(denormal, set1(23.0f), zero())), m};
}

AD_NEON_INLINE V add_exponent(V e, V p) {
  return fma(e, set1(0x1.62e430p-1f), fma(e, set1(-0x1.05c610p-29f), p));
}

AD_NEON_INLINE V log_core(V x) {
  const Split s = split_exponent(x);
  return add_exponent(s.e, log1p_polynomial(sub(s.m, set1(1.0f))));
}

AD_NEON_INLINE V log1p_core(V x) {
  const V one = set1(1.0f);
  const V u = add(one, x);
  const V c = select(greater(x, one), sub(one, sub(u, x)), sub(x, sub(u, one)));
  const Split s = split_exponent(u);
  const V f = add(sub(s.m, one), scale(c, sub(zero(), s.e)));
  return add_exponent(s.e, log1p_polynomial(f));
}

AD_NEON_INLINE V log_kernel(V x) {
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

AD_NEON_INLINE V log1p_kernel(V x) {
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

AD_NEON_INLINE V sigmoid_kernel(V x) {
  const V e = exp_core(sub(zero(), abs(x)));
  const V one = set1(1.0f);
  return div(select(greater_equal(x, zero()), one, e), add(one, e));
}

AD_NEON_INLINE V log1p_exp_minus_abs(V x) { return log1p_core(exp_core(sub(zero(), abs(x)))); }

AD_NEON_INLINE V softplus_kernel(V x) {
  return add(max_keep_nan(zero(), x), log1p_exp_minus_abs(x));
}

AD_NEON_INLINE V log_sigmoid_kernel(V x) {
  return sub(min_keep_nan(zero(), x), log1p_exp_minus_abs(x));
}

AD_NEON_INLINE V tanh_kernel(V x) {
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
// Whole registers first, then the last n % 4 elements copied into a zero-filled register
// and back (only the `count` that exist are read or written).

struct Tail {
  float lanes[kLanes] = {};
};

AD_NEON_INLINE V load_first(const float* p, int64_t count) {
  Tail t;
  for (int64_t i = 0; i < count; ++i) t.lanes[i] = p[i];
  return vld1q_f32(t.lanes);
}

AD_NEON_INLINE void store_first(float* p, int64_t count, V v) {
  Tail t;
  vst1q_f32(t.lanes, v);
  for (int64_t i = 0; i < count; ++i) p[i] = t.lanes[i];
}

template <V (*f)(V)>
AD_NEON_EXACT void map(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) vst1q_f32(y + i, f(vld1q_f32(x + i)));
  if (i < n) store_first(y + i, n - i, f(load_first(x + i, n - i)));
}

template <V (*f)(V, V)>
AD_NEON_EXACT void map2(const float* a, const float* b, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) vst1q_f32(y + i, f(vld1q_f32(a + i), vld1q_f32(b + i)));
  if (i < n) store_first(y + i, n - i, f(load_first(a + i, n - i), load_first(b + i, n - i)));
}

template <V (*f)(V, V, V)>
AD_NEON_EXACT void map3(const float* a, const float* b, const float* c, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    vst1q_f32(y + i, f(vld1q_f32(a + i), vld1q_f32(b + i), vld1q_f32(c + i)));
  if (i < n) {
    const int64_t left = n - i;
    store_first(y + i, left,
                f(load_first(a + i, left), load_first(b + i, left), load_first(c + i, left)));
  }
}

// Adds the 4 floats of v, widened to double, to two accumulators of 2 doubles.
AD_NEON_INLINE void accumulate(float64x2_t& low, float64x2_t& high, V v) {
  low = vaddq_f64(low, vcvt_f64_f32(vget_low_f32(v)));
  high = vaddq_f64(high, vcvt_high_f64_f32(v));
}

}  // namespace ad::vec::neon

#endif  // defined(__aarch64__)
