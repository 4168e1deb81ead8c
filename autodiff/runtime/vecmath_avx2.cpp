// AVX2 versions of the vecmath.h kernels (8 floats per register): the table of
// the functions of simd_math_avx2.h, where their math is, plus relu and its backward.
//
// Compiled only for x86-64: for any other CPU this file is empty.
#if defined(__x86_64__)

#include "autodiff/runtime/simd_math_avx2.h"
#include "autodiff/runtime/vecmath.h"

namespace ad::vec::detail {
namespace {

using namespace ad::vec::avx2;

AD_AVX2_INLINE V relu_kernel(V x) { return select(greater(x, zero()), x, mul(zero(), x)); }

AD_AVX2_INLINE V relu_backward_kernel(V g, V x) { return _mm256_and_ps(greater(x, zero()), g); }

}  // namespace

const Kernels& avx2_kernels() {
  static const Kernels table{.exp = map<exp_core>,
                             .log = map<log_kernel>,
                             .log1p = map<log1p_kernel>,
                             .sigmoid = map<sigmoid_kernel>,
                             .softplus = map<softplus_kernel>,
                             .log_sigmoid = map<log_sigmoid_kernel>,
                             .tanh = map<tanh_kernel>,
                             .relu = map<relu_kernel>,
                             .relu_backward = map2<relu_backward_kernel>};
  return table;
}

}  // namespace ad::vec::detail

#endif  // defined(__x86_64__)
