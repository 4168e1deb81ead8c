// unfold and fold_add (nn/conv_fast.h): the patch matrix of one image and its adjoint,
// with no test per element. Their plain definitions are nn::im2col and nn::col2im
// (nn/conv_im2col.cpp), which check every pixel against the image border;
// tests/test_conv_fast.cpp compares the two.
#include "nn/conv_fast.h"

#include <algorithm>
#include <type_traits>

#include "autodiff/runtime/isa.h"

namespace nn::conv_fast {

namespace {

// The grid positions o in [0, grid) at which one kernel tap lands inside the image:
//   0 <= o s + offset < size,   offset = kh - padding (rows) or kw - padding (columns).
// Solved for o:  o >= ceil(-offset / s)  and  o < ceil((size - offset) / s).
// Computed once per tap, so the loops over positions never test a border.
struct Span {
  int64_t begin, end;
  bool empty() const { return begin == end; }
};

int64_t ceil_div_or_zero(int64_t a, int64_t b) { return a <= 0 ? 0 : (a + b - 1) / b; }

Span inside(int64_t offset, int64_t stride, int64_t size, int64_t grid) {
  const int64_t begin = std::min(grid, ceil_div_or_zero(-offset, stride));
  const int64_t end = std::clamp(ceil_div_or_zero(size - offset, stride), begin, grid);
  return {begin, end};
}

// Does a tap's span of grid positions miss part of the grid (so its row has padding)?
bool touches_padding(Span rows, Span cols, const Geometry& g) {
  return rows.begin > 0 || rows.end < g.grid_h || cols.begin > 0 || cols.end < g.grid_w;
}

// dst[i dst_ld + j] = src[i src_ld + j step]: one kernel tap at the positions where it
// lands inside the image.
template <class T>
void copy_rows_plain(const T* src, int64_t src_ld, int64_t step, int64_t rows, int64_t cols,
                     T* dst, int64_t dst_ld) {
  for (int64_t i = 0; i < rows; ++i, src += src_ld, dst += dst_ld) {
    if (step == 1)  // stride 1: the tap's pixels are contiguous, a plain copy
      std::copy_n(src, cols, dst);
    else if (step == 2)  // the common stride, with a constant the compiler can vectorise
      for (int64_t j = 0; j < cols; ++j) dst[j] = src[2 * j];
    else
      for (int64_t j = 0; j < cols; ++j) dst[j] = src[j * step];
  }
}

// dst[i dst_ld + j step] += src[i src_ld + j]: the same block, read backwards.
template <class T>
void add_rows_plain(const T* src, int64_t src_ld, int64_t step, int64_t rows, int64_t cols,
                    T* dst, int64_t dst_ld) {
  for (int64_t i = 0; i < rows; ++i, src += src_ld, dst += dst_ld) {
    if (step == 1)
      for (int64_t j = 0; j < cols; ++j) dst[j] += src[j];
    else if (step == 2)
      for (int64_t j = 0; j < cols; ++j) dst[2 * j] += src[j];
    else
      for (int64_t j = 0; j < cols; ++j) dst[j * step] += src[j];
  }
}

}  // namespace

namespace detail {

// The AVX-512 loops cover float with stride 1 or 2; everything else (double, other
// strides, AVX2, AD_REFERENCE, arm64) takes the plain loops. (No AVX2 version: on these
// short rows, 7 to 28 positions, 256-bit loops with masked tails measured no faster than
// the plain loops as the compiler vectorises them, and slower in most cases.)
template <class T>
RowLoops<T> row_loops([[maybe_unused]] ad::Isa isa, [[maybe_unused]] int64_t stride) {
#if defined(__x86_64__)
  if constexpr (std::is_same_v<T, float>)
    if (stride <= 2 && isa == ad::Isa::avx512) return {&copy_rows_avx512, &add_rows_avx512};
#endif
  return {&copy_rows_plain<T>, &add_rows_plain<T>};
}

template RowLoops<float> row_loops<float>(ad::Isa, int64_t);
template RowLoops<double> row_loops<double>(ad::Isa, int64_t);

}  // namespace detail

// Row (c, kh, kw) of patches holds the tap (kh, kw) of channel c at every grid position:
// zeros where the tap is in the padding, and a block of image pixels (every s-th pixel
// of every s-th row) where it is inside. Which positions are inside depends on (kh, kw)
// only, so it is worked out once for all channels.
template <class T>
void unfold(const T* image, const Geometry& g, T* patches) {
  const int64_t k = g.kernel, s = g.stride, p = g.padding, gw = g.grid_w, P = g.positions();
  const auto copy_rows = detail::row_loops<T>(ad::active_isa(), s).copy;
  for (int64_t kh = 0; kh < k; ++kh) {
    const Span rows = inside(kh - p, s, g.height, g.grid_h);
    for (int64_t kw = 0; kw < k; ++kw) {
      const Span cols = inside(kw - p, s, g.width, gw);
      const bool padded = touches_padding(rows, cols, g), empty = rows.empty() || cols.empty();
      // The first pixel the tap reads: at grid position (rows.begin, cols.begin).
      const int64_t first = (rows.begin * s - p + kh) * g.width + cols.begin * s - p + kw;
      for (int64_t c = 0; c < g.channels; ++c) {
        T* row = patches + ((c * k + kh) * k + kw) * P;
        if (padded) std::fill(row, row + P, T(0));
        if (empty) continue;
        copy_rows(image + c * g.height * g.width + first, s * g.width, s, rows.end - rows.begin,
                   cols.end - cols.begin, row + rows.begin * gw + cols.begin, gw);
      }
    }
  }
}

// The same blocks, added back onto the pixels they came from (the padding has nowhere to go).
template <class T>
void fold_add(const T* patches, const Geometry& g, T* image) {
  const int64_t k = g.kernel, s = g.stride, p = g.padding, gw = g.grid_w, P = g.positions();
  const auto add_rows = detail::row_loops<T>(ad::active_isa(), s).add;
  for (int64_t kh = 0; kh < k; ++kh) {
    const Span rows = inside(kh - p, s, g.height, g.grid_h);
    for (int64_t kw = 0; kw < k; ++kw) {
      const Span cols = inside(kw - p, s, g.width, gw);
      if (rows.empty() || cols.empty()) continue;
      const int64_t first = (rows.begin * s - p + kh) * g.width + cols.begin * s - p + kw;
      for (int64_t c = 0; c < g.channels; ++c) {
        const T* row = patches + ((c * k + kh) * k + kw) * P;
        add_rows(row + rows.begin * gw + cols.begin, gw, s, rows.end - rows.begin,
                  cols.end - cols.begin, image + c * g.height * g.width + first, s * g.width);
      }
    }
  }
}

template void unfold<float>(const float*, const Geometry&, float*);
template void unfold<double>(const double*, const Geometry&, double*);
template void fold_add<float>(const float*, const Geometry&, float*);
template void fold_add<double>(const double*, const Geometry&, double*);

}  // namespace nn::conv_fast
