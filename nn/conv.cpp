// im2col and col2im (the two recorded ops, forward and backward side by side), then the
// convolutions built from them with ad::matmul.
#include "nn/conv.h"

#include <fmt/format.h>

#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "nn/init.h"

namespace nn {

namespace {

// Everything im2col and col2im need to know about one convolution.
struct PatchGeometry {
  int64_t batch, channels, height, width;  // the image side: [N, C, H, W]
  int64_t kernel, stride, padding;
  int64_t out_h, out_w;                                              // the patch grid
  int64_t patches() const { return out_h * out_w; }                  // rows per image
  int64_t patch_size() const { return channels * kernel * kernel; }  // columns
};

PatchGeometry make_geometry(const char* op, int64_t batch, int64_t channels, int64_t height,
                            int64_t width, int64_t kernel, int64_t stride, int64_t padding) {
  if (kernel < 1 || stride < 1 || padding < 0)
    throw ad::Error(
        fmt::format("{}: need kernel >= 1, stride >= 1, padding >= 0; got kernel {}, "
                    "stride {}, padding {}",
                    op, kernel, stride, padding));
  if (height + 2 * padding < kernel || width + 2 * padding < kernel)
    throw ad::Error(fmt::format("{}: a {}x{} kernel does not fit in a {}x{} image with padding {}",
                                op, kernel, kernel, height, width, padding));
  return {batch,
          channels,
          height,
          width,
          kernel,
          stride,
          padding,
          conv2d_output_size(height, kernel, stride, padding),
          conv2d_output_size(width, kernel, stride, padding)};
}

// Parallelise the loops only when there is enough work to pay for starting threads.
constexpr int64_t kParallelWork = 1 << 15;

// cols[n, oh * out_w + ow, (c * k + kh) * k + kw] = x[n, c, oh * s - p + kh, ow * s - p + kw]
template <class T>
void im2col_kernel(const T* x, T* cols, const PatchGeometry& g) {
  const int64_t k = g.kernel, rows = g.batch * g.out_h;
#pragma omp parallel for if (rows * g.out_w * g.patch_size() > kParallelWork)
  for (int64_t r = 0; r < rows; ++r) {  // one (image, output row) pair per iteration
    const int64_t n = r / g.out_h, oh = r % g.out_h;
    T* dst = cols + r * g.out_w * g.patch_size();
    for (int64_t ow = 0; ow < g.out_w; ++ow)
      for (int64_t c = 0; c < g.channels; ++c) {
        const T* image = x + (n * g.channels + c) * g.height * g.width;
        for (int64_t kh = 0; kh < k; ++kh) {
          const int64_t ih = oh * g.stride - g.padding + kh;
          for (int64_t kw = 0; kw < k; ++kw) {
            const int64_t iw = ow * g.stride - g.padding + kw;
            const bool inside = ih >= 0 && ih < g.height && iw >= 0 && iw < g.width;
            *dst++ = inside ? image[ih * g.width + iw] : T(0);
          }
        }
      }
  }
}

// The same index map read backwards, adding instead of copying (a pixel covered by
// several patches collects all of their entries). Images are independent, so the batch
// is split over threads; within one image the sums would collide.
template <class T>
void col2im_kernel(const T* cols, T* x, const PatchGeometry& g) {
  const int64_t k = g.kernel;
#pragma omp parallel for if (g.batch * g.patches() * g.patch_size() > kParallelWork)
  for (int64_t n = 0; n < g.batch; ++n) {
    const T* src = cols + n * g.patches() * g.patch_size();
    for (int64_t oh = 0; oh < g.out_h; ++oh)
      for (int64_t ow = 0; ow < g.out_w; ++ow)
        for (int64_t c = 0; c < g.channels; ++c) {
          T* image = x + (n * g.channels + c) * g.height * g.width;
          for (int64_t kh = 0; kh < k; ++kh) {
            const int64_t ih = oh * g.stride - g.padding + kh;
            for (int64_t kw = 0; kw < k; ++kw, ++src) {
              const int64_t iw = ow * g.stride - g.padding + kw;
              if (ih >= 0 && ih < g.height && iw >= 0 && iw < g.width)
                image[ih * g.width + iw] += *src;
            }
          }
        }
  }
}

std::string attrs(const PatchGeometry& g) {
  return fmt::format("k={}, stride={}, padding={}", g.kernel, g.stride, g.padding);
}

}  // namespace

int64_t conv2d_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding) {
  return (in + 2 * padding - kernel) / stride + 1;
}

int64_t conv_transpose2d_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding,
                                     int64_t output_padding) {
  return (in - 1) * stride - 2 * padding + kernel + output_padding;
}

ad::Tensor im2col(const ad::Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  if (x.rank() != 4)
    throw ad::Error(
        fmt::format("im2col: input has shape {}; expected [N, C, H, W]", ad::to_string(x.shape())));
  const PatchGeometry g =
      make_geometry("im2col", x.dim(0), x.dim(1), x.dim(2), x.dim(3), kernel, stride, padding);
  ad::Tensor cols = ad::Tensor::zeros({g.batch, g.patches(), g.patch_size()}, x.dtype());
  ad::dispatch(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    im2col_kernel(x.data<T>(), cols.data<T>(), g);
  });
  ad::tape().record(
      "im2col", {x}, cols,
      [g](const ad::Tensor& grad) -> ad::Grads {
        return {col2im(grad, g.channels, g.height, g.width, g.kernel, g.stride, g.padding)};
      },
      attrs(g));
  return cols;
}

