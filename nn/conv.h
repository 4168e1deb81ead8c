// 2-D convolution and transposed convolution, NCHW, each a single recorded op whose
// forward and backward are gemms on the patch matrix of one image at a time.
//
// Example (the convolutional encoder and decoder of a VAE on 28x28 images):
//
//   nn::Conv2d down(1, 32, 4, rng, {.stride = 2, .padding = 1});  // [N,1,28,28] -> [N,32,14,14]
//   nn::ConvTranspose2d up(32, 1, 4, rng, {.stride = 2, .padding = 1});  // and back to 28x28
//   ad::Tensor h = ad::relu(down(images));
//   ad::Tensor logits = up(h);
//
// Layouts (those of PyTorch, so shapes read the same as in most papers and code):
//   input, output        [N, C, H, W]  batch, channels, rows, columns
//   Conv2d weight        [C_out, C_in, k, k]
//   ConvTranspose2d      [C_in, C_out, k, k]
//   bias                 [C_out]
// Kernels are square; stride and padding are the same along both axes.
//
// ---- The definition: im2col, one matmul, col2im ----
// im2col copies every k x k patch the kernel visits into one row of a matrix,
// cols [N, H_out * W_out, C_in * k * k], zeros where the patch overhangs the padding. The
// convolution is then a single matrix product, cols x W^T with W viewed as
// [C_out, C_in * k * k]; col2im goes the other way, adding every entry of such a matrix
// back onto the pixel it came from. col2im is the adjoint (transpose) of im2col, so each
// one's backward pass is the other. conv2d_reference and conv_transpose2d_reference are
// built exactly so, from im2col / col2im, ad::matmul, transpose, reshape and a
// broadcasting bias add, whose backward passes all exist and are tested: they are the
// definition the fast ops are tested against (tests/test_conv_fast.cpp), and what
// conv2d / conv_transpose2d run when the fast kernels are switched off (AD_REFERENCE=1 or
// an ad::ReferenceKernels scope, see autodiff/runtime/isa.h), so the numbers can be compared.
//
// ---- The fast ops: one recorded op each ----
// Write K = C_in k k (the length of a patch), P = H_out W_out (the kernel's positions)
// and patches(x_n) [K, P] for image n's patches, one per column (nn/conv_kernels.h).
// With W the weight viewed as a matrix, [C_out, K] for conv2d, and dY = d loss / d y:
//
//   conv2d forward     Y_n  = W patches(x_n) + b 1^T        [C_out, K] x [K, P]
//          backward    dW   = sum_n dY_n patches(x_n)^T     [C_out, P] x [P, K]
//                      db   = sum_n dY_n 1                  (each channel over its pixels)
//                      dx_n = fold(W^T dY_n)                [K, C_out] x [C_out, P]
//
// where fold is the adjoint of patches (each entry added back onto its pixel). Y_n is a
// [C_out, P] matrix, which is exactly image n of the NCHW output: the gemm writes the
// result in place, on top of the bias (prefilled, gemm's beta = 1). A transposed
// convolution is the same data flow backwards, with the weight viewed as W [C_in, K],
// K = C_out k k, and the patches taken of its (larger) output:
//
//   conv_transpose2d forward   y_n  = fold(W^T x_n) + b 1^T
//                    backward  dx_n = W patches(dY_n)             (a conv2d forward)
//                              dW   = sum_n x_n patches(dY_n)^T
//                              db   = sum_n dY_n 1
//
// Each image's patch matrix is built in a per-thread scratch buffer that is reused from
// call to call (K P values, 225 kB at most in the Keras demo's layers, so it stays in L2)
// and is rebuilt by the backward pass rather than kept for it. The batch is split over
// threads (ad::parallel_for), each part summing its own copy of dW and db; a small batch
// instead lets each gemm use the threads.
//
// A transposed convolution is the adjoint of a convolution with the same weight. For every
// x, y:   sum(conv2d(x, w) * y) == sum(x * conv_transpose2d(y, w))   (a test checks this).
// output_padding (< stride) adds rows/columns at the bottom/right so that it can produce
// every size that a stride-s convolution maps to the same output size.
//
// ---- Padding "same" (Keras / TensorFlow) in these options ----
// The Keras VAE example (keras-io examples/generative/vae.py) uses padding="same". With
// stride s TensorFlow pads pad_total = max((ceil(in / s) - 1) s + k - in, 0) pixels,
// pad_total / 2 before and the rest after. For its layers (k = 3):
//
//   Conv2D 28 -> 14 and 14 -> 7, s = 2     TF pads 0 before, 1 after (asymmetric)
//        here {.stride = 2, .padding = 1}: the same sizes, PyTorch's form of the layer
//   Conv2DTranspose 7 -> 14 and 14 -> 28, s = 2   (TF: out = in s)
//        here {.stride = 2, .padding = 1, .output_padding = 1}: the same sizes
//   Conv2DTranspose 28 -> 28, s = 1       TF pads 1 and 1: {.padding = 1}, identical to TF
//
// Our padding is symmetric, so for the stride-2 layers we take PyTorch's form, which is
// what this project's PyTorch comparison uses. It differs from TensorFlow's only in which
// side gets the extra pixel, so the alignment is one pixel apart: the convolution's taps
// for output row oh are input rows 2 oh - 1 + kh here, 2 oh + kh in TF; of the full
// (2 in + 1)-row output that a transposed convolution paints, we keep rows 1 .. 2 in and
// TF keeps rows 0 .. 2 in - 1 (the same for columns).
// Sizes, parameter counts and what the network can learn are the same; matching
// TensorFlow's numbers exactly would take separate before/after paddings, which
// ConvOptions does not have.
#pragma once
#include <cstdint>

