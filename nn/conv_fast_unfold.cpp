// unfold and fold (nn/conv_fast.h): the patch matrix of one image and its adjoint,
// with no test per element. Their plain definitions are nn::im2col and nn::col2im
// (nn/conv_im2col.cpp), which check every pixel against the image border;
// tests/test_conv_fast.cpp compares the two.
#include "nn/conv_fast.h"

#include <algorithm>
#include <type_traits>

#include "autodiff/runtime/isa.h"
#include "autodiff/runtime/scratch.h"

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

// ---- the image's s x s phases ----
//
// Phase (a, b) of an image holds the pixels whose row is a and whose column is b modulo s:
//   phase_ab[c, i, j] = image[c, i s + a, j s + b].
// A tap (kh, kw) at grid position (oh, ow) reads image row oh s + kh - p. Write
// kh - p = q s + a with 0 <= a < s (floor division): the row is (oh + q) s + a, which is
// row oh + q of phase a; the columns likewise. So on its phase every tap is a stride-1
// tap: its block is runs of neighbouring pixels, and when a run is as wide as the grid
// and the phase, the block is one run. unfold deals the image into its phases once (one
// pass with step s), fold gathers them back, and every tap's block moves with step 1,
// rather than read every s-th pixel of a short row for each of the k^2 taps (each pixel
// lies under about (k / s)^2 of them). With s = 1 the image is its only phase and
// nothing is copied.

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <class T>
struct Phases {
  T* data;             // [C, s, s, rows, cols]: each phase padded to the largest one
  int64_t rows, cols;  // ceil(H / s), ceil(W / s)
  int64_t s;
  T* of(int64_t c, int64_t a, int64_t b) const {
    return data + ((c * s + a) * s + b) * rows * cols;
  }
};

// This thread's phase buffer for an image, or the image itself when s = 1.
template <class T>
Phases<T> phases_of(T* image, const Geometry& g) {
  const int64_t s = g.stride;
  if (s == 1) return {image, g.height, g.width, 1};
  thread_local ad::Scratch<T> buffer;
  const int64_t rows = ceil_div(g.height, s), cols = ceil_div(g.width, s);
  return {buffer.get(g.channels * s * s * rows * cols), rows, cols, s};
}

// Calls move(pixel, phase_row, n) for every row of every phase: the n pixels
// image[pixel + j s], j < n, are phase_row[0 .. n).
template <class T, class Move>
void for_each_phase_row(const Geometry& g, const Phases<T>& ph, Move move) {
  const int64_t s = g.stride, H = g.height, W = g.width;
  for (int64_t c = 0; c < g.channels; ++c)
    for (int64_t a = 0; a < s; ++a)
      for (int64_t b = 0; b < s; ++b) {
        const int64_t rows = ceil_div(H - a, s), n = ceil_div(W - b, s);
        for (int64_t i = 0; i < rows; ++i)
          move((c * H + i * s + a) * W + b, ph.of(c, a, b) + i * ph.cols, n);
      }
}

// image -> phases and back. (s = 2, the common stride, as a constant the compiler vectorises.)
template <class T>
void deal(const T* image, const Geometry& g, const Phases<T>& ph) {
  const int64_t s = g.stride;
  for_each_phase_row(g, ph, [&](int64_t pixel, T* phase_row, int64_t n) {
    const T* pixels = image + pixel;
    if (s == 2) {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) phase_row[j] = pixels[2 * j];
    } else {
      for (int64_t j = 0; j < n; ++j) phase_row[j] = pixels[j * s];
    }
  });
}

template <class T>
void gather_back(const Phases<T>& ph, const Geometry& g, T* image) {
  const int64_t s = g.stride;
  for_each_phase_row(g, ph, [&](int64_t pixel, const T* phase_row, int64_t n) {
    T* pixels = image + pixel;
    if (s == 2) {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) pixels[2 * j] = phase_row[j];
    } else {
      for (int64_t j = 0; j < n; ++j) pixels[j * s] = phase_row[j];
    }
  });
}

// Where a tap reads on its phase: rows x cols pixels from first, the row length ld.
struct TapBlock {
  int64_t a, b;  // the phase
  int64_t first, rows, cols, ld;
};

// Tap (kh, kw) at the grid positions rows x cols where it lands inside the image (both
// spans non-empty). When its rows are whole grid rows as long as the phase's, both the
// phase and the patch row hold the block contiguously, and it is one run.
TapBlock tap_block(int64_t kh, int64_t kw, Span rows, Span cols, const Geometry& g,
                   int64_t phase_cols) {
  const auto split = [s = g.stride](int64_t offset, int64_t& phase) {  // offset = q s + phase
    const int64_t q = offset >= 0 ? offset / s : -ceil_div(-offset, s);
    phase = offset - q * s;
    return q;
  };
  TapBlock t{};
  const int64_t row_offset = split(kh - g.padding, t.a), col_offset = split(kw - g.padding, t.b);
  t.first = (rows.begin + row_offset) * phase_cols + cols.begin + col_offset;
  t.rows = rows.end - rows.begin;
  t.cols = cols.end - cols.begin;
  t.ld = phase_cols;
  if (t.cols == g.grid_w && t.cols == phase_cols) {
    t.cols *= t.rows;
    t.rows = 1;
  }
  return t;
}