ad::Tensor col2im(const ad::Tensor& cols, int64_t channels, int64_t height, int64_t width,
                  int64_t kernel, int64_t stride, int64_t padding) {
  if (cols.rank() != 3)
    throw ad::Error(fmt::format("col2im: input has shape {}; expected [N, patches, C*k*k]",
                                ad::to_string(cols.shape())));
  const PatchGeometry g =
      make_geometry("col2im", cols.dim(0), channels, height, width, kernel, stride, padding);
  if (cols.dim(1) != g.patches() || cols.dim(2) != g.patch_size())
    throw ad::Error(
        fmt::format("col2im: input has shape {}; a {}-channel {}x{} image with {}"
                    " has {}x{} patches of {} values, so expected [{}x{}x{}]",
                    ad::to_string(cols.shape()), channels, height, width, attrs(g), g.out_h,
                    g.out_w, g.patch_size(), g.batch, g.patches(), g.patch_size()));
  ad::Tensor x = ad::Tensor::zeros({g.batch, channels, height, width}, cols.dtype());
  ad::dispatch(cols.dtype(), [&](auto zero) {
    using T = decltype(zero);
    col2im_kernel(cols.data<T>(), x.data<T>(), g);
  });
  ad::tape().record(
      "col2im", {cols}, x,
      [g](const ad::Tensor& grad) -> ad::Grads {
        return {im2col(grad, g.kernel, g.stride, g.padding)};
      },
      attrs(g));
  return x;
}

namespace {

void check_conv_args(const char* op, const ad::Tensor& x, const ad::Tensor& weight,
                     const ad::Tensor& bias, int64_t bias_size) {
  if (x.rank() != 4)
    throw ad::Error(
        fmt::format("{}: input has shape {}; expected [N, C, H, W]", op, ad::to_string(x.shape())));
  if (weight.rank() != 4 || weight.dim(2) != weight.dim(3))
    throw ad::Error(
        fmt::format("{}: weight has shape {}; expected 4 dimensions with a square "
                    "k x k kernel last",
                    op, ad::to_string(weight.shape())));
  if (bias.defined() && (bias.rank() != 1 || bias.dim(0) != bias_size))
    throw ad::Error(fmt::format("{}: bias has shape {}; expected [{}]", op,
                                ad::to_string(bias.shape()), bias_size));
}

// y [N, C, H, W] + bias [C], broadcast over the batch and the pixels.
ad::Tensor add_channel_bias(const ad::Tensor& y, const ad::Tensor& bias) {
  if (!bias.defined()) return y;
  return y + ad::reshape(bias, {bias.dim(0), 1, 1});
}

}  // namespace

ad::Tensor conv2d(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& bias,
                  int64_t stride, int64_t padding) {
  check_conv_args("conv2d", x, weight, bias, weight.rank() == 4 ? weight.dim(0) : 0);
  const int64_t n = x.dim(0), c_out = weight.dim(0), c_in = weight.dim(1), k = weight.dim(2);
  if (x.dim(1) != c_in)
    throw ad::Error(fmt::format("conv2d: input {} has {} channels, the weight {} expects {}",
                                ad::to_string(x.shape()), x.dim(1), ad::to_string(weight.shape()),
                                c_in));
  const int64_t out_h = conv2d_output_size(x.dim(2), k, stride, padding);
  const int64_t out_w = conv2d_output_size(x.dim(3), k, stride, padding);

  ad::Tensor cols = im2col(x, k, stride, padding);  // [N, HW_out, C_in k k]
  ad::Tensor w = ad::transpose(ad::reshape(weight, {c_out, c_in * k * k}));  // [C_in k k, C_out]
  ad::Tensor y = ad::matmul(cols, w);                                        // [N, HW_out, C_out]
  y = ad::reshape(ad::transpose(y, 1, 2), {n, c_out, out_h, out_w});         // channels first
  return add_channel_bias(y, bias);
}

ad::Tensor conv_transpose2d(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& bias,
                            int64_t stride, int64_t padding, int64_t output_padding) {
  check_conv_args("conv_transpose2d", x, weight, bias, weight.rank() == 4 ? weight.dim(1) : 0);
  const int64_t n = x.dim(0), c_in = weight.dim(0), c_out = weight.dim(1), k = weight.dim(2);
  if (x.dim(1) != c_in)
    throw ad::Error(
        fmt::format("conv_transpose2d: input {} has {} channels, the weight {} "
                    "expects {}",
                    ad::to_string(x.shape()), x.dim(1), ad::to_string(weight.shape()), c_in));
  if (stride < 1 || output_padding < 0 || output_padding >= stride)
    throw ad::Error(
        fmt::format("conv_transpose2d: output_padding = {} must be in [0, stride = "
                    "{})",
                    output_padding, stride));
  const int64_t h = x.dim(2), w = x.dim(3);
  const int64_t out_h = conv_transpose2d_output_size(h, k, stride, padding, output_padding);
  const int64_t out_w = conv_transpose2d_output_size(w, k, stride, padding, output_padding);
  if (out_h < 1 || out_w < 1)
    throw ad::Error(
        fmt::format("conv_transpose2d: input {} with k={}, stride={}, padding={} "
                    "gives an empty {}x{} output",
                    ad::to_string(x.shape()), k, stride, padding, out_h, out_w));

  // Each input pixel, as a row of C_in values, times W [C_in, C_out k k] gives the k x k
  // patch it paints into the output; col2im adds the overlapping patches up.
  ad::Tensor rows = ad::transpose(ad::reshape(x, {n, c_in, h * w}), 1, 2);  // [N, HW, C_in]
  ad::Tensor cols = ad::matmul(rows, ad::reshape(weight, {c_in, c_out * k * k}));
  ad::Tensor y = col2im(cols, c_out, out_h, out_w, k, stride, padding);
  return add_channel_bias(y, bias);
}

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
