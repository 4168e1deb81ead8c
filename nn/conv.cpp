// The convolutions: first im2col and col2im (recorded ops, plain loops) and the reference
// convolutions built from them with ad::matmul; then the fast conv2d and conv_transpose2d,
// one recorded op each, forward and backward side by side (the math is in nn/conv.h).
#include "nn/conv.h"

#include <fmt/format.h>

#include "autodiff/runtime/gemm.h"
#include "autodiff/runtime/isa.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "nn/conv_kernels.h"
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

// ---- argument checks, shared by the fast and the reference convolutions ----

namespace {

std::string shape_of(const ad::Tensor& t) { return ad::to_string(t.shape()); }

// Ranks, dtypes, stride >= 1 and padding >= 0; the bias [bias_size] (C_out: dim 0 of a
// conv2d weight, dim 1 of a conv_transpose2d weight). Messages name the op and the shapes.
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

void check_conv2d(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& bias,
                  int64_t stride, int64_t padding) {
  const char* op = "conv2d";
  check_conv_args(op, x, weight, bias, /*bias_dim=*/0, stride, padding);
  check_channels(op, x, weight, weight.dim(1));
  const int64_t k = weight.dim(2);
  if (x.dim(2) + 2 * padding < k || x.dim(3) + 2 * padding < k)
    throw ad::Error(
        fmt::format("{}: the {}x{} kernel of weight {} does not fit in input {} with padding {}",
                    op, k, k, shape_of(weight), shape_of(x), padding));
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

// y [N, C, H, W] + bias [C], broadcast over the batch and the pixels.
ad::Tensor add_channel_bias(const ad::Tensor& y, const ad::Tensor& bias) {
  if (!bias.defined()) return y;
  return y + ad::reshape(bias, {bias.dim(0), 1, 1});
}

}  // namespace

// ---- the reference convolutions: the definition, one recorded step at a time ----

// excerpt: conv2d_reference
ad::Tensor conv2d_reference(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& bias,
                            int64_t stride, int64_t padding) {
  check_conv2d(x, weight, bias, stride, padding);
  const int64_t n = x.dim(0), c_out = weight.dim(0), c_in = weight.dim(1), k = weight.dim(2);
  const int64_t out_h = conv2d_output_size(x.dim(2), k, stride, padding);
  const int64_t out_w = conv2d_output_size(x.dim(3), k, stride, padding);

  ad::Tensor cols = im2col(x, k, stride, padding);  // [N, HW_out, C_in k k]
  ad::Tensor w = ad::transpose(ad::reshape(weight, {c_out, c_in * k * k}));  // [C_in k k, C_out]
  ad::Tensor y = ad::matmul(cols, w);                                        // [N, HW_out, C_out]
  y = ad::reshape(ad::transpose(y, 1, 2), {n, c_out, out_h, out_w});         // channels first
  return add_channel_bias(y, bias);
}
// end excerpt: conv2d_reference

ad::Tensor conv_transpose2d_reference(const ad::Tensor& x, const ad::Tensor& weight,
                                      const ad::Tensor& bias, int64_t stride, int64_t padding,
                                      int64_t output_padding) {
  check_conv_transpose2d(x, weight, bias, stride, padding, output_padding);
  const int64_t n = x.dim(0), c_in = weight.dim(0), c_out = weight.dim(1), k = weight.dim(2);
  const int64_t h = x.dim(2), w = x.dim(3);
  const int64_t out_h = conv_transpose2d_output_size(h, k, stride, padding, output_padding);
  const int64_t out_w = conv_transpose2d_output_size(w, k, stride, padding, output_padding);

  // Each input pixel, as a row of C_in values, times W [C_in, C_out k k] gives the k x k
  // patch it paints into the output; col2im adds the overlapping patches up.
  ad::Tensor rows = ad::transpose(ad::reshape(x, {n, c_in, h * w}), 1, 2);  // [N, HW, C_in]
  ad::Tensor cols = ad::matmul(rows, ad::reshape(weight, {c_in, c_out * k * k}));
  ad::Tensor y = col2im(cols, c_out, out_h, out_w, k, stride, padding);
  return add_channel_bias(y, bias);
}

// ---- the fast convolutions: gemms on one image's patch matrix at a time ----

namespace {

namespace ck = conv_kernels;

// This thread's buffer for one image's patch matrix [K, P] (and, in the backward passes,
// for its gradient).
template <class T>
T* patch_buffer(int64_t count) {
  thread_local ck::Scratch<T> buffer;
  return buffer.get(count);
}

// y[c, :] = b[c] for each of the `channels` rows of `pixels` values, or 0 without a bias.
// The outputs are created uninitialised (ad::Tensor::empty) and written image by image,
// so each image is cleared just before it is used, while it is in cache anyway.
template <class T>
void fill_rows(T* y, const T* b, int64_t channels, int64_t pixels) {
  for (int64_t c = 0; c < channels; ++c) std::fill_n(y + c * pixels, pixels, b ? b[c] : T(0));
}

// sums[c] += y[c, 0] + ... + y[c, pixels - 1], in double (the bias gradient sums N P values).
// Eight running sums side by side: their additions are independent, so the CPU overlaps
// them, where a single running sum would wait for each addition before the next.
template <class T>
void add_row_sums(const T* y, int64_t channels, int64_t pixels, double* sums) {
  constexpr int kLanes = 8;
  for (int64_t c = 0; c < channels; ++c) {
    const T* row = y + c * pixels;
    double lanes[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= pixels; i += kLanes)
      for (int l = 0; l < kLanes; ++l) lanes[l] += row[i + l];
    double total = 0;
    for (; i < pixels; ++i) total += row[i];
    for (double lane : lanes) total += lane;
    sums[c] += total;
  }
}

// The shared parameters' gradients dW and db summed over the images, one copy per thread
// (null pointers: that gradient is not wanted).
template <class T>
class ParameterGrads {
 public:
  ParameterGrads(T* dw, int64_t weight_size, T* db, int64_t bias_size, int threads)
      : dw_(dw),
        db_(db),
        dw_sum_(dw_memory(), dw ? weight_size : 0, threads),
        db_sum_(db_memory(), db ? bias_size : 0, threads) {}
  bool want_weight() const { return dw_ != nullptr; }
  bool want_bias() const { return db_ != nullptr; }
  T* weight(int thread) const { return dw_sum_.of(thread); }
  double* bias(int thread) const { return db_sum_.of(thread); }
  void finish() const {  // adds the threads' copies into dW and db
    if (dw_) dw_sum_.reduce(dw_);
    if (db_) db_sum_.reduce(db_);
  }

