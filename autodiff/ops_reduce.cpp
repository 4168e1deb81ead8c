// Reductions and explicit broadcasting. A reduction sees its input as
// [outer, n, inner] around the reduced axis (kernels::axis_view) and produces
// [outer, inner]; its backward spreads the gradient back over the n positions.
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <numeric>

#include "autodiff/runtime/kernels.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"

namespace ad {

namespace {

using kernels::AxisView;

// The shape after reducing `axis`: with keepdim the axis stays with size 1.
Shape reduced_shape(const Shape& shape, int axis, bool keepdim) {
  Shape out = shape;
  if (keepdim)
    out[axis] = 1;
  else
    out.erase(out.begin() + axis);
  return out;
}

// Sums over the middle axis of an [outer, n, inner] view (accumulating in double so
// that a float sum of 100k terms keeps its digits).
Tensor sum_kernel(const Tensor& a, AxisView v, const Shape& out_shape) {
  Tensor out = Tensor::empty(out_shape, a.dtype());
  dispatch(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* x = a.data<T>();
    T* y = out.data<T>();
    if (v.inner == 1) {  // each result is the sum of one contiguous row (sum over the last axis)
      for (int64_t o = 0; o < v.outer; ++o) {
        const T* row = x + o * v.n;
        double acc = 0;
#pragma omp simd reduction(+ : acc)  // several partial sums in SIMD lanes, added at the end
        for (int64_t j = 0; j < v.n; ++j) acc += row[j];
        y[o] = static_cast<T>(acc);
      }
      return;
    }
    std::vector<double> acc(v.inner);
    for (int64_t o = 0; o < v.outer; ++o) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t j = 0; j < v.n; ++j) {
        const T* row = x + (o * v.n + j) * v.inner;
        for (int64_t i = 0; i < v.inner; ++i) acc[i] += row[i];
      }
      for (int64_t i = 0; i < v.inner; ++i) y[o * v.inner + i] = static_cast<T>(acc[i]);
    }
  });
  return out;
}

// Spreads a reduction's gradient g back over the reduced positions: g has the reduced
// shape, `kept` is the same shape with the axis kept as size 1.
Tensor spread(const Tensor& g, const Shape& kept, const Shape& input_shape) {
  return broadcast_to(reshape(g, kept), input_shape);
}

Tensor sum_impl(const Tensor& a, AxisView v, const Shape& out_shape, const Shape& kept,
                std::string attrs) {
  Tensor out = sum_kernel(a, v, out_shape);
  tape().record(
      "sum", {a}, out,
      [kept, in = a.shape()](const Tensor& g) -> Grads { return {spread(g, kept, in)}; },
      std::move(attrs));
  return out;
}

Tensor mean_impl(const Tensor& a, AxisView v, const Shape& out_shape, const Shape& kept,
                 std::string attrs) {
  if (v.n == 0) throw Error(fmt::format("mean: empty axis in shape {}", to_string(a.shape())));
  const double n = static_cast<double>(v.n);
  Tensor out;
  {
    NoGrad forward_only;
    out = sum_kernel(a, v, out_shape) / n;
  }
  tape().record(
      "mean", {a}, out,
      [kept, n, in = a.shape()](const Tensor& g) -> Grads { return {spread(g, kept, in) / n}; },
      std::move(attrs));
  return out;
}

// 1 at each slice's winning position (winner[o * inner + i] of n), 0 elsewhere: a constant.
Tensor winner_mask(AxisView v, const std::vector<int64_t>& winner, const Shape& shape,
                   DType dtype) {
  Tensor mask = Tensor::zeros(shape, dtype);
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t i = 0; i < v.inner; ++i)
      mask.set_flat((o * v.n + winner[o * v.inner + i]) * v.inner + i, 1.0);
  return mask;
}

