// im2col and its adjoint col2im: the patch matrix of a batch of images, as recorded ops
// written as plain loops. nn/conv.cpp defines the convolutions with them; each one's
// backward is the other.
#pragma once

#include <cstdint>

#include "autodiff/tensor.h"

namespace nn {

// x [N, C, H, W] -> cols [N, H_out * W_out, C * k * k]. Row oh * W_out + ow of image n holds
// the patch under output pixel (oh, ow); column (c * k + kh) * k + kw holds
// x[n, c, oh * stride - padding + kh, ow * stride - padding + kw], or 0 in the padding.
ad::Tensor im2col(const ad::Tensor& x, int64_t kernel, int64_t stride, int64_t padding);

// The adjoint of im2col: cols [N, H_out * W_out, C * k * k] -> [N, C, H, W], each entry
// added onto the pixel im2col would have copied it from (entries in the padding are dropped).
ad::Tensor col2im(const ad::Tensor& cols, int64_t channels, int64_t height, int64_t width,
                  int64_t kernel, int64_t stride, int64_t padding);

}  // namespace nn