 private:
  static ck::Scratch<T>& dw_memory() {
    thread_local ck::Scratch<T> memory;
    return memory;
  }
  static ck::Scratch<double>& db_memory() {
    thread_local ck::Scratch<double> memory;
    return memory;
  }
  T* dw_;
  T* db_;
  ck::PerThreadSum<T> dw_sum_;
  ck::PerThreadSum<double> db_sum_;
};

// conv2d's data as raw pointers: x [N, C_in, H, W], the weight as the matrix W [C_out, K],
// bias b [C_out] or null, y [N, C_out, P]; the geometry g has x_n on its image side.
template <class T>
struct Conv2dData {
  const T *x, *w, *b;
  int64_t batch, c_out;
  ck::Geometry g;
};

// Forward, image by image:  Y_n [C_out, P] = W [C_out, K] patches(x_n) [K, P] + b 1^T.
template <class T>
void conv2d_forward(const Conv2dData<T>& d, T* y) {
  const int64_t K = d.g.patch_size(), P = d.g.positions();
  ck::for_each_image(d.batch, ck::image_threads(d.batch, d.c_out * K * P), [&](int64_t n, int) {
    T* patches = patch_buffer<T>(K * P);
    ck::unfold(d.x + n * d.g.image_size(), d.g, patches);
    T* y_n = y + n * d.c_out * P;
    if (d.b) fill_rows(y_n, d.b, d.c_out, P);  // gemm's beta = 1 adds W patches onto it
    ad::gemm(false, false, d.c_out, P, K, T(1), d.w, K, patches, P, T(d.b ? 1 : 0), y_n, P);
    // (beta = 0 without a bias: gemm overwrites y_n, whatever it held)
  });
}

// Backward, from dY [N, C_out, P]; every entry of dx, dw and db is written:
//   dW += dY_n patches(x_n)^T       [C_out, P] x [P, K]
//   db += dY_n 1
//   dx_n = fold(W^T dY_n)           [K, C_out] x [C_out, P], each entry back onto its pixel
template <class T>
void conv2d_backward(const Conv2dData<T>& d, const T* dy, T* dx, T* dw, T* db) {
  const int64_t K = d.g.patch_size(), P = d.g.positions();
  const int threads = ck::image_threads(d.batch, 2 * d.c_out * K * P);
  const ParameterGrads<T> grads(dw, d.c_out * K, db, d.c_out, threads);
  ck::for_each_image(d.batch, threads, [&](int64_t n, int thread) {
    T* patches = patch_buffer<T>(K * P);
    const T* dy_n = dy + n * d.c_out * P;
    if (grads.want_weight()) {
      ck::unfold(d.x + n * d.g.image_size(), d.g, patches);  // rebuilt, not kept from forward
      ad::gemm(false, true, d.c_out, K, P, T(1), dy_n, P, patches, P, T(1), grads.weight(thread),
               K);
    }
    if (grads.want_bias()) add_row_sums(dy_n, d.c_out, P, grads.bias(thread));
    if (dx) {
      T* dpatches = patches;  // the patches are used up: their buffer takes the gradient
      ad::gemm(true, false, K, P, d.c_out, T(1), d.w, K, dy_n, P, T(0), dpatches, P);
      T* dx_n = dx + n * d.g.image_size();
      std::fill_n(dx_n, d.g.image_size(), T(0));
      ck::fold_add(dpatches, d.g, dx_n);
    }
  });
  grads.finish();
}

// conv_transpose2d's data: x [N, C_in, H, W] (H W = P, the grid), the weight as the matrix
// W [C_in, K] with K = C_out k k, bias b [C_out] or null; the geometry g has the output
// y_n [C_out, H_out, W_out] on its image side.
template <class T>
struct ConvTranspose2dData {
  const T *x, *w, *b;
  int64_t batch, c_in;
  ck::Geometry g;
};

// Forward, image by image:  y_n = fold(W^T x_n) + b 1^T   ([K, C_in] x [C_in, P], then
// each entry of the [K, P] result added onto its output pixel).
template <class T>
void conv_transpose2d_forward(const ConvTranspose2dData<T>& d, T* y) {
  const int64_t K = d.g.patch_size(), P = d.g.positions(), pixels = d.g.height * d.g.width;
  ck::for_each_image(d.batch, ck::image_threads(d.batch, d.c_in * K * P), [&](int64_t n, int) {
    T* patches = patch_buffer<T>(K * P);
    ad::gemm(true, false, K, P, d.c_in, T(1), d.w, K, d.x + n * d.c_in * P, P, T(0), patches, P);
    T* y_n = y + n * d.g.image_size();
    fill_rows(y_n, d.b, d.g.channels, pixels);  // fold_add adds onto the bias (or zeros)
    ck::fold_add(patches, d.g, y_n);
  });
}

// Backward, from dY [N, C_out, H_out, W_out]:
//   dx_n = W patches(dY_n)          [C_in, K] x [K, P]: a conv2d forward of dY
//   dW  += x_n patches(dY_n)^T      [C_in, P] x [P, K]
//   db  += dY_n 1
template <class T>
void conv_transpose2d_backward(const ConvTranspose2dData<T>& d, const T* dy, T* dx, T* dw, T* db) {
  const int64_t K = d.g.patch_size(), P = d.g.positions(), pixels = d.g.height * d.g.width;
  const int threads = ck::image_threads(d.batch, 2 * d.c_in * K * P);
  const ParameterGrads<T> grads(dw, d.c_in * K, db, d.g.channels, threads);
  ck::for_each_image(d.batch, threads, [&](int64_t n, int thread) {
    const T* dy_n = dy + n * d.g.image_size();
    if (dx || grads.want_weight()) {
      T* patches = patch_buffer<T>(K * P);
      ck::unfold(dy_n, d.g, patches);
      if (dx)
        ad::gemm(false, false, d.c_in, P, K, T(1), d.w, K, patches, P, T(0), dx + n * d.c_in * P,
                 P);
      if (grads.want_weight())
        ad::gemm(false, true, d.c_in, K, P, T(1), d.x + n * d.c_in * P, P, patches, P, T(1),
                 grads.weight(thread), K);
    }
    if (grads.want_bias()) add_row_sums(dy_n, d.g.channels, pixels, grads.bias(thread));
  });
  grads.finish();
}

// What a backward pass writes into (every entry): a gradient of t's shape when t wants one.
ad::Tensor grad_buffer(const ad::Tensor& t) {
  return t.defined() && t.requires_grad() ? ad::Tensor::empty(t.shape(), t.dtype()) : ad::Tensor();
}

template <class T>
T* data_or_null(ad::Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

template <class T>
const T* data_or_null(const ad::Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// The op's inputs as the tape sees them: without a bias, only two.
std::vector<ad::Tensor> conv_inputs(const ad::Tensor& x, const ad::Tensor& weight,
                                    const ad::Tensor& bias) {
  if (bias.defined()) return {x, weight, bias};
  return {x, weight};
}

// One gradient per input, in that order (undefined where none was wanted).
ad::Grads conv_grads(const ad::Tensor& bias, ad::Tensor dx, ad::Tensor dw, ad::Tensor db) {
  if (bias.defined()) return {dx, dw, db};
  return {dx, dw};
}

// ---- the backward passes as recorded ops, for create_graph ----
// The fast backward passes above record nothing; to differentiate a gradient again, the
// same formulas run as ops whose own backward passes exist: the backward of the reference
// convolutions (im2col / col2im, matmul, transpose, reshape), written out.

bool wants_grad(const ad::Tensor& t) { return t.defined() && t.requires_grad(); }

// db = dY summed over the batch and the pixels, per channel.
ad::Tensor channel_sums(const ad::Tensor& dy) {
  return ad::reshape(ad::sum_to(dy, {dy.dim(1), 1, 1}), {dy.dim(1)});
}

// conv2d, with the weight as W [C_out, K] and dY_n as [P, C_out]:
//   dx = col2im(dY W),  dW = sum_n dY_n^T im2col(x)_n,  db = channel sums of dY.
ad::Grads conv2d_backward_recorded(const ad::Tensor& dy, const ad::Tensor& x,
                                   const ad::Tensor& weight, const ad::Tensor& bias,
                                   int64_t stride, int64_t padding) {
  const int64_t n = x.dim(0), c_out = weight.dim(0), k = weight.dim(2);
  const ad::Tensor dY = ad::transpose(ad::reshape(dy, {n, c_out, -1}), 1, 2);  // [N, P, C_out]
  const ad::Tensor w = ad::reshape(weight, {c_out, -1});                       // [C_out, K]
  ad::Tensor dx, dw, db;
  if (wants_grad(x))
    dx = col2im(ad::matmul(dY, w), x.dim(1), x.dim(2), x.dim(3), k, stride, padding);
  if (wants_grad(weight)) {
    const ad::Tensor cols = im2col(x, k, stride, padding);  // [N, P, K]
    dw = ad::reshape(ad::sum(ad::matmul(ad::transpose(dY, 1, 2), cols), 0), weight.shape());
  }
  if (wants_grad(bias)) db = channel_sums(dy);
  return conv_grads(bias, dx, dw, db);
}

// conv_transpose2d, with the weight as W [C_in, K] and x_n as rows [HW, C_in]:
//   dcols = im2col(dY),  dx = (dcols W^T) as [C_in, H, W],  dW = sum_n rows_n^T dcols_n.
ad::Grads conv_transpose2d_backward_recorded(const ad::Tensor& dy, const ad::Tensor& x,
                                             const ad::Tensor& weight, const ad::Tensor& bias,
                                             int64_t stride, int64_t padding) {
  const int64_t n = x.dim(0), c_in = weight.dim(0), k = weight.dim(2);
  const ad::Tensor dcols = im2col(dy, k, stride, padding);  // [N, HW, K]
  const ad::Tensor w = ad::reshape(weight, {c_in, -1});      // [C_in, K]
  ad::Tensor dx, dw, db;
  if (wants_grad(x))
    dx = ad::reshape(ad::transpose(ad::matmul(dcols, ad::transpose(w)), 1, 2), x.shape());
  if (wants_grad(weight)) {
    const ad::Tensor rows = ad::transpose(ad::reshape(x, {n, c_in, -1}), 1, 2);  // [N, HW, C_in]
    dw = ad::reshape(ad::sum(ad::matmul(ad::transpose(rows, 1, 2), dcols), 0), weight.shape());
  }
  if (wants_grad(bias)) db = channel_sums(dy);
  return conv_grads(bias, dx, dw, db);
}

std::string conv_attrs(int64_t k, int64_t stride, int64_t padding) {
  return fmt::format("k={}, stride={}, padding={}", k, stride, padding);
}

}  // namespace

ad::Tensor conv2d(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& bias,
                  int64_t stride, int64_t padding) {
  check_conv2d(x, weight, bias, stride, padding);
  if (ad::active_isa() == ad::Isa::reference)
    return conv2d_reference(x, weight, bias, stride, padding);
  const int64_t k = weight.dim(2), c_out = weight.dim(0);
  const ck::Geometry g = ck::Geometry::over(x.dim(1), x.dim(2), x.dim(3), k, stride, padding);

  ad::Tensor y = ad::Tensor::empty({x.dim(0), c_out, g.grid_h, g.grid_w}, x.dtype());
  ad::dispatch(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    conv2d_forward<T>({x.data<T>(), weight.data<T>(), data_or_null<T>(bias), x.dim(0), c_out, g},
                      y.data<T>());
  });
  ad::tape().record(
      "conv2d", conv_inputs(x, weight, bias), y,
      [x, weight, bias, g, c_out, stride, padding](const ad::Tensor& dy) -> ad::Grads {
        if (ad::differentiable_backward())
          return conv2d_backward_recorded(dy, x, weight, bias, stride, padding);
        ad::Tensor dx = grad_buffer(x), dw = grad_buffer(weight), db = grad_buffer(bias);
        ad::dispatch(x.dtype(), [&](auto zero) {
          using T = decltype(zero);
          const Conv2dData<T> d{
              x.data<T>(), weight.data<T>(), data_or_null<T>(bias), x.dim(0), c_out, g};
          conv2d_backward<T>(d, dy.data<T>(), data_or_null<T>(dx), data_or_null<T>(dw),
                             data_or_null<T>(db));
        });
        return conv_grads(bias, dx, dw, db);
      },
      conv_attrs(k, stride, padding));
  return y;
}

ad::Tensor conv_transpose2d(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& bias,
                            int64_t stride, int64_t padding, int64_t output_padding) {
  check_conv_transpose2d(x, weight, bias, stride, padding, output_padding);
  if (ad::active_isa() == ad::Isa::reference)
    return conv_transpose2d_reference(x, weight, bias, stride, padding, output_padding);
  const int64_t k = weight.dim(2), c_in = weight.dim(0), c_out = weight.dim(1);
  // The output is the image side; the input's pixels are the grid of kernel positions
  // (a conv2d over the output gives the input's size back, as output_padding < stride).
  const ck::Geometry g = ck::Geometry::over(
      c_out, conv_transpose2d_output_size(x.dim(2), k, stride, padding, output_padding),
      conv_transpose2d_output_size(x.dim(3), k, stride, padding, output_padding), k, stride,
      padding);

  ad::Tensor y = ad::Tensor::empty({x.dim(0), c_out, g.height, g.width}, x.dtype());
  ad::dispatch(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    conv_transpose2d_forward<T>(
        {x.data<T>(), weight.data<T>(), data_or_null<T>(bias), x.dim(0), c_in, g}, y.data<T>());
  });
  ad::tape().record(
      "conv_transpose2d", conv_inputs(x, weight, bias), y,
      [x, weight, bias, g, c_in, stride, padding](const ad::Tensor& dy) -> ad::Grads {
        if (ad::differentiable_backward())
          return conv_transpose2d_backward_recorded(dy, x, weight, bias, stride, padding);
        ad::Tensor dx = grad_buffer(x), dw = grad_buffer(weight), db = grad_buffer(bias);
        ad::dispatch(x.dtype(), [&](auto zero) {
          using T = decltype(zero);
          const ConvTranspose2dData<T> d{
              x.data<T>(), weight.data<T>(), data_or_null<T>(bias), x.dim(0), c_in, g};
          conv_transpose2d_backward<T>(d, dy.data<T>(), data_or_null<T>(dx), data_or_null<T>(dw),
                                       data_or_null<T>(db));
        });
        return conv_grads(bias, dx, dw, db);
      },
      fmt::format("{}, output_padding={}", conv_attrs(k, stride, padding), output_padding));
  return y;
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
