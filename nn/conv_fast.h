// The fast path behind nn::conv2d, nn::conv_transpose2d and nn::conv2d_weight_grad
// (nn/conv.cpp): one gemm per image on that image's patch matrix. Internal: nothing here
// records on the tape, and the arguments were checked by the caller. The plain
// definitions these are tested against (tests/test_conv_fast.cpp) are nn::conv2d_reference
// and friends, and nn::im2col / nn::col2im for unfold / fold.
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
// which for a fixed kernel row kh and grid row oh is one image row read with step s, or
// one row of the image's phase read with step 1 (conv_fast_unfold.cpp deals the image into
// its s x s phases first). So a row is filled by one copy per grid row, or one copy for all
// of them, between runs of zeros,
// and the products the convolutions need are plain gemms whose result [C_out, P] is
// already image n of the NCHW output:
//
//   conv2d              Y_n = W patches(x_n) + b 1^T       [C_out, K] x [K, P]
//   conv_transpose2d    y_n = fold(W^T x_n) + b 1^T        [K, C_in] x [C_in, P], folded
//   conv2d_weight_grad  dW  = sum_n dY_n patches(x_n)^T    [C_out, P] x [P, K]
//
// Each image's patch matrix goes into a per-thread buffer reused from call to call (K P
// values, 225 kB at most in the Keras demo's layers, so it stays in L2). The weights are
// the same matrix in every image's product: they are packed for the gemm once per batch
// (ad::PackedA), not once per image. The batch is
// cut into parts that the threads share (ad::parallel_for), each part summing its own copy
// of dW; the number of parts does not depend on the threads, so neither do the bits. A
// small batch instead lets each gemm use the threads.
#pragma once

#include <cstdint>

#include "autodiff/tensor.h"
#include "autodiff/runtime/isa.h"

namespace nn::conv_fast {

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

// ---- the three products, batch by image (nn/conv_fast.cpp) ----

// x [N, C_in, H, W], weight [C_out, C_in, k, k], bias [C_out] or undefined.
ad::Tensor conv2d(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& bias,
                  int64_t stride, int64_t padding);
// x [N, C_in, H, W], weight [C_in, C_out, k, k], bias [C_out] or undefined -> [N, C_out,
// out_h, out_w], a size that a conv2d with this stride and padding maps back to H x W.
ad::Tensor conv_transpose2d(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& bias,
                            int64_t stride, int64_t padding, int64_t out_h, int64_t out_w);
// x [N, C_in, H, W], dy [N, C_out, H_out, W_out] -> dW [C_out, C_in, k, k].
ad::Tensor conv2d_weight_grad(const ad::Tensor& x, const ad::Tensor& dy, int64_t kernel,
                              int64_t stride, int64_t padding);

// ---- the first-order backward passes, fused (nn/conv_fast_backward.cpp) ----
// The ops write each backward pass as one op per gradient (nn/conv.h), each its own pass
// over the batch; these compute the same gradients in one pass, each image's patch matrix
// built once for both of its gemms. They record nothing: nn/conv.cpp uses them when the
// backward pass need not be differentiated again (ad::differentiable_backward() false).

struct Wanted {  // which gradients to compute
  bool x, weight, bias;
};
struct Gradients {  // dx, dW, db, each undefined when not wanted
  ad::Tensor x, weight, bias;
};

// conv2d's, from dY [N, C_out, H_out, W_out]:
//   dx = conv_transpose2d(dY, W),  dW = conv2d_weight_grad(x, dY),  db = dY summed per channel.
Gradients conv2d_backward(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& dy,
                          int64_t stride, int64_t padding, Wanted wanted);
// conv_transpose2d's, from dY [N, C_out, H_out, W_out]:
//   dx = conv2d(dY, W),  dW = conv2d_weight_grad(dY, x),  db = dY summed per channel.
Gradients conv_transpose2d_backward(const ad::Tensor& x, const ad::Tensor& weight,
                                    const ad::Tensor& dy, int64_t stride, int64_t padding,
                                    Wanted wanted);

// ---- the patch matrix (nn/conv_fast_unfold.cpp) ----

// patches [K, P] of one image [C, H, W], as in the table at the top of this file.
template <class T>
void unfold(const T* image, const Geometry& g, T* patches);

// The adjoint of unfold, on top of a start value per channel (a bias):
//   image[c, :, :] = start[c] (0 when start is null), plus every entry of patches [K, P]
//                    on the pixel unfold would have copied it from
// (entries that fall in the padding are dropped; a pixel under several patches collects
// all of their entries, tap after tap).
template <class T>
void fold(const T* patches, const Geometry& g, const T* start, T* image);

namespace detail {
// The row loops behind unfold and fold, on a rows x cols block of one kernel tap
// (on its phase of the image, nn/conv_fast_unfold.cpp, so neighbouring pixels):
//   copy  dst[i dst_ld + j] = src[i src_ld + j]      (unfold)
//   add   dst[i dst_ld + j] += src[i src_ld + j]     (fold)
// The plain ones (conv_fast_unfold.cpp) are the definition; the AVX-512 ones
// (conv_fast_avx512.cpp, x86-64 only; float) give the same bits.
template <class T>
using RowLoop = void (*)(const T* src, int64_t src_ld, int64_t rows, int64_t cols, T* dst,
                         int64_t dst_ld);
template <class T>
struct RowLoops {
  RowLoop<T> copy, add;
};

// The loops that an ISA runs for this element type (the plain ones where it has none,
// Isa::reference among them). Call only with an ISA the CPU supports (ad::isa_supported).
template <class T>
RowLoops<T> row_loops(ad::Isa isa);

void copy_rows_avx512(const float* src, int64_t src_ld, int64_t rows, int64_t cols, float* dst,
                      int64_t dst_ld);
void add_rows_avx512(const float* src, int64_t src_ld, int64_t rows, int64_t cols, float* dst,
                     int64_t dst_ld);
}  // namespace detail

}  // namespace nn::conv_fast
