#include "nn/conv_layers.h"

#include <fmt/format.h>

#include <algorithm>

#include "nn/conv.h"
#include "nn/init.h"

namespace nn {

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, ad::Rng& rng,
               const ConvOptions& options)
    : in_channels(in_channels),
      out_channels(out_channels),
      kernel_size(kernel_size),
      stride(options.stride),
      padding(options.padding) {
  if (in_channels < 1 || out_channels < 1 || kernel_size < 1)
    throw ad::Error(fmt::format("Conv2d: channels and kernel size must be positive, got {}, {}, {}",
                                in_channels, out_channels, kernel_size));
  if (options.output_padding != 0)
    throw ad::Error("Conv2d: output_padding is an option of ConvTranspose2d only");
  weight = ad::Tensor::zeros({out_channels, in_channels, kernel_size, kernel_size}, options.dtype);
  init::kaiming_uniform_(weight, in_channels * kernel_size * kernel_size, rng);
  register_parameter("weight", weight);
  if (options.bias) {
    bias = ad::Tensor::zeros({out_channels}, options.dtype);
    register_parameter("bias", bias);
  }
}

ad::Tensor Conv2d::forward(const ad::Tensor& x) { return conv2d(x, weight, bias, stride, padding); }

ConvTranspose2d::ConvTranspose2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                                 ad::Rng& rng, const ConvOptions& options)
    : in_channels(in_channels),
      out_channels(out_channels),
      kernel_size(kernel_size),
      stride(options.stride),
      padding(options.padding),
      output_padding(options.output_padding) {
  if (in_channels < 1 || out_channels < 1 || kernel_size < 1 || stride < 1)
    throw ad::Error(
        fmt::format("ConvTranspose2d: channels, kernel size and stride must be "
                    "positive, got {}, {}, {}, {}",
                    in_channels, out_channels, kernel_size, stride));
  weight = ad::Tensor::zeros({in_channels, out_channels, kernel_size, kernel_size}, options.dtype);
  const int64_t fan_in =
      std::max<int64_t>(1, in_channels * kernel_size * kernel_size / (stride * stride));
  init::kaiming_uniform_(weight, fan_in, rng);
  register_parameter("weight", weight);
  if (options.bias) {
    bias = ad::Tensor::zeros({out_channels}, options.dtype);
    register_parameter("bias", bias);
  }
}

ad::Tensor ConvTranspose2d::forward(const ad::Tensor& x) {
  return conv_transpose2d(x, weight, bias, stride, padding, output_padding);
}

}  // namespace nn
