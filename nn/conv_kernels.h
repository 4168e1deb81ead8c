// The loops behind the fast nn::conv2d and nn::conv_transpose2d (nn/conv.cpp): the patch
// matrix of one image (unfold) and its adjoint (fold_add), and the per-thread scratch
// memory and batch splitting they run with. Internal: nothing here records on the tape.
//
// The patch matrix of one image is laid out [K, P] (PyTorch's torch.nn.functional.unfold):
//
//   K = C k k rows, one per kernel tap (c, kh, kw);  P = H_grid W_grid columns, one per
//   position of the kernel on the image (the output pixels of a conv2d).
//
//   patches[(c k + kh) k + kw, oh W_grid + ow] = image[c, oh s - p + kh, ow s - p + kw]
//                                                (0 where that pixel is in the padding)
//
// Column j is the patch under position j, the same numbers as row j of nn::im2col, so
//   unfold(x_n) = im2col(x)[n]^T          (tests/test_conv_fast.cpp checks it).
// Why the transposed layout: one row of it is a single tap seen from every position,
// which for a fixed kernel row kh and grid row oh is one image row read with step s. So a
// row is filled by one copy per grid row (a memcpy when s = 1) between two runs of zeros,
// and the products W x patches and W^T x dY that the convolutions need are plain
// [C_out, K] x [K, P] gemms whose result [C_out, P] is already the NCHW output image.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <new>

#include "autodiff/runtime/parallel.h"
#include "autodiff/runtime/scratch.h"

namespace nn::conv_kernels {

// One image's side of a convolution and the grid of kernel positions on it:
//   conv2d            image = its input  x_n [C_in, H, W],  grid = its output pixels;
//   conv_transpose2d  image = its output y_n [C_out, H, W], grid = its input pixels
// (a transposed convolution runs a convolution's data flow backwards on the same grid).
struct Geometry {
  int64_t channels, height, width;  // the image [C, H, W]
  int64_t kernel, stride, padding;
  int64_t grid_h, grid_w;  // (height + 2 padding - kernel) / stride + 1, and the same for width

  // A kernel sliding over an image [channels, height, width]: the grid is conv2d's
  // output size, floor((height + 2 padding - kernel) / stride) + 1 (and the same for width).
  static Geometry over(int64_t channels, int64_t height, int64_t width, int64_t kernel,
                       int64_t stride, int64_t padding) {
    return {channels,
            height,
            width,
            kernel,
            stride,
            padding,
            (height + 2 * padding - kernel) / stride + 1,
            (width + 2 * padding - kernel) / stride + 1};
  }

  int64_t image_size() const { return channels * height * width; }
  int64_t positions() const { return grid_h * grid_w; }              // P, columns of patches
  int64_t patch_size() const { return channels * kernel * kernel; }  // K, rows of patches
};

// patches [K, P] of one image [C, H, W], as in the table at the top of this file.
template <class T>
void unfold(const T* image, const Geometry& g, T* patches);

// The adjoint of unfold: adds every entry of patches [K, P] onto the pixel unfold would
// have copied it from (entries that fall in the padding are dropped). image is not
// cleared first: a pixel under several patches collects all of their entries, on top of
// whatever image held (zeros, or a bias).
template <class T>
void fold_add(const T* patches, const Geometry& g, T* image);

namespace detail {
// The AVX-512 row loops for float, strides 1 and 2 (conv_kernels_avx512.cpp, x86-64 only):
//   copy_rows  dst[i dst_ld + j] = src[i src_ld + j step]
//   add_rows   dst[i dst_ld + j step] += src[i src_ld + j]
void copy_rows_avx512(const float* src, int64_t src_ld, int64_t step, int64_t rows, int64_t cols,
                      float* dst, int64_t dst_ld);
void add_rows_avx512(const float* src, int64_t src_ld, int64_t step, int64_t rows, int64_t cols,
                     float* dst, int64_t dst_ld);
}  // namespace detail

// ---- scratch memory ----------------------------------------------------------------

// A growing aligned buffer (autodiff/scratch.h), kept in thread_local variables, so the
// steady state of a training loop allocates nothing.
using ad::Scratch;

// ---- splitting a batch over threads ------------------------------------------------

// How many threads to split a batch over, given the multiply-adds of one image.
// Every thread gets at least two images (so the split is nearly even) and at least the
// 500k multiply-adds below which gemm.cpp does not start a thread either. With fewer
// images than that (batch 1, say) the images run one after another and each gemm may
// split its own product over the threads instead.
int image_threads(int64_t batch, int64_t work_per_image);

// Calls body(n, thread) for every image n in [0, batch), the batch cut into `threads`
// contiguous parts. A gemm inside body runs on its caller's thread alone (gemm.cpp's
// threads_for sees ad::in_parallel_part()).
template <class F>
void for_each_image(int64_t batch, int threads, F&& body) {
  // Part t takes an equal share of the images; a part runs on one thread at a time, so
  // the part number can index per-thread sums (ad::parallel_for: a part no other thread
  // has started is taken by the caller, so a busy machine never waits for a thread).
  ad::parallel_for(threads, [&](int part) {
    const int64_t begin = batch * part / threads, end = batch * (part + 1) / threads;
    for (int64_t n = begin; n < end; ++n) body(n, part);
  });
}

// A sum over the batch computed by several threads, e.g. dW = sum_n dW_n: each thread adds
// into its own zeroed copy, and reduce() adds the copies up in thread order, so a run with
// the same number of threads always gives the same bits.
template <class T>
class PerThreadSum {
 public:
  PerThreadSum(Scratch<T>& memory, int64_t size, int threads)
      : copies_(memory.get(size * threads)), size_(size), threads_(threads) {
    std::fill(copies_, copies_ + size * threads, T(0));
  }
  T* of(int thread) const { return copies_ + thread * size_; }

  // out[i] = sum over threads of copy[i], converted to Out (the float gradient of a sum
  // kept in double, say).
  template <class Out>
  void reduce(Out* out) const {
    for (int64_t i = 0; i < size_; ++i) {
      T total = 0;
      for (int t = 0; t < threads_; ++t) total += copies_[t * size_ + i];
      out[i] = static_cast<Out>(total);
    }
  }

 private:
  T* copies_;
  int64_t size_;
  int threads_;
};

}  // namespace nn::conv_kernels
