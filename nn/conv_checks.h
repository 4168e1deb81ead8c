// The argument checks of the convolution ops (nn/conv.h): each throws an ad::Error that
// names the op and the shapes involved, so a wrong layer reads as such, not as a crash.
#pragma once

#include <cstdint>

#include "autodiff/tensor.h"

namespace nn {

// x [N, C_in, H, W], weight [C_out, C_in, k, k], bias [C_out] or undefined; stride >= 1,
// padding >= 0, and the kernel fits in the padded image.
void check_conv2d(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& bias,
                  int64_t stride, int64_t padding);

// x [N, C_in, H, W], weight [C_in, C_out, k, k], bias [C_out] or undefined; 0 <=
// output_padding < stride, and the output is not empty.
void check_conv_transpose2d(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& bias,
                            int64_t stride, int64_t padding, int64_t output_padding);

// x [N, C_in, H, W] and dy [N, C_out, H_out, W_out], the output size of a k x k conv2d of x.
void check_conv2d_weight_grad(const ad::Tensor& x, const ad::Tensor& dy, int64_t kernel,
                              int64_t stride, int64_t padding);

// For im2col / col2im: kernel >= 1, stride >= 1, padding >= 0, and the kernel fits in the
// padded height x width image.
void check_patches(const char* op, int64_t height, int64_t width, int64_t kernel, int64_t stride,
                   int64_t padding);

}  // namespace nn
