// The versions of the fused Adam update (optim_kernels.h), and the choice by ISA.
//
// Bit-identical results need the same roundings in the same order, so every function
// here carries AD_NO_CONTRACT (autodiff/fp_contract.h): without it the compiler may turn a
// multiply followed by an add into one FMA, which rounds once instead of twice.
//
// The update moves 28 bytes per element for a handful of operations, one of them a
// division and one a square root (the slowest vector instructions): the SIMD versions gain
// from doing 4, 8 or 16 elements per instruction and from one pass instead of several.
#include "nn/optim_kernels.h"

#include <cmath>
#include <string>

#include "autodiff/runtime/fp_contract.h"
#include "autodiff/shape.h"
#include "nn/optim.h"

// The SIMD versions of the other CPU family are not compiled (isa.h).
#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

#define AD_EXACT __attribute__((AD_NO_CONTRACT))
#define AD_AVX2_EXACT __attribute__((target("avx2,fma"), AD_NO_CONTRACT))
#define AD_AVX2_EXACT_INLINE \
  __attribute__((target("avx2,fma"), AD_NO_CONTRACT, always_inline)) inline
#define AD_AVX512_EXACT \
  __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma"), AD_NO_CONTRACT))
#define AD_AVX512_EXACT_INLINE                                                                  \
  __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma"), AD_NO_CONTRACT, \
                 always_inline)) inline

namespace nn {
namespace {

// True in a student copy made by `make student` (tools/student.py sets it): nn::Adam then
// runs the reference loop below, the student's exercise E02.1, instead of a SIMD version.
constexpr bool kExerciseCopy = false;

// ---- reference: the loop of nn::Adam::step for float parameters ----------------------

// Adam's bias corrections at step t = 1, 2, ...: c1 = 1 - beta1^t and c2 = 1 - beta2^t
// (m and v start at 0, so early on they are too small by these factors).
struct BiasCorrection {
  double c1, c2;
};
BiasCorrection bias_correction(int64_t t, double beta1, double beta2) {
  // EXERCISE E02.2: Adam's bias correction
  return {1.0 - std::pow(beta1, double(t)), 1.0 - std::pow(beta2, double(t))};
  // END EXERCISE E02.2
}

// The update of n elements, for float (the SIMD versions' reference) and double
// (float64 parameters): step_size = lr / c1, inv_sqrt_c2 = 1 / sqrt(c2).
template <class T>
AD_EXACT void adam_loop(T* w, T* m, T* v, const T* g, int64_t n, T b1, T b2, T eps, T step_size,
                        T inv_sqrt_c2) {
  // EXERCISE E02.1: Adam's moments and update (the reference loop)
  for (int64_t i = 0; i < n; ++i) {
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    w[i] -= step_size * (m[i] / (std::sqrt(v[i]) * inv_sqrt_c2 + eps));
  }
  // END EXERCISE E02.1
}

AD_EXACT void adam_reference(float* w, float* m, float* v, const float* g, int64_t n,
                             const AdamStep& s) {
  adam_loop(w, m, v, g, n, s.beta1, s.beta2, s.eps, s.step_size, s.inv_sqrt_c2);
}

#if defined(__x86_64__)

// ---- AVX2: 8 elements per register, the last n % 8 through vmaskmovps ----------------

struct Avx2Constants {
  __m256 b1, one_minus_b1, b2, one_minus_b2, step_size, inv_sqrt_c2, eps;
};

AD_AVX2_EXACT_INLINE Avx2Constants avx2_constants(const AdamStep& s) {
  return {_mm256_set1_ps(s.beta1),     _mm256_set1_ps(1 - s.beta1),   _mm256_set1_ps(s.beta2),
          _mm256_set1_ps(1 - s.beta2), _mm256_set1_ps(s.step_size), _mm256_set1_ps(s.inv_sqrt_c2),
          _mm256_set1_ps(s.eps)};
}

// The reference's formula on 8 lanes, operation by operation.
AD_AVX2_EXACT_INLINE void adam_lanes(__m256& w, __m256& m, __m256& v, __m256 g,
                                     const Avx2Constants& k) {
  m = _mm256_add_ps(_mm256_mul_ps(k.b1, m), _mm256_mul_ps(k.one_minus_b1, g));
  v = _mm256_add_ps(_mm256_mul_ps(k.b2, v), _mm256_mul_ps(_mm256_mul_ps(k.one_minus_b2, g), g));
  const __m256 denominator = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(v), k.inv_sqrt_c2), k.eps);
  const __m256 step = _mm256_mul_ps(k.step_size, _mm256_div_ps(m, denominator));
  w = _mm256_sub_ps(w, step);
}

