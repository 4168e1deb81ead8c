// The float32 kernels of the Bernoulli cross-entropy from logits (nn::bce_with_logits and
// nn::bce_with_logits_row_sums in loss.h): a plain reference version and a SIMD version
// per instruction set, chosen at run time like every fast kernel (autodiff/runtime/isa.h):
//
//   reference  plain loops over stable_math.h's softplus and sigmoid (loss_kernels.cpp)
//   avx2       8 floats per instruction   (loss_kernels_avx2.cpp)
//   avx512     16 floats per instruction  (loss_kernels_avx512.cpp)
//   neon       4 floats per instruction   (loss_kernels_neon.cpp, arm64)
//
// The SIMD versions are built from the runtime's vector math (exp, log1p, softplus,
// sigmoid: autodiff/runtime/simd_math_*.h), so the loss rounds exactly as
// ad::vec::kernels().softplus does, and stays here, with the losses, out of the core.
//
// Example (what bce_with_logits computes for three float pixels):
//   std::vector<float> l = {0.0f, 2.0f, -100.0f}, t = {1.0f, 1.0f, 0.0f}, loss(3);
//   nn::loss_kernels().bce_with_logits(l.data(), t.data(), loss.data(), 3);
//   // loss = {log 2, softplus(2) - 2 = 0.126928, ~0}
#pragma once
#include <cstdint>

#include "autodiff/runtime/isa.h"

namespace nn {

// One table per instruction set. The elementwise kernels allow their output to be any one
// of their inputs (not so the row sum). n == 0 does nothing.
struct LossKernels {
  // Binary cross-entropy of targets t under Bernoulli(sigmoid(l)), from logits l:
  //   loss[i] = softplus(l[i]) - l[i] t[i];   dl[i] = g[i] (sigmoid(l[i]) - t[i])
  // The subtraction can cancel (l large, t = 1: loss ~ e^-l), so the bounds are relative
  // to the terms, not to the result (2^-21 = 4 FLT_EPSILON), plus tiny = 2^-146 (8 of the
  // smallest denormals) for results that underflow:
  //   |loss - exact| <= 2^-21 (softplus(l) + |l t|) + tiny
  //   |dl - exact|   <= 2^-21 |g| (sigmoid(l) + |t|) + tiny (1 + |g|)
  // Finite for any finite logits (+-100 included) and finite targets.
  void (*bce_with_logits)(const float* l, const float* t, float* loss, int64_t n);
  void (*bce_with_logits_backward)(const float* g, const float* l, const float* t, float* dl,
                                   int64_t n);
  // The same loss summed over each row of a row-major [rows, cols] matrix into out[rows]
  // (the VAE sums 784 pixels per image). Every version accumulates in double, so the sum
  // adds almost nothing to the elements' errors: |out - exact| <= the sum over the row of
  // the bce_with_logits bound, plus 2^-24 |out| for the final rounding to float.
  void (*bce_with_logits_row_sum)(const float* l, const float* t, float* out, int64_t rows,
                                  int64_t cols);
};

// The table of one ISA; throws ad::Error naming the ISA when this CPU does not run it.
const LossKernels& loss_kernels(ad::Isa isa);
// loss_kernels(ad::active_isa()): the widest ISA, or the reference under AD_REFERENCE=1
// or while an ad::ReferenceKernels lives.
const LossKernels& loss_kernels();

namespace detail {
// The ISA files' tables (no CPU check: loss_kernels(isa) does that).
const LossKernels& reference_loss_kernels();
#if defined(__x86_64__)
const LossKernels& avx2_loss_kernels();
const LossKernels& avx512_loss_kernels();
#endif
#if defined(__aarch64__)
const LossKernels& neon_loss_kernels();
#endif
}  // namespace detail

}  // namespace nn
