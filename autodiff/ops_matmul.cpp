// matmul on top of the project's gemm. Forward computes A B; backward computes
// dA = G B^T and dB = A^T G with gemm's transpose flags, so nothing is copied.
#include <fmt/format.h>

#include "autodiff/gemm.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"

namespace ad {

namespace {

// op(x) op(y) for two matrices [r, c] or two batches of them [b, r, c]
// (op = transpose when the flag is set). Not recorded.
Tensor matmul_kernel(const Tensor& x, bool tx, const Tensor& y, bool ty) {
  const int r = x.rank();
  const int64_t batch = r == 3 ? x.dim(0) : 1;
  const int64_t xr = x.dim(-2), xc = x.dim(-1), yr = y.dim(-2), yc = y.dim(-1);
  const int64_t m = tx ? xc : xr, k = tx ? xr : xc, n = ty ? yr : yc;
  Shape out_shape = r == 3 ? Shape{batch, m, n} : Shape{m, n};
  Tensor out = Tensor::zeros(out_shape, x.dtype());
  dispatch(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    for (int64_t b = 0; b < batch; ++b)
      gemm<T>(tx, ty, m, n, k, T(1), x.data<T>() + b * xr * xc, xc, y.data<T>() + b * yr * yc, yc,
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
  Tensor out = matmul_kernel(a, false, b, false);
  tape().record("matmul", {a, b}, out, [a, b](const Tensor& g) -> Grads {
    Tensor da = a.requires_grad() ? matmul_kernel(g, false, b, true) : Tensor();  // G B^T
    Tensor db = b.requires_grad() ? matmul_kernel(a, true, g, false) : Tensor();  // A^T G
    return {da, db};
  });
  return out;
}

}  // namespace ad