AD_AVX2_EXACT void adam_avx2(float* w, float* m, float* v, const float* g, int64_t n,
                             const AdamStep& s) {
  const Avx2Constants k = avx2_constants(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 wi = _mm256_loadu_ps(w + i), mi = _mm256_loadu_ps(m + i), vi = _mm256_loadu_ps(v + i);
    adam_lanes(wi, mi, vi, _mm256_loadu_ps(g + i), k);
    _mm256_storeu_ps(w + i, wi);
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
  }
  if (i < n) {
    const __m256i lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n - i)),
                                             _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256 wi = _mm256_maskload_ps(w + i, lanes), mi = _mm256_maskload_ps(m + i, lanes),
           vi = _mm256_maskload_ps(v + i, lanes);
    adam_lanes(wi, mi, vi, _mm256_maskload_ps(g + i, lanes), k);
    _mm256_maskstore_ps(w + i, lanes, wi);
    _mm256_maskstore_ps(m + i, lanes, mi);
    _mm256_maskstore_ps(v + i, lanes, vi);
  }
}

// ---- AVX-512: 16 elements per register, the last n % 16 under a lane mask -------------

struct Avx512Constants {
  __m512 b1, one_minus_b1, b2, one_minus_b2, step_size, inv_sqrt_c2, eps;
};

AD_AVX512_EXACT_INLINE Avx512Constants avx512_constants(const AdamStep& s) {
  return {_mm512_set1_ps(s.beta1),     _mm512_set1_ps(1 - s.beta1),   _mm512_set1_ps(s.beta2),
          _mm512_set1_ps(1 - s.beta2), _mm512_set1_ps(s.step_size), _mm512_set1_ps(s.inv_sqrt_c2),
          _mm512_set1_ps(s.eps)};
}

// GCC 12's _mm512_sqrt_ps passes _mm512_undefined_ps() (a self-initialised variable) as
// its unused source, which -Wmaybe-uninitialized wrongly reports once inlined (GCC bug
// 105593, fixed in GCC 13); it is silenced for this one wrapper.
#if !defined(__clang__)  // clang has no such warning, and warns about the pragma
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
AD_AVX512_EXACT_INLINE __m512 square_root(__m512 x) { return _mm512_sqrt_ps(x); }
#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// Loads, updates and stores the lanes of `mask` at offset i (a full mask in the loop,
// the first n % 16 lanes at the end; lanes outside it are neither read nor written).
AD_AVX512_EXACT_INLINE void adam_lanes(float* w, float* m, float* v, const float* g, __mmask16 mask,
                                       const Avx512Constants& k) {
  __m512 wi = _mm512_maskz_loadu_ps(mask, w), mi = _mm512_maskz_loadu_ps(mask, m),
         vi = _mm512_maskz_loadu_ps(mask, v);
  const __m512 gi = _mm512_maskz_loadu_ps(mask, g);
  mi = _mm512_add_ps(_mm512_mul_ps(k.b1, mi), _mm512_mul_ps(k.one_minus_b1, gi));
  vi = _mm512_add_ps(_mm512_mul_ps(k.b2, vi), _mm512_mul_ps(_mm512_mul_ps(k.one_minus_b2, gi), gi));
  const __m512 denominator =
      _mm512_add_ps(_mm512_mul_ps(square_root(vi), k.inv_sqrt_c2), k.eps);
  const __m512 step = _mm512_mul_ps(k.step_size, _mm512_div_ps(mi, denominator));
  wi = _mm512_sub_ps(wi, step);
  _mm512_mask_storeu_ps(w, mask, wi);
  _mm512_mask_storeu_ps(m, mask, mi);
  _mm512_mask_storeu_ps(v, mask, vi);
}

