// 2-D convolution and transposed convolution, NCHW, by im2col / col2im and one gemm.
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
// How it is computed. im2col copies every k x k patch the kernel visits into one row of
// a matrix, cols [N, H_out * W_out, C_in * k * k], zeros where the patch overhangs the
// padding. The convolution is then a single matrix product, cols x W^T with W viewed as
// [C_out, C_in * k * k], run by ad::matmul on the project's gemm. col2im goes the other
// way: it adds every entry of such a matrix back onto the pixel it came from.
//
// col2im is the adjoint (transpose) of im2col, so each one's backward pass is the other.
// Only these two ops are recorded on the tape; everything else is ad::matmul, reshape,
// transpose and broadcasting add, whose backward passes already exist and are tested. That
// keeps the hand-written derivative code to two short loops, at the price of one extra
// copy of the output (the transpose) compared with a fused conv2d op.
//
// A transposed convolution is the adjoint of a convolution with the same weight: x W gives
// the columns, and col2im scatters them into the larger output. For every x, y:
//   sum(conv2d(x, w) * y) == sum(x * conv_transpose2d(y, w))
// (a test checks this). output_padding (< stride) adds rows/columns at the bottom/right so
// that it can produce every size that a stride-s convolution maps to the same output size.
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