Tensor max_impl(const Tensor& a, AxisView v, const Shape& out_shape, const Shape& kept,
               std::string attrs) {
  if (v.n == 0) throw Error(fmt::format("max: empty axis in shape {}", to_string(a.shape())));
  Tensor out = Tensor::empty(out_shape, a.dtype());
  // Remember which of the n positions won, for backward.
  auto winner = std::make_shared<std::vector<int64_t>>(v.outer * v.inner, 0);
  dispatch(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* x = a.data<T>();
    T* y = out.data<T>();
    for (int64_t o = 0; o < v.outer; ++o)
      for (int64_t i = 0; i < v.inner; ++i) {
        int64_t best = 0;
        for (int64_t j = 1; j < v.n; ++j)
          if (x[(o * v.n + j) * v.inner + i] > x[(o * v.n + best) * v.inner + i]) best = j;
        (*winner)[o * v.inner + i] = best;
        y[o * v.inner + i] = x[(o * v.n + best) * v.inner + i];
      }
  });
  tape().record(
      "max", {a}, out,
      [v, winner, kept, in = a.shape()](const Tensor& g) -> Grads {
        // The gradient flows only to the first maximal element of each slice: g spread
        // over the slice times a constant one-hot mask of the winners.
        return {spread(g, kept, in) * winner_mask(v, *winner, in, g.dtype())};
      },
      std::move(attrs));
  return out;
}

// Views for "over everything": one row of numel elements.
AxisView whole(const Tensor& a) { return AxisView{1, a.numel(), 1}; }
Shape ones_like_rank(const Tensor& a) { return Shape(a.rank(), 1); }
std::string axis_attrs(int axis, bool keepdim) {
  return fmt::format("axis={}{}", axis, keepdim ? ", keepdim" : "");
}

// sum_to onto the last axis as a plain loop: each column's terms added one after another,
// rows in order, in T, as the general walk adds them (the same bits, without its index
// arithmetic).
template <class T>
void sum_rows_in_order(const T* x, int64_t rows, int64_t cols, T* y) {
  for (int64_t r = 0; r < rows; ++r, x += cols)
    for (int64_t c = 0; c < cols; ++c) y[c] += x[c];
}

}  // namespace

Tensor sum(const Tensor& a) { return sum_impl(a, whole(a), {}, ones_like_rank(a), ""); }

Tensor sum(const Tensor& a, int axis, bool keepdim) {
  int ax = normalize_axis("sum", axis, a.rank());
  return sum_impl(a, kernels::axis_view(a.shape(), ax), reduced_shape(a.shape(), ax, keepdim),
                  reduced_shape(a.shape(), ax, true), axis_attrs(ax, keepdim));
}

Tensor mean(const Tensor& a) { return mean_impl(a, whole(a), {}, ones_like_rank(a), ""); }

Tensor mean(const Tensor& a, int axis, bool keepdim) {
  int ax = normalize_axis("mean", axis, a.rank());
  return mean_impl(a, kernels::axis_view(a.shape(), ax), reduced_shape(a.shape(), ax, keepdim),
                   reduced_shape(a.shape(), ax, true), axis_attrs(ax, keepdim));
}

Tensor max(const Tensor& a) { return max_impl(a, whole(a), {}, ones_like_rank(a), ""); }

Tensor max(const Tensor& a, int axis, bool keepdim) {
  int ax = normalize_axis("max", axis, a.rank());
  return max_impl(a, kernels::axis_view(a.shape(), ax), reduced_shape(a.shape(), ax, keepdim),
                  reduced_shape(a.shape(), ax, true), axis_attrs(ax, keepdim));
}