AD_AVX512_EXACT void adam_avx512(float* w, float* m, float* v, const float* g, int64_t n,
                                 const AdamStep& s) {
  const Avx512Constants k = avx512_constants(s);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) adam_lanes(w + i, m + i, v + i, g + i, __mmask16(0xffff), k);
  if (i < n) adam_lanes(w + i, m + i, v + i, g + i, __mmask16((1u << (n - i)) - 1u), k);
}

#endif  // defined(__x86_64__)

#if defined(__aarch64__)

// ---- NEON: 4 elements per register, the last n % 4 by the reference loop --------------

AD_EXACT void adam_neon(float* w, float* m, float* v, const float* g, int64_t n,
                        const AdamStep& s) {
  const float32x4_t b1 = vdupq_n_f32(s.beta1), one_minus_b1 = vdupq_n_f32(1 - s.beta1);
  const float32x4_t b2 = vdupq_n_f32(s.beta2), one_minus_b2 = vdupq_n_f32(1 - s.beta2);
  const float32x4_t step_size = vdupq_n_f32(s.step_size), inv_sqrt_c2 = vdupq_n_f32(s.inv_sqrt_c2);
  const float32x4_t eps = vdupq_n_f32(s.eps);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {  // the reference's formula on 4 lanes, operation by operation
    const float32x4_t gi = vld1q_f32(g + i);
    const float32x4_t mi = vaddq_f32(vmulq_f32(b1, vld1q_f32(m + i)), vmulq_f32(one_minus_b1, gi));
    const float32x4_t vi =
        vaddq_f32(vmulq_f32(b2, vld1q_f32(v + i)), vmulq_f32(vmulq_f32(one_minus_b2, gi), gi));
    const float32x4_t denominator = vaddq_f32(vmulq_f32(vsqrtq_f32(vi), inv_sqrt_c2), eps);
    const float32x4_t step = vmulq_f32(step_size, vdivq_f32(mi, denominator));
    vst1q_f32(w + i, vsubq_f32(vld1q_f32(w + i), step));
    vst1q_f32(m + i, mi);
    vst1q_f32(v + i, vi);
  }
  adam_reference(w + i, m + i, v + i, g + i, n - i, s);  // the same roundings, one at a time
}

#endif  // defined(__aarch64__)

}  // namespace

AdamStep adam_step(int64_t t, const AdamOptions& o) {
  const BiasCorrection c = bias_correction(t, o.beta1, o.beta2);
  return {.beta1 = float(o.beta1),
          .beta2 = float(o.beta2),
          .eps = float(o.eps),
          .step_size = float(o.lr / c.c1),
          .inv_sqrt_c2 = float(1.0 / std::sqrt(c.c2))};
}

void adam_update(double* w, double* m, double* v, const double* g, int64_t n, int64_t t,
                 const AdamOptions& o) {
  const BiasCorrection c = bias_correction(t, o.beta1, o.beta2);
  adam_loop(w, m, v, g, n, o.beta1, o.beta2, o.eps, o.lr / c.c1, 1.0 / std::sqrt(c.c2));
}

void adam_update(ad::Isa isa, float* w, float* m, float* v, const float* g, int64_t n,
                 const AdamStep& s) {
  if (!ad::isa_supported(isa))
    throw ad::Error(std::string("adam_update: this CPU does not support ") + ad::to_string(isa));
  switch (isa) {
    case ad::Isa::reference:
      return adam_reference(w, m, v, g, n, s);
#if defined(__x86_64__)
    case ad::Isa::avx2:
      return adam_avx2(w, m, v, g, n, s);
    case ad::Isa::avx512:
      return adam_avx512(w, m, v, g, n, s);
#else
    case ad::Isa::avx2:
    case ad::Isa::avx512:
      return;  // never supported off x86-64: isa_supported() threw above
#endif
#if defined(__aarch64__)
    case ad::Isa::neon:
      return adam_neon(w, m, v, g, n, s);
#else
    case ad::Isa::neon:
      return;  // never supported off arm64
#endif
  }
}

void adam_update(float* w, float* m, float* v, const float* g, int64_t n, const AdamStep& s) {
  adam_update(kExerciseCopy ? ad::Isa::reference : ad::active_isa(), w, m, v, g, n, s);
}

}  // namespace nn
