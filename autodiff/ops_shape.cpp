// Shape ops: they move values around without arithmetic, so each backward moves the
// gradient back the same way (reshape <-> reshape, slice <-> pad, gather <-> scatter_add).
#include <fmt/format.h>

#include <algorithm>

#include "autodiff/runtime/kernels.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"

namespace ad {

namespace {

// Copies `rows` runs of `len` elements: src run r starts at src_off + r*src_stride.
void copy_runs(const Tensor& src, Tensor& dst, int64_t rows, int64_t len, int64_t src_off,
               int64_t src_stride, int64_t dst_off, int64_t dst_stride, bool accumulate = false) {
  dispatch(src.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* s = src.data<T>();
    T* d = dst.data<T>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < len; ++i) {
        T v = s[src_off + r * src_stride + i];
        T& out = d[dst_off + r * dst_stride + i];
        out = accumulate ? out + v : v;
      }
  });
}

// The backward of slice: g placed at [start, start + len) of a zero tensor of `shape`,
// written as g between two blocks of zeros (concat, whose backward slices again).
Tensor pad_slice(const Tensor& g, const Shape& shape, int axis, int64_t start) {
  std::vector<Tensor> parts;
  Shape zeros_shape = shape;
  zeros_shape[axis] = start;
  if (start > 0) parts.push_back(Tensor::zeros(zeros_shape, g.dtype()));
  parts.push_back(g);
  zeros_shape[axis] = shape[axis] - start - g.dim(axis);
  if (zeros_shape[axis] > 0) parts.push_back(Tensor::zeros(zeros_shape, g.dtype()));
  return concat(parts, axis);
}

// y = x^T for each of `count` row-major rows x cols matrices (y's are cols x rows), in tiles
// of 8 rows by 32 columns: the tile's 8 source rows stay in L1 while its columns are written
// out, 8 neighbouring values each, where a walk down whole columns misses the cache on every
// element of a matrix larger than L1 (the weights' transposes in matmul's backward). Taller
// tiles measured slower on the 784 x 256 weights: rows 1 KB apart fall into a few L1 sets
// and evict each other.
template <class T>
void transpose_matrices(const T* x, int64_t count, int64_t rows, int64_t cols, T* y) {
  constexpr int64_t tile_rows = 8, tile_cols = 32;
  for (int64_t m = 0; m < count; ++m, x += rows * cols, y += rows * cols)
    for (int64_t r0 = 0; r0 < rows; r0 += tile_rows)
      for (int64_t c0 = 0; c0 < cols; c0 += tile_cols) {
        const int64_t r1 = std::min(rows, r0 + tile_rows), c1 = std::min(cols, c0 + tile_cols);
        for (int64_t c = c0; c < c1; ++c)
          for (int64_t r = r0; r < r1; ++r) y[c * rows + r] = x[r * cols + c];
      }
}

}  // namespace

Tensor reshape(const Tensor& a, const Shape& shape) {
  Shape target = shape;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1) {
      if (infer >= 0) throw Error(fmt::format("reshape: more than one -1 in {}", to_string(shape)));
      infer = static_cast<int>(i);
    } else {
      known *= target[i];
    }
  }
  if (infer >= 0 && known > 0 && a.numel() % known == 0) target[infer] = a.numel() / known;
  if (ad::numel(target) != a.numel() || (infer >= 0 && target[infer] < 0))
    throw Error(fmt::format("reshape: cannot view {} ({} elements) as {}", to_string(a.shape()),
                            a.numel(), to_string(shape)));
  if (target.size() > kMaxRank)
    throw Error(
        fmt::format("reshape: {} has more than {} dimensions", to_string(target), kMaxRank));
  Tensor out = kernels::view(a, target);  // the same numbers, read with another shape
  tape().record(
      "reshape", {a}, out, [in = a.shape()](const Tensor& g) -> Grads { return {reshape(g, in)}; },
      to_string(target));
  return out;
}

Tensor transpose(const Tensor& a, int axis0, int axis1) {
  const int r = a.rank();
  int x0 = normalize_axis("transpose", axis0, r), x1 = normalize_axis("transpose", axis1, r);
  Shape out_shape = a.shape();
  std::swap(out_shape[x0], out_shape[x1]);
  // Output axis k reads input axis perm[k]: walk the output in order and gather.
  kernels::Dims4 in_strides = kernels::broadcast_strides(a.shape(), a.shape());
  const int pad = 4 - r;
  std::swap(in_strides[pad + x0], in_strides[pad + x1]);
  Tensor out = Tensor::empty(out_shape, a.dtype());
  // The last two axes swapped (a matrix, or a batch of them): copied tile by tile.
  const bool last_two = r >= 2 && std::min(x0, x1) == r - 2 && std::max(x0, x1) == r - 1;
  dispatch(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* x = a.data<T>();
    T* y = out.data<T>();
    if (last_two) {
      const int64_t rows = a.dim(-2), cols = a.dim(-1);
      return transpose_matrices(x, rows * cols == 0 ? 0 : a.numel() / (rows * cols), rows, cols,
                                y);
    }
    kernels::for_each_broadcast(kernels::pad4(out_shape), in_strides, in_strides,
                                [&](int64_t o, int64_t ia, int64_t) { y[o] = x[ia]; });
  });
  tape().record(
      "transpose", {a}, out, [x0, x1](const Tensor& g) -> Grads { return {transpose(g, x0, x1)}; },
      fmt::format("{}, {}", x0, x1));
  return out;
}

