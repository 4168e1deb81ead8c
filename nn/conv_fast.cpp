// The three products of nn/conv_fast.h, one gemm per image, the batch cut into parts that
// the threads share (nn/conv_fast_batch.h).
#include "nn/conv_fast.h"

#include <algorithm>

#include "autodiff/runtime/gemm.h"
#include "nn/conv_fast_batch.h"

namespace nn::conv_fast {

// Y_n [C_out, P] = W [C_out, K] patches(x_n) [K, P] + b 1^T
ad::Tensor conv2d(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& bias,
                  int64_t stride, int64_t padding) {
  const int64_t batch = x.dim(0), c_out = weight.dim(0);
  const Geometry g = Geometry::over(x.dim(1), x.dim(2), x.dim(3), weight.dim(2), stride, padding);
  const int64_t K = g.patch_size(), P = g.positions();
  ad::Tensor y = ad::Tensor::empty({batch, c_out, g.grid_h, g.grid_w}, x.dtype());
  ad::dispatch(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T *xs = x.data<T>(), *w = weight.data<T>(), *b = data_or_null<T>(bias);
    T* ys = y.data<T>();
    const ad::PackedA<T> packed_w(false, c_out, K, w, K);  // once for all images
    for_each_image(batch, image_parts(batch, c_out * K * P), [&](int64_t n, int) {
      T* patches = patch_buffer<T>(K * P);
      unfold(xs + n * g.image_size(), g, patches);
      T* y_n = ys + n * c_out * P;
      if (b) fill_rows(y_n, b, c_out, P);  // gemm's beta = 1 adds W patches onto it
      // (beta = 0 without a bias: gemm overwrites y_n, whatever it held)
      ad::gemm(packed_w, false, P, T(1), patches, P, T(b ? 1 : 0), y_n, P);
    });
  });
  return y;
}

// y_n = fold(W^T [K, C_in] x_n [C_in, P]) + b 1^T. The output is the image side and the
// input's pixels are the grid (a conv2d over the output gives the input's size back).
ad::Tensor conv_transpose2d(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& bias,
                            int64_t stride, int64_t padding, int64_t out_h, int64_t out_w) {
  const int64_t batch = x.dim(0), c_in = weight.dim(0), c_out = weight.dim(1);
  const Geometry g = Geometry::over(c_out, out_h, out_w, weight.dim(2), stride, padding);
  const int64_t K = g.patch_size(), P = g.positions();
  ad::Tensor y = ad::Tensor::empty({batch, c_out, out_h, out_w}, x.dtype());
  ad::dispatch(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T *xs = x.data<T>(), *w = weight.data<T>(), *b = data_or_null<T>(bias);
    T* ys = y.data<T>();
    const ad::PackedA<T> packed_w(true, K, c_in, w, K);  // W^T [K, C_in], once for all images
    for_each_image(batch, image_parts(batch, c_in * K * P), [&](int64_t n, int) {
      T* patches = patch_buffer<T>(K * P);
      ad::gemm(packed_w, false, P, T(1), xs + n * c_in * P, P, T(0), patches, P);
      fold(patches, g, b, ys + n * g.image_size());  // onto the bias (or zeros)
    });
  });
  return y;
}

// dW [C_out, K] = sum_n dY_n [C_out, P] patches(x_n)^T [P, K], each part of the batch its
// own sum.
// The patches are rebuilt here rather than kept from the forward pass.
ad::Tensor conv2d_weight_grad(const ad::Tensor& x, const ad::Tensor& dy, int64_t kernel,
                              int64_t stride, int64_t padding) {
  const int64_t batch = x.dim(0), c_out = dy.dim(1);
  const Geometry g = Geometry::over(x.dim(1), x.dim(2), x.dim(3), kernel, stride, padding);
  const int64_t K = g.patch_size(), P = g.positions();
  ad::Tensor dw = ad::Tensor::empty({c_out, x.dim(1), kernel, kernel}, x.dtype());
  ad::dispatch(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T *xs = x.data<T>(), *dys = dy.data<T>();
    const int parts = image_parts(batch, c_out * K * P);
    const PerPartSum<T> sums(c_out * K, parts);
    for_each_image(batch, parts, [&](int64_t n, int part) {
      T* patches = patch_buffer<T>(K * P);
      unfold(xs + n * g.image_size(), g, patches);
      ad::gemm(false, true, c_out, K, P, T(1), dys + n * c_out * P, P, patches, P, T(1),
               sums.of(part), K);
    });
    sums.reduce(dw.data<T>());
  });
  return dw;
}

}  // namespace nn::conv_fast
