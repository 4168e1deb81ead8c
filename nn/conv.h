// 2-D convolution and transposed convolution, NCHW, as ops on the tape. The layers that
// hold their parameters, Conv2d and ConvTranspose2d, are in nn/conv_layers.h (included
// here); im2col and col2im in nn/conv_im2col.h (included here too).
//
// Layouts (those of PyTorch, so shapes read the same as in most papers and code):
//   input, output        [N, C, H, W]  batch, channels, rows, columns
//   conv2d weight        [C_out, C_in, k, k]
//   conv_transpose2d     [C_in, C_out, k, k]
//   bias                 [C_out]
// Kernels are square; stride s and padding p are the same along both axes.
//
// ---- The definition: im2col, one matmul, col2im ----
// im2col copies every k x k patch the kernel visits into one row of a matrix,
// cols [N, H_out * W_out, C_in * k * k], zeros where the patch overhangs the padding. The
// convolution is then a single matrix product, cols x W^T with W viewed as
// [C_out, C_in * k * k]; col2im goes the other way, adding every entry of such a matrix
// back onto the pixel it came from. col2im is the adjoint (transpose) of im2col, so each
// one's backward pass is the other. nn/conv.cpp opens with the three definitions, one
// screen: conv2d, conv_transpose2d and the weight gradient conv2d_weight_grad, each built
// from im2col / col2im, ad::matmul, transpose, reshape and a broadcast bias. They are what
// the *_reference functions below run, what the fast ops are tested against
// (tests/test_conv_fast.cpp), and what the ops run when the fast kernels are switched off
// (AD_REFERENCE=1 or an ad::ReferenceKernels scope, see autodiff/runtime/isa.h).
//
// ---- The backward pass: one trilinear form, three ops ----
// A convolution is linear in x and, separately, in W. Pair its output with a u of the
// output's shape and the result is linear in each of x, W and u:
//
//   T(x, W, u) = < conv2d(x, W), u > = sum_{n,o,h,w} conv2d(x, W)[n,o,h,w] u[n,o,h,w].
//
// Its gradient with respect to each argument is one of our three ops:
//
//   dT/du = conv2d(x, W)
//   dT/dx = conv_transpose2d(u, W)       (the adjoint identity: < conv2d(x, W), u >
//                                         = < x, conv_transpose2d(u, W) >, a test checks it)
//   dT/dW = conv2d_weight_grad(x, u),    [o, c, i, j] = sum_{n,h,w} u[n,o,h,w] x[n,c,hs-p+i,ws-p+j]
//
// (same W, stride and padding throughout; conv_transpose2d's output is sized to x). The
// chain rule for a bilinear op y = f(a, b) with dY = dL/dy is da = d<f(a, b), dY>/da, so
// every backward pass is read off T, and is again made of these ops:
//
//   y = conv2d(x, W) + b               dx = conv_transpose2d(dY, W)
//                                      dW = conv2d_weight_grad(x, dY)
//                                      db = sum of dY over n, h, w
//   y = conv_transpose2d(x, W) + b     dx = conv2d(dY, W)                (T(dY, W, x))
//                                      dW = conv2d_weight_grad(dY, x)
//                                      db = sum of dY over n, h, w
//   G = conv2d_weight_grad(x, u)       dx = conv_transpose2d(u, dG)      (T(x, dG, u))
//                                      du = conv2d(x, dG)
//
// The three close under differentiation, so with create_graph a backward pass records
// itself and can be differentiated again. Without it nothing needs recording, and
// conv2d's and conv_transpose2d's backward compute the same gradients fused, in one pass
// over the batch that unfolds each image once for both gemms (nn/conv_fast.h).
//
// output_padding (< stride) adds rows/columns at the bottom/right so that a transposed
// convolution can produce every size that a stride-s convolution maps to the same size.
#pragma once
#include <cstdint>

#include "autodiff/tensor.h"
#include "nn/conv_im2col.h"
#include "nn/conv_layers.h"

namespace nn {

// floor((in + 2 padding - kernel) / stride) + 1
int64_t conv2d_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding);
// (in - 1) stride - 2 padding + kernel + output_padding
int64_t conv_transpose2d_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding,
                                     int64_t output_padding);

// x [N, C_in, H, W], weight [C_out, C_in, k, k], bias [C_out] or undefined -> [N, C_out, H_out,
// W_out]
ad::Tensor conv2d(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& bias,
                  int64_t stride = 1, int64_t padding = 0);

// x [N, C_in, H, W], weight [C_in, C_out, k, k], bias [C_out] or undefined -> [N, C_out, H_out,
// W_out]
ad::Tensor conv_transpose2d(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& bias,
                            int64_t stride = 1, int64_t padding = 0, int64_t output_padding = 0);

// The weight gradient of conv2d as an op of its own: x [N, C_in, H, W] and dy [N, C_out,
// H_out, W_out] (the output size of a k x k conv2d of x) -> [C_out, C_in, k, k].
ad::Tensor conv2d_weight_grad(const ad::Tensor& x, const ad::Tensor& dy, int64_t kernel,
                              int64_t stride = 1, int64_t padding = 0);

// The definitions (see the top of this file): the same results built from im2col / col2im,
// ad::matmul, transpose and a broadcast bias, each step recorded on the tape by itself.
ad::Tensor conv2d_reference(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& bias,
                            int64_t stride = 1, int64_t padding = 0);
ad::Tensor conv_transpose2d_reference(const ad::Tensor& x, const ad::Tensor& weight,
                                      const ad::Tensor& bias, int64_t stride = 1,
                                      int64_t padding = 0, int64_t output_padding = 0);
ad::Tensor conv2d_weight_grad_reference(const ad::Tensor& x, const ad::Tensor& dy, int64_t kernel,
                                        int64_t stride = 1, int64_t padding = 0);

}  // namespace nn
