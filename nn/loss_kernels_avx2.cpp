// AVX2 versions of the loss_kernels.h kernels (8 floats per register), built from the
// runtime's vector math (autodiff/runtime/simd_math_avx2.h: softplus, sigmoid, the loops).
//
// Compiled only for x86-64: for any other CPU this file is empty.
#if defined(__x86_64__)

#include "autodiff/runtime/simd_math_avx2.h"
#include "nn/loss_kernels.h"

namespace nn::detail {
namespace {

using namespace ad::vec::avx2;

AD_AVX2_INLINE V bce_kernel(V l, V t) { return _mm256_fnmadd_ps(l, t, softplus_kernel(l)); }

AD_AVX2_INLINE V bce_backward_kernel(V g, V l, V t) { return mul(g, sub(sigmoid_kernel(l), t)); }

AD_AVX2 void bce_row_sum(const float* l, const float* t, float* out, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* lr = l + r * cols;
    const float* tr = t + r * cols;
    __m256d low = _mm256_setzero_pd(), high = _mm256_setzero_pd();
    int64_t c = 0;
    for (; c + kLanes <= cols; c += kLanes)
      accumulate(low, high, bce_kernel(_mm256_loadu_ps(lr + c), _mm256_loadu_ps(tr + c)));
    if (c < cols) {  // the masked-off lanes' loss, log 2, must not be added: zero them
      const __m256i m = first_lanes(cols - c);
      const V loss = bce_kernel(load(lr + c, m), load(tr + c, m));
      accumulate(low, high, _mm256_and_ps(_mm256_castsi256_ps(m), loss));
    }
    out[r] = static_cast<float>(sum_lanes(_mm256_add_pd(low, high)));
  }
}

}  // namespace

const LossKernels& avx2_loss_kernels() {
  static const LossKernels table{.bce_with_logits = map2<bce_kernel>,
                                 .bce_with_logits_backward = map3<bce_backward_kernel>,
                                 .bce_with_logits_row_sum = bce_row_sum};
  return table;
}

}  // namespace nn::detail

#endif  // defined(__x86_64__)
