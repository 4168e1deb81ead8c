// The fused Adam update of nn::Adam (optim.h) over one parameter's float32 buffers:
// one pass that reads w, m, v and g once and writes w, m and v, in a reference, an AVX2,
// an AVX-512 and a NEON version, chosen at run time like every fast kernel (autodiff/runtime/isa.h).
//
// All the versions give the same floats, bit for bit: the SIMD ones do the reference's
// operations in the reference's order (separate multiplies and adds where it has them,
// true divisions and square roots, never a reciprocal estimate), and the compiler is told
// not to fuse a multiply and an add into an FMA. tests/test_optim_kernels.cpp checks it.
//
// Adam's bias corrections divide m by 1 - beta1^t and v by 1 - beta2^t, the same numbers
// for every element; so they are folded into two constants per step, as PyTorch does:
//   w -= lr (m / c1) / (sqrt(v / c2) + eps)
//      = step_size * m / (sqrt(v) * inv_sqrt_c2 + eps),  step_size = lr / c1,
//                                                           inv_sqrt_c2 = 1 / sqrt(c2)
// which leaves one division and one square root per element instead of three and one.
// (Division and square root are the slowest vector instructions, slower than the
// memory traffic of an update here.)
//
// Example (what nn::Adam::step does for each float parameter at step t):
//   const nn::AdamStep s = nn::adam_step(t, {.lr = 1e-3});
//   nn::adam_update(w, m, v, g, n, s);
#pragma once
#include <cstdint>

#include "autodiff/runtime/isa.h"

namespace nn {

struct AdamOptions;

struct AdamStep {
  float beta1, beta2, eps;
  float step_size;    // lr / (1 - beta1^t)
  float inv_sqrt_c2;  // 1 / sqrt(1 - beta2^t)
};

// The constants of step t = 1, 2, ..., computed in double and rounded to float once.
AdamStep adam_step(int64_t t, const AdamOptions& options);

// One Adam update of n elements, in one pass, in place, written as the reference
// computes it:
//   m = b1*m + (1-b1)*g;  v = b2*v + ((1-b2)*g)*g;
//   w = w - step_size * (m / (sqrt(v)*inv_sqrt_c2 + eps))
// The four arrays must not overlap. Throws ad::Error naming the ISA when this CPU lacks it.
void adam_update(ad::Isa isa, float* w, float* m, float* v, const float* g, int64_t n,
                 const AdamStep& s);
// The same with ad::active_isa() (the reference in a student copy of the exercise track).
void adam_update(float* w, float* m, float* v, const float* g, int64_t n, const AdamStep& s);
// The update of step t in double, for float64 parameters, by the reference's loop.
void adam_update(double* w, double* m, double* v, const double* g, int64_t n, int64_t t,
                 const AdamOptions& options);

}  // namespace nn
