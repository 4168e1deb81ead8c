// The reference kernels of loss_kernels.h (plain loops over stable_math.h's scalar
// formulas, as the loss computes them one element at a time) and the choice by ISA.
#include "nn/loss_kernels.h"

#include <string>

#include "autodiff/shape.h"
#include "autodiff/stable_math.h"

namespace nn {

namespace {

// softplus(l) - l * t as the scalar loss computes it: three roundings.
float bce_ref(float l, float t) { return ad::stable::softplus(l) - l * t; }

void bce_with_logits_ref(const float* l, const float* t, float* loss, int64_t n) {
  for (int64_t i = 0; i < n; ++i) loss[i] = bce_ref(l[i], t[i]);
}

void bce_with_logits_backward_ref(const float* g, const float* l, const float* t, float* dl,
                                  int64_t n) {
  for (int64_t i = 0; i < n; ++i) dl[i] = g[i] * (ad::stable::sigmoid(l[i]) - t[i]);
}

// ad::sum accumulates in double; so does this.
void bce_with_logits_row_sum_ref(const float* l, const float* t, float* out, int64_t rows,
                                 int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0;
    for (int64_t c = 0; c < cols; ++c) sum += bce_ref(l[r * cols + c], t[r * cols + c]);
    out[r] = static_cast<float>(sum);
  }
}

}  // namespace

namespace detail {

const LossKernels& reference_loss_kernels() {
  static const LossKernels table{.bce_with_logits = bce_with_logits_ref,
                                 .bce_with_logits_backward = bce_with_logits_backward_ref,
                                 .bce_with_logits_row_sum = bce_with_logits_row_sum_ref};
  return table;
}

}  // namespace detail

const LossKernels& loss_kernels(ad::Isa isa) {
  if (!ad::isa_supported(isa))
    throw ad::Error(std::string("loss_kernels: this CPU does not support ") + ad::to_string(isa));
  switch (isa) {
    case ad::Isa::reference:
      return detail::reference_loss_kernels();
#if defined(__x86_64__)
    case ad::Isa::avx2:
      return detail::avx2_loss_kernels();
    case ad::Isa::avx512:
      return detail::avx512_loss_kernels();
#else
    case ad::Isa::avx2:
    case ad::Isa::avx512:
      break;  // never supported off x86-64: isa_supported() threw above
#endif
#if defined(__aarch64__)
    case ad::Isa::neon:
      return detail::neon_loss_kernels();
#else
    case ad::Isa::neon:
      break;  // never supported off arm64
#endif
  }
  throw ad::Error(std::string("loss_kernels: unknown ISA ") + ad::to_string(isa));
}

const LossKernels& loss_kernels() { return loss_kernels(ad::active_isa()); }

}  // namespace nn
