// im2col and col2im: one index map, read forwards (copying) and backwards (adding).
#include "nn/conv_im2col.h"

#include <fmt/format.h>

#include "autodiff/tape.h"
#include "nn/conv.h"
#include "nn/conv_checks.h"

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
  check_patches(op, height, width, kernel, stride, padding);
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

}  // namespace nn
