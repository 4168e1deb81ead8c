// Elementwise ops: each forward, then the backward it records, side by side.
// Every backward is the derivative's formula written with ops, so under create_graph it
// is itself recorded and can be differentiated again. Only relu keeps a second, fused
// form (one vecmath pass instead of a mask and a product), used when nothing needs to be
// recorded; docs/architecture.md says what it gains on the training step.
#include <fmt/format.h>

#include <cmath>

#include "autodiff/runtime/kernels.h"
#include "autodiff/ops.h"
#include "autodiff/stable_math.h"
#include "autodiff/tape.h"

namespace ad {

namespace {

// out = f(a, b) with NumPy broadcasting.
template <class F>
Tensor broadcast_binary(const char* op, const Tensor& a, const Tensor& b, F f) {
  check_same_dtype(op, a, b);
  Shape shape = broadcast_shapes(op, a.shape(), b.shape());
  Tensor out = Tensor::empty(shape, a.dtype());
  dispatch(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* x = a.data<T>();
    const T* y = b.data<T>();
    T* z = out.data<T>();
    const int64_t n = out.numel();
    if (a.shape() == b.shape()) {  // the common case: a flat loop the compiler vectorises
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) z[i] = f(x[i], y[i]);
      return;
    }
    if (b.numel() == 1 && a.numel() == n) {  // a tensor and a number (x * 0.5): flat too
      const T y0 = y[0];
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) z[i] = f(x[i], y0);
      return;
    }
    if (a.numel() == 1 && b.numel() == n) {
      const T x0 = x[0];
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) z[i] = f(x0, y[i]);
      return;
    }
    kernels::for_each_broadcast(kernels::pad4(shape), kernels::broadcast_strides(a.shape(), shape),
                                kernels::broadcast_strides(b.shape(), shape),
                                [&](int64_t o, int64_t ia, int64_t ib) { z[o] = f(x[ia], y[ib]); });
  });
  return out;
}

// f(a) as a constant: a tensor off the tape, for the piecewise-constant factors of a
// backward (a sign, a mask), whose own derivative is zero.
template <class F>
Tensor constant_map(const Tensor& a, F f) {
  return kernels::map(a, [f](auto x) { return static_cast<decltype(x)>(f(x)); });
}
const auto sign = [](auto x) { return x > 0 ? 1 : x < 0 ? -1 : 0; };
const auto step = [](auto x) { return x > 0 ? 1 : 0; };

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = broadcast_binary("add", a, b, [](auto x, auto y) { return x + y; });
  tape().record("add", {a, b}, out, [as = a.shape(), bs = b.shape()](const Tensor& g) -> Grads {
    // EXERCISE E01.1: the backward of add and mul, with broadcasting (sum_to)
    return {sum_to(g, as), sum_to(g, bs)};
    // END EXERCISE E01.1
  });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = broadcast_binary("sub", a, b, [](auto x, auto y) { return x - y; });
  tape().record("sub", {a, b}, out, [as = a.shape(), bs = b.shape()](const Tensor& g) -> Grads {
    return {sum_to(g, as), sum_to(-g, bs)};
  });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = broadcast_binary("mul", a, b, [](auto x, auto y) { return x * y; });
  tape().record("mul", {a, b}, out, [a, b](const Tensor& g) -> Grads {
    // EXERCISE E01.1: the backward of add and mul, with broadcasting (sum_to)
    return {sum_to(g * b, a.shape()), sum_to(g * a, b.shape())};  // d(ab)/da = b, d(ab)/db = a
    // END EXERCISE E01.1
  });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = broadcast_binary("div", a, b, [](auto x, auto y) { return x / y; });
  tape().record("div", {a, b}, out, [a, b, out](const Tensor& g) -> Grads {
    // d(a/b)/da = 1/b;  d(a/b)/db = -a/b^2 = -out/b
    return {sum_to(g / b, a.shape()), sum_to(-g * out / b, b.shape())};
  });
  return out;
}

Tensor neg(const Tensor& a) {
  Tensor out = kernels::map(a, [](auto x) { return -x; });
  tape().record("neg", {a}, out, [](const Tensor& g) -> Grads { return {-g}; });
  return out;
}

Tensor pow(const Tensor& a, double p) {
  Tensor out = kernels::map(a, [p](auto x) { return std::pow(x, static_cast<decltype(x)>(p)); });
  tape().record(
      "pow", {a}, out,
      [a, p](const Tensor& g) -> Grads { return {g * p * pow(a, p - 1)}; },  // p a^(p-1)
      fmt::format("{:g}", p));
  return out;
}

Tensor exp(const Tensor& a) {
  Tensor out = kernels::map_fast(a, vec::kernels().exp, [](auto x) { return std::exp(x); });
  tape().record("exp", {a}, out, [out](const Tensor& g) -> Grads {
    // EXERCISE E01.2: the backward of exp and log
    return {g * out};  // d e^a / da = e^a, the output itself
    // END EXERCISE E01.2
  });
  return out;
}

Tensor log(const Tensor& a) {
  Tensor out = kernels::map_fast(a, vec::kernels().log, [](auto x) { return std::log(x); });
  tape().record("log", {a}, out, [a](const Tensor& g) -> Grads {
    // EXERCISE E01.2: the backward of exp and log
    return {g / a};  // d log a / da = 1 / a
    // END EXERCISE E01.2
  });
  return out;
}

Tensor sqrt(const Tensor& a) {
  Tensor out = kernels::map(a, [](auto x) { return std::sqrt(x); });
  tape().record("sqrt", {a}, out, [out](const Tensor& g) -> Grads {
    return {g / (out * 2.0)};  // d sqrt(a)/da = 1 / (2 sqrt(a))
  });
  return out;
}

