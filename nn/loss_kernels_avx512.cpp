// AVX-512 versions of the loss_kernels.h kernels (16 floats per register), built from the
// runtime's vector math (autodiff/runtime/simd_math_avx512.h: softplus, sigmoid, the loops).
//
// Compiled only for x86-64: for any other CPU this file is empty.
#if defined(__x86_64__)

#include "autodiff/runtime/simd_math_avx512.h"
#include "nn/loss_kernels.h"

namespace nn::detail {
namespace {

using namespace ad::vec::avx512;

// softplus(l) - l t with one rounding for the product and the difference.
AD_AVX512_INLINE V bce_kernel(V l, V t) { return _mm512_fnmadd_ps(l, t, softplus_kernel(l)); }

AD_AVX512_INLINE V bce_backward_kernel(V g, V l, V t) { return mul(g, sub(sigmoid_kernel(l), t)); }

AD_AVX512 void bce_row_sum(const float* l, const float* t, float* out, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* lr = l + r * cols;
    const float* tr = t + r * cols;
    __m512d low = _mm512_setzero_pd(), high = _mm512_setzero_pd();
    int64_t c = 0;
    for (; c + kLanes <= cols; c += kLanes)
      accumulate(low, high, bce_kernel(_mm512_loadu_ps(lr + c), _mm512_loadu_ps(tr + c)));
    if (c < cols) {  // the masked-off lanes' loss, log 2, must not be added: zero them
      const Mask m = first_lanes(cols - c);
      const V loss = bce_kernel(_mm512_maskz_loadu_ps(m, lr + c), _mm512_maskz_loadu_ps(m, tr + c));
      accumulate(low, high, _mm512_maskz_mov_ps(m, loss));
    }
    out[r] = static_cast<float>(sum_lanes(_mm512_add_pd(low, high)));
  }
}

}  // namespace

const LossKernels& avx512_loss_kernels() {
  static const LossKernels table{.bce_with_logits = map2<bce_kernel>,
                                 .bce_with_logits_backward = map3<bce_backward_kernel>,
                                 .bce_with_logits_row_sum = bce_row_sum};
  return table;
}

}  // namespace nn::detail

#endif  // defined(__x86_64__)