// ---- the row loops, on a rows x cols block: dst[i dst_ld + j] (+)= src[i src_ld + j] ----

template <class T>
void copy_rows_plain(const T* src, int64_t src_ld, int64_t rows, int64_t cols, T* dst,
                     int64_t dst_ld) {
  for (int64_t i = 0; i < rows; ++i, src += src_ld, dst += dst_ld) std::copy_n(src, cols, dst);
}

template <class T>
void add_rows_plain(const T* src, int64_t src_ld, int64_t rows, int64_t cols, T* dst,
                    int64_t dst_ld) {
  for (int64_t i = 0; i < rows; ++i, src += src_ld, dst += dst_ld) {
#pragma omp simd  // (src and dst never overlap, so the compiler may vectorise)
    for (int64_t j = 0; j < cols; ++j) dst[j] += src[j];
  }
}

}  // namespace

namespace detail {

// The AVX-512 loops cover float; everything else (double, AVX2, AD_REFERENCE, arm64)
// takes the plain loops. (No AVX2 version: on runs of 7 to 28 positions, 256-bit loops
// with masked tails measured no faster than the plain loops, and slower in most cases.)
template <class T>
RowLoops<T> row_loops([[maybe_unused]] ad::Isa isa) {
#if defined(__x86_64__)
  if constexpr (std::is_same_v<T, float>)
    if (isa == ad::Isa::avx512) return {&copy_rows_avx512, &add_rows_avx512};
#endif
  return {&copy_rows_plain<T>, &add_rows_plain<T>};
}

template RowLoops<float> row_loops<float>(ad::Isa);
template RowLoops<double> row_loops<double>(ad::Isa);

}  // namespace detail

// Row (c, kh, kw) of patches holds the tap (kh, kw) of channel c at every grid position:
// zeros where the tap is in the padding, and its block of pixels where it is inside.
// Which positions are inside depends on (kh, kw) only, so it is worked out once for all
// channels.
template <class T>
void unfold(const T* image, const Geometry& g, T* patches) {
  const int64_t k = g.kernel, gw = g.grid_w, P = g.positions();
  const auto copy_rows = detail::row_loops<T>(ad::active_isa()).copy;
  // (with s = 1 the image is its phase, and only read)
  const Phases<T> ph = phases_of(const_cast<T*>(image), g);
  if (g.stride > 1) deal(image, g, ph);
  for (int64_t kh = 0; kh < k; ++kh) {
    const Span rows = inside(kh - g.padding, g.stride, g.height, g.grid_h);
    for (int64_t kw = 0; kw < k; ++kw) {
      const Span cols = inside(kw - g.padding, g.stride, g.width, gw);
      const bool padded = touches_padding(rows, cols, g), empty = rows.empty() || cols.empty();
      const TapBlock t = empty ? TapBlock{} : tap_block(kh, kw, rows, cols, g, ph.cols);
      for (int64_t c = 0; c < g.channels; ++c) {
        T* row = patches + ((c * k + kh) * k + kw) * P;
        if (padded) std::fill(row, row + P, T(0));
        if (empty) continue;
        copy_rows(ph.of(c, t.a, t.b) + t.first, t.ld, t.rows, t.cols,
                  row + rows.begin * gw + cols.begin, gw);
      }
    }
  }
}

// The same blocks, added back onto the pixels they came from (the padding has nowhere to
// go), on top of each channel's start value. Each pixel receives its entries tap by tap,
// in the same order as from a loop over the image itself: the phases start at the
// channel's value, collect the entries and are written back, the same bits.
template <class T>
void fold(const T* patches, const Geometry& g, const T* start, T* image) {
  const int64_t k = g.kernel, gw = g.grid_w, P = g.positions();
  const auto add_rows = detail::row_loops<T>(ad::active_isa()).add;
  const Phases<T> ph = phases_of(image, g);
  const int64_t phase_plane = g.stride * g.stride * ph.rows * ph.cols;  // a channel's phases
  for (int64_t c = 0; c < g.channels; ++c)
    std::fill_n(ph.of(c, 0, 0), phase_plane, start ? start[c] : T(0));
  for (int64_t kh = 0; kh < k; ++kh) {
    const Span rows = inside(kh - g.padding, g.stride, g.height, g.grid_h);
    for (int64_t kw = 0; kw < k; ++kw) {
      const Span cols = inside(kw - g.padding, g.stride, g.width, gw);
      if (rows.empty() || cols.empty()) continue;
      const TapBlock t = tap_block(kh, kw, rows, cols, g, ph.cols);
      for (int64_t c = 0; c < g.channels; ++c) {
        const T* row = patches + ((c * k + kh) * k + kw) * P;
        add_rows(row + rows.begin * gw + cols.begin, gw, t.rows, t.cols,
                 ph.of(c, t.a, t.b) + t.first, t.ld);
      }
    }
  }
  if (g.stride > 1) gather_back(ph, g, image);
}

template void unfold<float>(const float*, const Geometry&, float*);
template void unfold<double>(const double*, const Geometry&, double*);
template void fold<float>(const float*, const Geometry&, const float*, float*);
template void fold<double>(const double*, const Geometry&, const double*, double*);

}  // namespace nn::conv_fast