Tensor logsumexp(const Tensor& a, int axis, bool keepdim) {
  int ax = normalize_axis("logsumexp", axis, a.rank());
  Tensor out;
  {
    NoGrad forward_only;
    // Shift by the max so that exp never overflows: log sum e^a = m + log sum e^(a - m).
    // A non-finite max (all -inf, or an inf) is replaced by 0 so a - m stays meaningful.
    Tensor m = kernels::map(max(a, ax, true),
                            [](auto x) { return std::isfinite(x) ? x : decltype(x){0}; });
    out = m + log(sum(exp(a - m), ax, true));
    if (!keepdim) out = reshape(out, reduced_shape(a.shape(), ax, false));
  }
  Shape kept = reduced_shape(a.shape(), ax, true);
  tape().record(
      "logsumexp", {a}, out,
      [a, out, kept](const Tensor& g) -> Grads {
        // EXERCISE E01.6: the backward of logsumexp
        // d/da logsumexp(a) = softmax(a) = exp(a - logsumexp(a))
        return {reshape(g, kept) * exp(a - reshape(out, kept))};
        // END EXERCISE E01.6
      },
      axis_attrs(ax, keepdim));
  return out;
}

Tensor log_softmax(const Tensor& a, int axis) {
  int ax = normalize_axis("log_softmax", axis, a.rank());
  Tensor out;
  {
    NoGrad forward_only;
    out = a - logsumexp(a, ax, true);
  }
  tape().record(
      "log_softmax", {a}, out,
      [out, ax](const Tensor& g) -> Grads {
        // EXERCISE E01.7: the backward of log_softmax
        // Jacobian-vector product of log_softmax: g - softmax * sum(g)
        return {g - exp(out) * sum(g, ax, true)};
        // END EXERCISE E01.7
      },
      fmt::format("axis={}", ax));
  return out;
}

Tensor broadcast_to(const Tensor& a, const Shape& shape) {
  if (broadcast_shapes("broadcast_to", a.shape(), shape) != shape)
    throw Error(fmt::format("broadcast_to: cannot broadcast {} to {}", to_string(a.shape()),
                            to_string(shape)));
  if (a.shape() == shape) return a;
  Tensor out = Tensor::empty(shape, a.dtype());
  dispatch(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* x = a.data<T>();
    T* y = out.data<T>();
    kernels::for_each_broadcast(kernels::pad4(shape), kernels::broadcast_strides(a.shape(), shape),
                                kernels::broadcast_strides(shape, shape),
                                [&](int64_t o, int64_t ia, int64_t) { y[o] = x[ia]; });
  });
  tape().record(
      "broadcast_to", {a}, out,
      [in = a.shape()](const Tensor& g) -> Grads { return {sum_to(g, in)}; }, to_string(shape));
  return out;
}

Tensor sum_to(const Tensor& a, const Shape& shape) {
  if (broadcast_shapes("sum_to", shape, a.shape()) != a.shape())
    throw Error(fmt::format("sum_to: cannot reduce {} to {} ({} does not broadcast to {})",
                            to_string(a.shape()), to_string(shape), to_string(shape),
                            to_string(a.shape())));
  if (a.shape() == shape) return a;
  Tensor out = Tensor::zeros(shape, a.dtype());
  // Two common targets get a plain loop, adding the same terms in the same order: one
  // number (a scalar's gradient), and the last axis (a bias's gradient, summed over rows).
  const int64_t cols = a.rank() > 0 ? a.dim(-1) : 1;
  const bool to_one = ad::numel(shape) == 1;
  const bool to_last_axis =
      cols > 0 && !shape.empty() && shape.back() == cols && ad::numel(shape) == cols;
  dispatch(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* x = a.data<T>();
    T* y = out.data<T>();
    if (to_one) {  // std::accumulate adds in the walk's order, its running sum in a register
      *y = std::accumulate(x, x + a.numel(), T(0));
      return;
    }
    if (to_last_axis) return sum_rows_in_order(x, a.numel() / cols, cols, y);
    // Walk a's elements; each lands on the element of `out` it was broadcast from.
    kernels::for_each_broadcast(kernels::pad4(a.shape()),
                                kernels::broadcast_strides(shape, a.shape()),
                                kernels::broadcast_strides(shape, a.shape()),
                                [&](int64_t o, int64_t iy, int64_t) { y[iy] += x[o]; });
  });
  tape().record(
      "sum_to", {a}, out,
      [in = a.shape()](const Tensor& g) -> Grads { return {broadcast_to(g, in)}; },
      to_string(shape));
  return out;
}

}  // namespace ad
