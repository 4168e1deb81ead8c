// NEON versions of the vecmath.h kernels (4 floats per register): the table of
// the functions of simd_math_neon.h, where their math is, plus relu and its backward.
//
// Compiled only for arm64: for any other CPU this file is empty.
#if defined(__aarch64__)

#include "autodiff/runtime/simd_math_neon.h"
#include "autodiff/runtime/vecmath.h"

namespace ad::vec::detail {
namespace {

using namespace ad::vec::neon;

AD_NEON_INLINE V relu_kernel(V x) { return select(greater(x, zero()), x, mul(zero(), x)); }

AD_NEON_INLINE V relu_backward_kernel(V g, V x) { return select(greater(x, zero()), g, zero()); }

}  // namespace

const Kernels& neon_kernels() {
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

#endif  // defined(__aarch64__)