#include "autodiff/rng.h"
#include "autodiff/tensor.h"
#include "nn/linear.h"

namespace nn {

// floor((in + 2 padding - kernel) / stride) + 1
int64_t conv2d_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding);
// (in - 1) stride - 2 padding + kernel + output_padding
int64_t conv_transpose2d_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding,
                                     int64_t output_padding);

// x [N, C, H, W] -> cols [N, H_out * W_out, C * k * k]. Row oh * W_out + ow of image n holds
// the patch under output pixel (oh, ow); column (c * k + kh) * k + kw holds
// x[n, c, oh * stride - padding + kh, ow * stride - padding + kw], or 0 in the padding.
ad::Tensor im2col(const ad::Tensor& x, int64_t kernel, int64_t stride, int64_t padding);

// The adjoint of im2col: cols [N, H_out * W_out, C * k * k] -> [N, C, H, W], each entry
// added onto the pixel im2col would have copied it from (entries in the padding are dropped).
ad::Tensor col2im(const ad::Tensor& cols, int64_t channels, int64_t height, int64_t width,
                  int64_t kernel, int64_t stride, int64_t padding);

// x [N, C_in, H, W], weight [C_out, C_in, k, k], bias [C_out] or undefined -> [N, C_out, H_out,
// W_out]
ad::Tensor conv2d(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& bias,
                  int64_t stride = 1, int64_t padding = 0);

// x [N, C_in, H, W], weight [C_in, C_out, k, k], bias [C_out] or undefined -> [N, C_out, H_out,
// W_out]
ad::Tensor conv_transpose2d(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& bias,
                            int64_t stride = 1, int64_t padding = 0, int64_t output_padding = 0);

// The definitions (see the top of this file): the same results built from im2col / col2im,
// ad::matmul, transpose and a broadcast bias, each step recorded on the tape by itself.
// conv2d and conv_transpose2d call these when ad::active_isa() is Isa::reference.
ad::Tensor conv2d_reference(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& bias,
                            int64_t stride = 1, int64_t padding = 0);
ad::Tensor conv_transpose2d_reference(const ad::Tensor& x, const ad::Tensor& weight,
                                      const ad::Tensor& bias, int64_t stride = 1,
                                      int64_t padding = 0, int64_t output_padding = 0);

// Options by name, so that a call reads {.stride = 2, .padding = 1}.
struct ConvOptions {
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t output_padding = 0;  // ConvTranspose2d only
  bool bias = true;
  ad::DType dtype = ad::f32;
};

// Weight Kaiming-uniform with fan_in = in_channels * k * k (the inputs of one output
// pixel), bias zero.
class Conv2d : public Layer {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, ad::Rng& rng,
         const ConvOptions& options = {});
  ad::Tensor forward(const ad::Tensor& x) override;

  const int64_t in_channels, out_channels, kernel_size, stride, padding;
  ad::Tensor weight;  // [out_channels, in_channels, k, k]
  ad::Tensor bias;    // [out_channels], or undefined
};

// Weight Kaiming-uniform with fan_in = in_channels * k * k / stride^2: with stride s, one
// output pixel receives on average (k / s)^2 pixels of each input channel. Bias zero.
class ConvTranspose2d : public Layer {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, ad::Rng& rng,
                  const ConvOptions& options = {});
  ad::Tensor forward(const ad::Tensor& x) override;

  const int64_t in_channels, out_channels, kernel_size, stride, padding, output_padding;
  ad::Tensor weight;  // [in_channels, out_channels, k, k]
  ad::Tensor bias;    // [out_channels], or undefined
};

}  // namespace nn
