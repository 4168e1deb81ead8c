// matmul and affine on top of the project's gemm. matmul's backward is itself two
// matmuls, dA = G B^T and dB = A^T G; affine keeps a second, fused form of its backward
// (gemm's transpose flags instead of transposed copies, one pass for the bias) because
// the training step measurably gains from it (docs/architecture.md).
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "autodiff/runtime/gemm.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"

namespace ad {

namespace {

// x y for two matrices [m, k] x [k, n] or two batches of them [b, m, k] x [b, k, n].
// Not recorded.
Tensor matmul_kernel(const Tensor& x, const Tensor& y) {
  const int r = x.rank();
  const int64_t batch = r == 3 ? x.dim(0) : 1;
  const int64_t m = x.dim(-2), k = x.dim(-1), n = y.dim(-1);
  Shape out_shape = r == 3 ? Shape{batch, m, n} : Shape{m, n};
  Tensor out = Tensor::empty(out_shape, x.dtype());
  dispatch(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    for (int64_t b = 0; b < batch; ++b)
      gemm<T>(false, false, m, n, k, T(1), x.data<T>() + b * m * k, k, y.data<T>() + b * k * n, n,
              T(0), out.data<T>() + b * m * n, n);
  });
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_same_dtype("matmul", a, b);
  auto shapes = [&] {
    return fmt::format("{} and {}", to_string(a.shape()), to_string(b.shape()));
  };
  if (!((a.rank() == 2 && b.rank() == 2) || (a.rank() == 3 && b.rank() == 3) ||
        (a.rank() == 3 && b.rank() == 2)))
    throw Error("matmul: expects [m,k] x [k,n], [b,m,k] x [b,k,n] or [b,m,k] x [k,n]; got " +
                shapes());
  if (a.dim(-1) != b.dim(-2))
    throw Error(fmt::format("matmul: inner dimensions differ ({} vs {}) in {}", a.dim(-1),
                            b.dim(-2), shapes()));
  if (a.rank() == 3 && b.rank() == 2) {
    // One matrix shared by a batch: fold the batch into the rows (one larger gemm).
    const int64_t batch = a.dim(0), m = a.dim(1);
    return reshape(matmul(reshape(a, {batch * m, a.dim(2)}), b), {batch, m, b.dim(1)});
  }
  if (a.rank() == 3 && a.dim(0) != b.dim(0))
    throw Error(
        fmt::format("matmul: batch sizes differ ({} vs {}) in {}", a.dim(0), b.dim(0), shapes()));
  Tensor out = matmul_kernel(a, b);
  tape().record("matmul", {a, b}, out, [a, b](const Tensor& g) -> Grads {
    // EXERCISE E01.5: the backward of matmul
    return {a.requires_grad() ? matmul(g, transpose(b)) : Tensor(),   // G B^T
            b.requires_grad() ? matmul(transpose(a), g) : Tensor()};  // A^T G
    // END EXERCISE E01.5
  });
  return out;
}

namespace {

// The column sums of a [rows, cols] matrix (the bias gradient: sum over the batch),
// accumulated in double like every reduction of the project.
Tensor column_sums(const Tensor& g, int64_t rows, int64_t cols) {
  Tensor out = Tensor::empty({cols}, g.dtype());
  dispatch(g.dtype(), [&](auto zero) {
    using T = decltype(zero);
    std::vector<double> acc(cols, 0.0);
    const T* x = g.data<T>();
    for (int64_t i = 0; i < rows; ++i) {
      const T* row = x + i * cols;
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) acc[j] += row[j];
    }
    T* y = out.data<T>();
    for (int64_t j = 0; j < cols; ++j) y[j] = static_cast<T>(acc[j]);
  });
  return out;
}

// affine's backward as recorded ops, for create_graph: dx = G W^T, dW = x^T G (with the
// batch folded into the rows), db = G's rows summed.
Grads affine_backward_recorded(const Tensor& g, const Tensor& x, const Tensor& w,
                               const Tensor& b, int64_t rows, int64_t in) {
  Tensor dx, dw, db;
  if (x.requires_grad()) dx = matmul(g, transpose(w));
  if (w.requires_grad())
    dw = matmul(transpose(reshape(x, {rows, in})), reshape(g, {rows, w.dim(1)}));
  if (b.requires_grad()) db = sum_to(g, b.shape());
  return {dx, dw, db};
}

}  // namespace

Tensor affine(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_same_dtype("affine", x, w);
  check_same_dtype("affine", x, b);
  if ((x.rank() != 2 && x.rank() != 3) || w.rank() != 2 || b.rank() != 1 ||
      x.dim(-1) != w.dim(0) || b.dim(0) != w.dim(1))
    throw Error(fmt::format("affine: expects x [N,in] or [B,N,in], W [in,out], b [out]; got {}, "
                            "{} and {}",
                            to_string(x.shape()), to_string(w.shape()), to_string(b.shape())));
  const int64_t in = w.dim(0), out_features = w.dim(1), rows = x.numel() / std::max<int64_t>(in, 1);
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
  Tensor out = Tensor::empty(out_shape, x.dtype());
  dispatch(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* y = out.data<T>();
    for (int64_t i = 0; i < rows; ++i)  // every row starts as b ...
      std::copy_n(b.data<T>(), out_features, y + i * out_features);
    // ... and gemm adds x W onto it (beta = 1).
    gemm<T>(false, false, rows, out_features, in, T(1), x.data<T>(), in, w.data<T>(),
            out_features, T(1), y, out_features);
  });
  tape().record("affine", {x, w, b}, out, [x, w, b, rows, in, out_features](const Tensor& g) -> Grads {
    if (differentiable_backward()) return affine_backward_recorded(g, x, w, b, rows, in);
    Tensor dx, dw, db;
    dispatch(g.dtype(), [&](auto zero) {
      using T = decltype(zero);
      if (x.requires_grad()) {  // dx = G W^T
        dx = Tensor::empty(x.shape(), g.dtype());
        gemm<T>(false, true, rows, in, out_features, T(1), g.data<T>(), out_features,
                w.data<T>(), out_features, T(0), dx.data<T>(), in);
      }
      if (w.requires_grad()) {  // dW = x^T G
        dw = Tensor::empty(w.shape(), g.dtype());
        gemm<T>(true, false, in, out_features, rows, T(1), x.data<T>(), in, g.data<T>(),
                out_features, T(0), dw.data<T>(), out_features);
      }
    });
    if (b.requires_grad()) db = column_sums(g, rows, out_features);  // db = sum of G's rows
    return {dx, dw, db};
  });
  return out;
}

}  // namespace ad
