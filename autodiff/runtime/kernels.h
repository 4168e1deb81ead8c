// Internal loops shared by the ops: elementwise maps and broadcast iteration.
// Not part of the public API (they record nothing on the tape).
#pragma once
#include <algorithm>
#include <array>
#include <memory>

#include "autodiff/runtime/parallel.h"
#include "autodiff/tensor.h"
#include "autodiff/runtime/vecmath.h"

namespace ad::kernels {

// A new node with `shape` over the same storage as `a` (same element count): what
// reshape returns. Not recorded; reshape records it.
inline Tensor view(const Tensor& a, const Shape& shape) {
  auto node = std::make_shared<Node>();
  node->shape = shape;
  node->storage = a.node()->storage;
  return Tensor(std::move(node));
}

// out[i] = f(a[i]): same shape and dtype as a.
template <class F>
Tensor map(const Tensor& a, F f) {
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  dispatch(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* x = a.data<T>();
    T* y = out.data<T>();
    for (int64_t i = 0, n = a.numel(); i < n; ++i) y[i] = f(x[i]);
  });
  return out;
}

// Calls body(begin, count) on consecutive chunks that cover [0, n), split between the
// threads (parallel.h) when each thread gets at least min_chunk elements, enough to pay
// for the hand-over: two cores each streaming half a tensor move it about twice as fast,
// and a transcendental kernel (the cross-entropy's softplus) halves its time too. Each
// element is computed by the same code either way, so the results do not depend on the
// number of threads. Chunks start on a multiple of 16 elements (a 64-byte cache line of
// floats), so no two threads write one line.
template <class F>
void in_chunks(int64_t n, F body) {
  constexpr int64_t min_chunk = int64_t{1} << 14;  // 64 KB of floats, ~10 us of streaming
  const int64_t parts = std::min<int64_t>(max_threads(), n / min_chunk);
  if (parts <= 1) return body(int64_t{0}, n);
  parallel_for(static_cast<int>(parts), [&](int part) {
    const int64_t begin = n * part / parts / 16 * 16;
    const int64_t end = part + 1 == parts ? n : n * (part + 1) / parts / 16 * 16;
    body(begin, end - begin);
  });
}

// out[i] = f(a[i]) through a float32 kernel for float32 (a vecmath.h kernel of the active
// ISA: AVX-512, AVX2, NEON, or its plain reference loop under AD_REFERENCE=1), through the
// scalar form f for float64.
//   map_fast(a, vec::kernels().exp, [](auto x) { return std::exp(x); })
using VecUnary = void (*)(const float*, float*, int64_t);
template <class F>
Tensor map_fast(const Tensor& a, VecUnary fast, F f) {
  if (a.dtype() != f32) return map(a, f);
  Tensor out = Tensor::empty(a.shape(), f32);
  const float* x = a.data<float>();
  float* y = out.data<float>();
  in_chunks(a.numel(), [&](int64_t begin, int64_t count) { fast(x + begin, y + begin, count); });
  return out;
}

// The same for a formula of two tensors out[i] = f(g[i], x[i]) (a backward formula, or a
// loss of logits and targets).
using VecBinary = void (*)(const float*, const float*, float*, int64_t);
template <class F>
Tensor zip_fast(const Tensor& g, const Tensor& x, VecBinary fast, F f);

// out[i] = f(a[i], b[i]) for two tensors of one shape (backward formulas).
template <class F>
Tensor zip(const Tensor& a, const Tensor& b, F f) {
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  dispatch(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* x = a.data<T>();
    const T* y = b.data<T>();
    T* z = out.data<T>();
    for (int64_t i = 0, n = a.numel(); i < n; ++i) z[i] = f(x[i], y[i]);
  });
  return out;
}

template <class F>
Tensor zip_fast(const Tensor& g, const Tensor& x, VecBinary fast, F f) {
  if (g.dtype() != f32) return zip(g, x, f);
  Tensor out = Tensor::empty(g.shape(), f32);
  const float* gd = g.data<float>();
  const float* xd = x.data<float>();
  float* dx = out.data<float>();
  in_chunks(g.numel(), [&](int64_t begin, int64_t count) {
    fast(gd + begin, xd + begin, dx + begin, count);
  });
  return out;
}

// A shape padded on the left to 4 dimensions, and the strides with which a tensor of
// shape `in` is read when broadcast to `out` (stride 0 along a stretched axis).
using Dims4 = std::array<int64_t, 4>;
Dims4 pad4(const Shape& shape);
Dims4 broadcast_strides(const Shape& in, const Shape& out);

// Visits every element of a 4-D padded shape in row-major order, calling
// f(flat_index, offset_in_a, offset_in_b) with the two inputs' broadcast offsets.
template <class F>
void for_each_broadcast(const Dims4& size, const Dims4& sa, const Dims4& sb, F f) {
  int64_t o = 0;
  for (int64_t i0 = 0; i0 < size[0]; ++i0)
    for (int64_t i1 = 0; i1 < size[1]; ++i1)
      for (int64_t i2 = 0; i2 < size[2]; ++i2) {
        int64_t a = i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
        int64_t b = i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
        for (int64_t i3 = 0; i3 < size[3]; ++i3) f(o++, a + i3 * sa[3], b + i3 * sb[3]);
      }
}

// A tensor seen as [outer, n, inner] around one axis: how reductions, concat, slice
// and gather walk memory.
struct AxisView {
  int64_t outer = 1, n = 1, inner = 1;
};
AxisView axis_view(const Shape& shape, int axis);

}  // namespace ad::kernels
