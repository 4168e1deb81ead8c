// NEON versions of the loss_kernels.h kernels (4 floats per register), built from the
// runtime's vector math (autodiff/runtime/simd_math_neon.h: softplus, sigmoid, the loops).
//
// Compiled only for arm64: for any other CPU this file is empty.
#if defined(__aarch64__)

#include "autodiff/runtime/simd_math_neon.h"
#include "nn/loss_kernels.h"

namespace nn::detail {
namespace {

using namespace ad::vec::neon;

// softplus(l) - l t with one rounding for the product and the difference (vfmsq).
AD_NEON_INLINE V bce_kernel(V l, V t) { return vfmsq_f32(softplus_kernel(l), l, t); }

AD_NEON_INLINE V bce_backward_kernel(V g, V l, V t) { return mul(g, sub(sigmoid_kernel(l), t)); }

AD_NEON_EXACT void bce_row_sum(const float* l, const float* t, float* out, int64_t rows,
                               int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* lr = l + r * cols;
    const float* tr = t + r * cols;
    float64x2_t low = vdupq_n_f64(0.0), high = vdupq_n_f64(0.0);
    int64_t c = 0;
    for (; c + kLanes <= cols; c += kLanes)
      accumulate(low, high, bce_kernel(vld1q_f32(lr + c), vld1q_f32(tr + c)));
    if (c < cols) {  // the padding lanes' loss, log 2, must not be added: zero them
      const int64_t left = cols - c;
      const V loss = bce_kernel(load_first(lr + c, left), load_first(tr + c, left));
      Tail kept;
      vst1q_f32(kept.lanes, loss);
      for (int64_t i = left; i < kLanes; ++i) kept.lanes[i] = 0.0f;
      accumulate(low, high, vld1q_f32(kept.lanes));
    }
    out[r] = static_cast<float>(vaddvq_f64(vaddq_f64(low, high)));
  }
}

}  // namespace

const LossKernels& neon_loss_kernels() {
  static const LossKernels table{.bce_with_logits = map2<bce_kernel>,
                                 .bce_with_logits_backward = map3<bce_backward_kernel>,
                                 .bce_with_logits_row_sum = bce_row_sum};
  return table;
}

}  // namespace nn::detail

#endif  // defined(__aarch64__)