Tensor concat(const std::vector<Tensor>& tensors, int axis) {
  if (tensors.empty()) throw Error("concat: no tensors given");
  const Tensor& first = tensors[0];
  const int ax = normalize_axis("concat", axis, first.rank());
  Shape out_shape = first.shape();
  out_shape[ax] = 0;
  for (const Tensor& t : tensors) {
    check_same_dtype("concat", first, t);
    Shape a = first.shape(), b = t.shape();
    if (a.size() == b.size()) a[ax] = b[ax];
    if (a != b)
      throw Error(fmt::format("concat: shapes {} and {} differ outside axis {}",
                              to_string(first.shape()), to_string(t.shape()), ax));
    out_shape[ax] += t.dim(ax);
  }
  Tensor out = Tensor::empty(out_shape, first.dtype());
  auto v = kernels::axis_view(out_shape, ax);
  int64_t offset = 0;  // along the axis
  for (const Tensor& t : tensors) {
    const int64_t len = t.dim(ax);
    copy_runs(t, out, v.outer, len * v.inner, 0, len * v.inner, offset * v.inner, v.n * v.inner);
    offset += len;
  }
  tape().record(
      "concat", tensors, out,
      [tensors, ax](const Tensor& g) -> Grads {
        Grads grads;
        int64_t start = 0;
        for (const Tensor& t : tensors) {
          grads.push_back(slice(g, ax, start, start + t.dim(ax)));
          start += t.dim(ax);
        }
        return grads;
      },
      fmt::format("axis={}", ax));
  return out;
}

Tensor slice(const Tensor& a, int axis, int64_t start, int64_t end) {
  const int ax = normalize_axis("slice", axis, a.rank());
  const int64_t n = a.dim(ax);
  if (start < 0 || end > n || start > end)
    throw Error(fmt::format("slice: [{}, {}) is out of range for axis {} of size {} in shape {}",
                            start, end, ax, n, to_string(a.shape())));
  Shape out_shape = a.shape();
  out_shape[ax] = end - start;
  Tensor out = Tensor::empty(out_shape, a.dtype());
  auto v = kernels::axis_view(a.shape(), ax);
  const int64_t len = end - start;
  copy_runs(a, out, v.outer, len * v.inner, start * v.inner, v.n * v.inner, 0, len * v.inner);
  tape().record(
      "slice", {a}, out,
      [in = a.shape(), ax, start](const Tensor& g) -> Grads {
        return {pad_slice(g, in, ax, start)};
      },
      fmt::format("axis={}, {}:{}", ax, start, end));
  return out;
}

Tensor gather(const Tensor& a, int axis, const std::vector<int64_t>& index) {
  const int ax = normalize_axis("gather", axis, a.rank());
  const int64_t n = a.dim(ax);
  for (int64_t i : index)
    if (i < 0 || i >= n)
      throw Error(fmt::format("gather: index {} is out of range for axis {} of size {} in shape {}",
                              i, ax, n, to_string(a.shape())));
  Shape out_shape = a.shape();
  out_shape[ax] = static_cast<int64_t>(index.size());
  Tensor out = Tensor::empty(out_shape, a.dtype());
  auto v = kernels::axis_view(a.shape(), ax);
  const int64_t m = out_shape[ax];
  for (int64_t k = 0; k < m; ++k)  // output slot k <- input slot index[k]
    copy_runs(a, out, v.outer, v.inner, index[k] * v.inner, n * v.inner, k * v.inner, m * v.inner);
  tape().record(
      "gather", {a}, out,
      [n, ax, index](const Tensor& g) -> Grads { return {scatter_add(g, ax, index, n)}; },
      fmt::format("axis={}, {} indices", ax, index.size()));
  return out;
}

Tensor scatter_add(const Tensor& src, int axis, const std::vector<int64_t>& index, int64_t size) {
  const int ax = normalize_axis("scatter_add", axis, src.rank());
  const int64_t m = static_cast<int64_t>(index.size());
  if (src.dim(ax) != m)
    throw Error(fmt::format("scatter_add: {} indices for axis {} of size {} in shape {}", m, ax,
                            src.dim(ax), to_string(src.shape())));
  for (int64_t i : index)
    if (i < 0 || i >= size)
      throw Error(fmt::format("scatter_add: index {} is out of range for a target axis of size {}",
                              i, size));
  Shape out_shape = src.shape();
  out_shape[ax] = size;
  Tensor out = Tensor::zeros(out_shape, src.dtype());
  auto v = kernels::axis_view(out_shape, ax);
  for (int64_t k = 0; k < m; ++k)  // input slot k -> output slot index[k], added
    copy_runs(src, out, v.outer, v.inner, k * v.inner, m * v.inner, index[k] * v.inner,
              size * v.inner, /*accumulate=*/true);
  tape().record(
      "scatter_add", {src}, out,
      [ax, index](const Tensor& g) -> Grads { return {gather(g, ax, index)}; },
      fmt::format("axis={}, {} indices, size={}", ax, index.size(), size));
  return out;
}

}  // namespace ad
