// The reference kernels of vecmath.h (plain loops over the project's scalar forms), the
// choice of table by ISA, and ulp_distance.
#include "autodiff/runtime/vecmath.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "autodiff/shape.h"
#include "autodiff/stable_math.h"

namespace ad::vec {

namespace {

// Each reference kernel is one loop over the scalar formula the ops use today, written
// the same way (same operations in the same order), so AD_REFERENCE=1 reproduces them.

void exp_ref(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}

void log_ref(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::log(x[i]);
}

void log1p_ref(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::log1p(x[i]);
}

void sigmoid_ref(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = stable::sigmoid(x[i]);
}

void softplus_ref(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = stable::softplus(x[i]);
}

void log_sigmoid_ref(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = stable::log_sigmoid(x[i]);
}

void tanh_ref(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}

void relu_ref(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0 ? x[i] : 0 * x[i];
}

void relu_backward_ref(const float* g, const float* x, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > 0 ? g[i] : 0.0f;
}


}  // namespace

namespace detail {

const Kernels& reference_kernels() {
  static const Kernels table{.exp = exp_ref,
                             .log = log_ref,
                             .log1p = log1p_ref,
                             .sigmoid = sigmoid_ref,
                             .softplus = softplus_ref,
                             .log_sigmoid = log_sigmoid_ref,
                             .tanh = tanh_ref,
                             .relu = relu_ref,
                             .relu_backward = relu_backward_ref};
  return table;
}

}  // namespace detail

const Kernels& kernels(Isa isa) {
  if (!isa_supported(isa))
    throw Error(std::string("vec::kernels: this CPU does not support ") + to_string(isa));
  switch (isa) {
    case Isa::reference:
      return detail::reference_kernels();
#if defined(__x86_64__)
    case Isa::avx2:
      return detail::avx2_kernels();
    case Isa::avx512:
      return detail::avx512_kernels();
#else
    case Isa::avx2:
    case Isa::avx512:
      break;  // never supported: the x86 files are empty on other CPUs
#endif
#if defined(__aarch64__)
    case Isa::neon:
      return detail::neon_kernels();
#else
    case Isa::neon:
      break;  // never supported: vecmath_neon.cpp is empty on other CPUs
#endif
  }
  throw Error(std::string("vec::kernels: unknown ISA ") + to_string(isa));
}

const Kernels& kernels() { return kernels(active_isa()); }

namespace {

// Maps a float's bits to an integer that orders like the floats themselves: positive
// floats keep their bits (their order as integers is their order as numbers, denormals
// and inf included); negative ones are mirrored below zero, so -0 and +0 both map to 0.
int64_t ordered(float x) {
  int32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const int64_t magnitude = bits & 0x7fffffff;
  return bits < 0 ? -magnitude : magnitude;
}

}  // namespace

int64_t ulp_distance(float a, float b) {
  if (std::isnan(a) || std::isnan(b))
    return std::isnan(a) && std::isnan(b) ? 0 : std::numeric_limits<int64_t>::max();
  const int64_t d = ordered(a) - ordered(b);
  return d < 0 ? -d : d;
}

}  // namespace ad::vec
