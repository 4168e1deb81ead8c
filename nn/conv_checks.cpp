#include "nn/conv_checks.h"

#include <fmt/format.h>

#include "autodiff/ops.h"
#include "nn/conv.h"

namespace nn {

namespace {

std::string shape_of(const ad::Tensor& t) { return ad::to_string(t.shape()); }

// Ranks, dtypes, stride >= 1 and padding >= 0; the bias [bias_size] (C_out: dim 0 of a
// conv2d weight, dim 1 of a conv_transpose2d weight).
void check_conv_args(const char* op, const ad::Tensor& x, const ad::Tensor& weight,
                     const ad::Tensor& bias, int bias_dim, int64_t stride, int64_t padding) {
  if (x.rank() != 4)
    throw ad::Error(fmt::format("{}: input has shape {}; expected [N, C, H, W]", op, shape_of(x)));
  if (weight.rank() != 4 || weight.dim(2) != weight.dim(3))
    throw ad::Error(
        fmt::format("{}: weight has shape {}; expected 4 dimensions with a square "
                    "k x k kernel last",
                    op, shape_of(weight)));
  const int64_t bias_size = weight.dim(bias_dim);
  if (bias.defined() && (bias.rank() != 1 || bias.dim(0) != bias_size))
    throw ad::Error(fmt::format("{}: bias has shape {}; the weight {} needs [{}]", op,
                                shape_of(bias), shape_of(weight), bias_size));
  ad::check_same_dtype(op, x, weight);
  if (bias.defined()) ad::check_same_dtype(op, x, bias);
  if (stride < 1 || padding < 0)
    throw ad::Error(fmt::format("{}: need stride >= 1 and padding >= 0; got stride {}, padding {}",
                                op, stride, padding));
}

// The input's channels must be the weight's input channels (dim 1 of a conv2d weight,
// dim 0 of a conv_transpose2d weight).
void check_channels(const char* op, const ad::Tensor& x, const ad::Tensor& weight,
                    int64_t weight_channels) {
  if (x.dim(1) != weight_channels)
    throw ad::Error(fmt::format("{}: input {} has {} channels, the weight {} expects {}", op,
                                shape_of(x), x.dim(1), shape_of(weight), weight_channels));
}

void check_kernel_fits(const char* op, const ad::Tensor& x, const ad::Tensor& weight,
                       int64_t k, int64_t padding) {
  if (x.dim(2) + 2 * padding < k || x.dim(3) + 2 * padding < k)
    throw ad::Error(
        fmt::format("{}: the {}x{} kernel of weight {} does not fit in input {} with padding {}",
                    op, k, k, shape_of(weight), shape_of(x), padding));
}

}  // namespace

void check_conv2d(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& bias,
                  int64_t stride, int64_t padding) {
  const char* op = "conv2d";
  check_conv_args(op, x, weight, bias, /*bias_dim=*/0, stride, padding);
  check_channels(op, x, weight, weight.dim(1));
  check_kernel_fits(op, x, weight, weight.dim(2), padding);
}

void check_conv_transpose2d(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& bias,
                            int64_t stride, int64_t padding, int64_t output_padding) {
  const char* op = "conv_transpose2d";
  check_conv_args(op, x, weight, bias, /*bias_dim=*/1, stride, padding);
  check_channels(op, x, weight, weight.dim(0));
  if (output_padding < 0 || output_padding >= stride)
    throw ad::Error(fmt::format("{}: output_padding = {} must be in [0, stride = {})", op,
                                output_padding, stride));
  const int64_t k = weight.dim(2);
  const int64_t out_h = conv_transpose2d_output_size(x.dim(2), k, stride, padding, output_padding);
  const int64_t out_w = conv_transpose2d_output_size(x.dim(3), k, stride, padding, output_padding);
  if (out_h < 1 || out_w < 1)
    throw ad::Error(
        fmt::format("{}: input {} with weight {}, stride={}, padding={} gives an empty {}x{} "
                    "output",
                    op, shape_of(x), shape_of(weight), stride, padding, out_h, out_w));
}

void check_conv2d_weight_grad(const ad::Tensor& x, const ad::Tensor& dy, int64_t kernel,
                              int64_t stride, int64_t padding) {
  const char* op = "conv2d_weight_grad";
  if (x.rank() != 4 || dy.rank() != 4)
    throw ad::Error(fmt::format("{}: input {} and output gradient {}; expected both [N, C, H, W]",
                                op, shape_of(x), shape_of(dy)));
  ad::check_same_dtype(op, x, dy);
  check_patches(op, x.dim(2), x.dim(3), kernel, stride, padding);
  const int64_t out_h = conv2d_output_size(x.dim(2), kernel, stride, padding);
  const int64_t out_w = conv2d_output_size(x.dim(3), kernel, stride, padding);
  if (dy.dim(0) != x.dim(0) || dy.dim(2) != out_h || dy.dim(3) != out_w)
    throw ad::Error(
        fmt::format("{}: input {} with k={}, stride={}, padding={} gives [{}x(C_out)x{}x{}], "
                    "but the output gradient is {}",
                    op, shape_of(x), kernel, stride, padding, x.dim(0), out_h, out_w,
                    shape_of(dy)));
}

void check_patches(const char* op, int64_t height, int64_t width, int64_t kernel, int64_t stride,
                   int64_t padding) {
  if (kernel < 1 || stride < 1 || padding < 0)
    throw ad::Error(
        fmt::format("{}: need kernel >= 1, stride >= 1, padding >= 0; got kernel {}, "
                    "stride {}, padding {}",
                    op, kernel, stride, padding));
  if (height + 2 * padding < kernel || width + 2 * padding < kernel)
    throw ad::Error(fmt::format("{}: a {}x{} kernel does not fit in a {}x{} image with padding {}",
                                op, kernel, kernel, height, width, padding));
}

}  // namespace nn