Tensor abs(const Tensor& a) {
  Tensor out = kernels::map(a, [](auto x) { return std::abs(x); });
  tape().record("abs", {a}, out, [a](const Tensor& g) -> Grads {
    // sign(a); at exactly 0 we take the subgradient 0.
    return {g * constant_map(a, sign)};
  });
  return out;
}

Tensor relu(const Tensor& a) {
  Tensor out = kernels::map_fast(a, vec::kernels().relu, [](auto x) { return x > 0 ? x : 0 * x; });
  tape().record("relu", {a}, out, [a](const Tensor& g) -> Grads {
    // EXERCISE E01.4: the backward of relu
    if (differentiable_backward()) return {g * constant_map(a, step)};  // 1 where a > 0
    // Fused: the same numbers in one pass, without the mask tensor.
    return {kernels::zip_fast(g, a, vec::kernels().relu_backward,
                              [](auto gi, auto x) { return x > 0 ? gi : decltype(gi){0}; })};
    // END EXERCISE E01.4
  });
  return out;
}

Tensor sigmoid(const Tensor& a) {
  Tensor out =
      kernels::map_fast(a, vec::kernels().sigmoid, [](auto x) { return stable::sigmoid(x); });
  tape().record("sigmoid", {a}, out, [out](const Tensor& g) -> Grads {
    // EXERCISE E01.3: the backward of tanh and sigmoid
    return {g * out * (1.0 - out)};  // s (1 - s)
    // END EXERCISE E01.3
  });
  return out;
}

// excerpt: tanh_forward_and_backward
Tensor tanh(const Tensor& a) {
  Tensor out = kernels::map_fast(a, vec::kernels().tanh, [](auto x) { return std::tanh(x); });
  tape().record("tanh", {a}, out, [out](const Tensor& g) -> Grads {
    // EXERCISE E01.3: the backward of tanh and sigmoid
    return {g * (1.0 - out * out)};  // 1 - tanh^2
    // END EXERCISE E01.3
  });
  return out;
}
// end excerpt: tanh_forward_and_backward

Tensor sin(const Tensor& a) {
  Tensor out = kernels::map(a, [](auto x) { return std::sin(x); });
  tape().record("sin", {a}, out, [a](const Tensor& g) -> Grads {
    return {g * cos(a)};
  });
  return out;
}

Tensor cos(const Tensor& a) {
  Tensor out = kernels::map(a, [](auto x) { return std::cos(x); });
  tape().record("cos", {a}, out, [a](const Tensor& g) -> Grads {
    return {-g * sin(a)};
  });
  return out;
}

Tensor softplus(const Tensor& a) {
  Tensor out =
      kernels::map_fast(a, vec::kernels().softplus, [](auto x) { return stable::softplus(x); });
  tape().record("softplus", {a}, out, [a](const Tensor& g) -> Grads {
    return {g * sigmoid(a)};  // d softplus(x)/dx = sigmoid(x)
  });
  return out;
}

Tensor log_sigmoid(const Tensor& a) {
  Tensor out = kernels::map_fast(a, vec::kernels().log_sigmoid,
                                 [](auto x) { return stable::log_sigmoid(x); });
  tape().record("log_sigmoid", {a}, out, [a](const Tensor& g) -> Grads {
    return {g * sigmoid(-a)};  // d log sigmoid(x)/dx = 1 - sigmoid(x) = sigmoid(-x)
  });
  return out;
}

Tensor clamp(const Tensor& a, double lo, double hi) {
  if (lo > hi) throw Error(fmt::format("clamp: lo = {} is greater than hi = {}", lo, hi));
  Tensor out = kernels::map(a, [lo, hi](auto x) {
    using T = decltype(x);
    return std::clamp(x, static_cast<T>(lo), static_cast<T>(hi));
  });
  tape().record(
      "clamp", {a}, out,
      [a, lo, hi](const Tensor& g) -> Grads {
        // flat (zero slope) where clamped
        return {g * constant_map(a, [lo, hi](auto x) { return x >= lo && x <= hi ? 1 : 0; })};
      },
      fmt::format("lo={:g}, hi={:g}", lo, hi));
  return out;
}

Tensor Tensor::to(DType target) const {
  if (dtype() == target) return *this;
  Tensor out = Tensor::empty(shape(), target);
  for (int64_t i = 0; i < numel(); ++i) out.set_flat(i, flat(i));
  DType source = dtype();
  tape().record(
      "to", {*this}, out, [source](const Tensor& g) -> Grads { return {g.to(source)}; },
      to_string(target));
  return out;
}

// ---- operators ----
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, double b) { return add(a, Tensor::scalar(b, a.dtype())); }
Tensor operator-(const Tensor& a, double b) { return sub(a, Tensor::scalar(b, a.dtype())); }
Tensor operator*(const Tensor& a, double b) { return mul(a, Tensor::scalar(b, a.dtype())); }
Tensor operator/(const Tensor& a, double b) { return div(a, Tensor::scalar(b, a.dtype())); }
Tensor operator+(double a, const Tensor& b) { return add(Tensor::scalar(a, b.dtype()), b); }
Tensor operator-(double a, const Tensor& b) { return sub(Tensor::scalar(a, b.dtype()), b); }
Tensor operator*(double a, const Tensor& b) { return mul(Tensor::scalar(a, b.dtype()), b); }
Tensor operator/(double a, const Tensor& b) { return div(Tensor::scalar(a, b.dtype()), b); }

}  // namespace ad
