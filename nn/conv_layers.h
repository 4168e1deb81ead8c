// The convolution layers: Conv2d and ConvTranspose2d hold a weight and a bias and call
// nn::conv2d / nn::conv_transpose2d (nn/conv.h, which has the math and the layouts).
//
// Example (the convolutional encoder and decoder of a VAE on 28x28 images):
//
//   nn::Conv2d down(1, 32, 4, rng, {.stride = 2, .padding = 1});  // [N,1,28,28] -> [N,32,14,14]
//   nn::ConvTranspose2d up(32, 1, 4, rng, {.stride = 2, .padding = 1});  // and back to 28x28
//   ad::Tensor h = ad::relu(down(images));
//   ad::Tensor logits = up(h);
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
