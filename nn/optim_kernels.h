// The fused Adam update of nn::Adam (optim.h) over one parameter's float32 buffers:
// one pass that reads w, m, v and g once and writes w, m and v, in a reference, an AVX2,
// an AVX-512 and a NEON version, chosen at run time like every fast kernel (autodiff/isa.h).
//
// All the versions give the same floats, bit for bit: the SIMD ones do the reference's
// operations in the reference's order (separate multiplies and adds where it has them,
// true divisions and square roots, never a reciprocal estimate), and the compiler is told
// not to fuse a multiply and an add into an FMA. tests/test_optim_kernels.cpp checks it.
//
// Example (what nn::Adam::step does for each float parameter at step t):
//   nn::AdamStep s{.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
//                  .correction1 = float(1 - std::pow(0.9, t)),
//                  .correction2 = float(1 - std::pow(0.999, t))};
//   nn::adam_update(w, m, v, g, n, s);
#pragma once
#include <cstdint>

#include "autodiff/isa.h"

namespace nn {

struct AdamStep {
  float lr, beta1, beta2, eps;
  float correction1, correction2;  // 1 - beta1^t and 1 - beta2^t at step t = 1, 2, ...
};

// One Adam update of n elements, in one pass, in place:
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  w -= lr (m/c1) / (sqrt(v/c2) + eps)
// written as the reference computes it:
//   m = b1*m + (1-b1)*g;  v = b2*v + ((1-b2)*g)*g;  w = w - (lr*(m/c1)) / (sqrt(v/c2) + eps)
// The four arrays must not overlap. Throws ad::Error naming the ISA when this CPU lacks it.
void adam_update(ad::Isa isa, float* w, float* m, float* v, const float* g, int64_t n,
                 const AdamStep& s);
// The same with ad::active_isa().
void adam_update(float* w, float* m, float* v, const float* g, int64_t n, const AdamStep& s);

}  // namespace nn
