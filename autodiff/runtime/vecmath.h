// Vectorised float32 elementwise math: exp, log, log1p, tanh, the stable sigmoid family
// and relu, each in a plain reference version and a SIMD version per instruction set (the
// losses build their own kernels from the same pieces: nn/loss_kernels.h):
//
//   reference  plain loops over the scalar forms of the project (std::exp, std::log,
//              std::log1p, std::tanh and stable_math.h): with AD_REFERENCE=1 every
//              number is exactly what the ops compute one element at a time;
//   avx2       8 floats per instruction   (simd_math_avx2.h, vecmath_avx2.cpp);
//   avx512     16 floats per instruction  (simd_math_avx512.h, vecmath_avx512.cpp);
//   neon       4 floats per instruction   (simd_math_neon.h, vecmath_neon.cpp, arm64).
//
// The SIMD versions cannot call std::exp: it takes one float at a time, and a call per
// element would cost more than the vector work saves. So they compute the functions
// themselves, the way a math library does:
//
//   exp    Cody-Waite range reduction: x = n ln2 + r with n = round(x / ln2), so
//          |r| <= ln2/2, and ln2 split into a high and a low part so that r is exact
//          to float rounding; e^r by a degree-6 polynomial; e^x = 2^n e^r.
//   log    x = 2^e m with m in [sqrt(1/2), sqrt(2)), so f = m - 1 lies in
//          [-0.29, 0.41]; log x = e ln2 + log1p(f), log1p(f) by a degree-10 polynomial.
//   log1p  1 + x is rounded, but its rounding error c is recovered exactly (Fast2Sum)
//          and folded back in after the split: log1p(x) = e ln2 + log1p(f + c 2^-e).
//   tanh   an odd degree-11 polynomial for |x| < 0.625, 1 - 2 / (e^2|x| + 1) above.
//   sigmoid, softplus, log_sigmoid: the formulas of stable_math.h on top of these.
//
// The polynomials' coefficients are minimax (Remez exchange) fits of the relative error,
// made for this project in double precision and rounded to float; see simd_math_avx512.h.
//
// Accuracy is measured in units in the last place: ulp_distance(a, b) below is how many
// floats lie between a and b. Each bound beside a kernel below holds for every input
// float, for every ISA (the reference included), against the correctly rounded result
// (the double-precision function rounded to float); tests/test_vecmath.cpp checks them
// over a sweep of the whole float range and bench/vecmath_bench.cpp prints the worst
// errors found. Denormal inputs and outputs are handled as std:: does (no flushing).
//
// Example (one kernel table per ISA; kernels() is the one for ad::active_isa()):
//   std::vector<float> x = {0.0f, 1.0f, -2.0f}, y(3);
//   ad::vec::kernels().exp(x.data(), y.data(), 3);     // y = {1, 2.7182817, 0.13533528}
//   ad::vec::kernels().sigmoid(y.data(), y.data(), 3); // in place is allowed
#pragma once
#include <cstdint>

#include "autodiff/runtime/isa.h"

namespace ad::vec {

// One table of float32 kernels per instruction set. Every unary kernel computes
// y[i] = f(x[i]) for 0 <= i < n and allows y == x (in place); the other elementwise
// kernels allow their output to be any one of their inputs. n == 0 does nothing.
struct Kernels {
  // <= 2 ulp. Overflow (x > 88.72) gives +inf, exp(-inf) = 0; results below FLT_MIN are
  // denormals (gradual underflow, as std::exp), 0 below x = -103.97. NaN in, NaN out.
  void (*exp)(const float* x, float* y, int64_t n);
  // <= 2 ulp, denormal x included. log(+-0) = -inf, log(x < 0) = NaN, log(inf) = inf.
  void (*log)(const float* x, float* y, int64_t n);
  // <= 2 ulp. log1p(-1) = -inf, log1p(x < -1) = NaN, log1p(inf) = inf, log1p(+-0) = +-0.
  void (*log1p)(const float* x, float* y, int64_t n);
  // <= 3 ulp. Stable: 1/(1+e^-x), never exp of a large positive; the result is always in
  // [0, 1] (denormal below x = -87.3, 0 below -103.9).
  void (*sigmoid)(const float* x, float* y, int64_t n);
  // <= 3 ulp. max(x,0) + log1p(exp(-|x|)): softplus(x) = x for x >= 16, denormal or 0
  // (never NaN) for very negative x, softplus(inf) = inf, softplus(-inf) = 0.
  void (*softplus)(const float* x, float* y, int64_t n);
  // <= 3 ulp. min(x,0) - log1p(exp(-|x|)) = -softplus(-x).
  void (*log_sigmoid)(const float* x, float* y, int64_t n);
  // <= 3 ulp. tanh(+-inf) = +-1, tanh(+-0) = +-0.
  void (*tanh)(const float* x, float* y, int64_t n);
  // Bit-identical to the reference: x > 0 ? x : 0 * x, so NaN and -inf give NaN and a
  // negative x gives -0, exactly as the relu op computes today.
  void (*relu)(const float* x, float* y, int64_t n);
  // relu's fused backward, dx[i] = x[i] > 0 ? g[i] : 0, bit-identical to the reference.
  void (*relu_backward)(const float* g, const float* x, float* dx, int64_t n);
};

// The table of one ISA; throws ad::Error (autodiff/shape.h) naming the ISA when this
// CPU does not run it.
const Kernels& kernels(Isa isa);
// kernels(active_isa()): the widest ISA, or the reference under AD_REFERENCE=1 or while an
// ad::ReferenceKernels lives (isa.h).
const Kernels& kernels();

// The number of floats between a and b: 0 when they are equal (+0 and -0 are equal),
// 1 for neighbours, counting denormals and treating +-inf as the floats after +-FLT_MAX.
// If either is NaN: 0 when both are, else INT64_MAX.
int64_t ulp_distance(float a, float b);

namespace detail {
// The ISA files' tables (no CPU check: kernels(isa) does that). Each SIMD table exists
// only when compiling for its CPU family.
const Kernels& reference_kernels();
#if defined(__x86_64__)
const Kernels& avx2_kernels();
const Kernels& avx512_kernels();
#endif
#if defined(__aarch64__)
const Kernels& neon_kernels();
#endif
}  // namespace detail

}  // namespace ad::vec
