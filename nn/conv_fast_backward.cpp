// The first-order backward passes of nn::conv2d and nn::conv_transpose2d in one pass over
// the batch (nn/conv_fast.h). nn/conv.cpp writes each backward as the ops of the
// trilinear form T, one op per gradient, each op its own pass over the batch that unfolds
// its own patch matrices. Here each image's patch matrix is built once and used by both
// of its gemms while it is still in cache, and the bias gradient is summed from dY_n in the
// same pass. The ops form stays for create_graph (it records itself);
// tests/test_conv_fast.cpp checks that the two forms give the same gradients.
#include <algorithm>
#include <optional>
#include <type_traits>

#include "autodiff/runtime/gemm.h"
#include "nn/conv_fast.h"
#include "nn/conv_fast_batch.h"

namespace nn::conv_fast {

namespace {

// sums[c] += y[c, 0] + ... + y[c, pixels - 1], in double (a bias gradient sums N P values).
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

// A gradient of t's shape when it is wanted (every entry gets written), else undefined.
ad::Tensor gradient_of(const ad::Tensor& t, bool wanted) {
  return wanted ? ad::Tensor::empty(t.shape(), t.dtype()) : ad::Tensor();
}

ad::Tensor bias_gradient(int64_t channels, ad::DType dtype, bool wanted) {
  return wanted ? ad::Tensor::empty({channels}, dtype) : ad::Tensor();
}

template <class T>
T* data_or_null(ad::Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// The shared parameters' gradients, dW [rows, K] and db [channels], summed over the batch
// part by part (each part its own copies), then written into the gradients' tensors.
template <class T>
struct ParameterSums {
  PerPartSum<T, 0> weight;
  PerPartSum<double, 1> bias;
  void write(ad::Tensor& dw, ad::Tensor& db) const {
    if (dw.defined()) weight.reduce(dw.data<T>());
    if (db.defined()) bias.reduce(db.data<T>());
  }
};

// The weight packed as the dx gemm multiplies it: stored row-major as W [rows, K] (K =
// C k k, rows = dim 0), op(W) = W^T [K, rows] for conv2d, W itself for conv_transpose2d.
template <class T>
ad::PackedA<T> packed_weight(const ad::Tensor& weight, bool transposed) {
  const int64_t rows = weight.dim(0), K = weight.numel() / rows;
  return transposed ? ad::PackedA<T>(true, K, rows, weight.data<T>(), K)
                    : ad::PackedA<T>(false, rows, K, weight.data<T>(), K);
}

// What both backward passes share: the gradients' tensors, the batch cut into parts that
// the threads share (work_per_image multiply-adds each), the weight packed once for the dx
// gemms of all images, and dW and db summed in per-part copies.
// image(n, out) computes image n's share into the element type's pointers:
//   out.dx       dx's data (write image n's part), null when dx is not wanted;
//   out.weight   this part's dW to add into, null when not wanted;
//   out.bias     this part's db (in double) to add into, null when not wanted;
//   out.w        op(W) of the dx gemm, packed (when dx is wanted).
template <class T>
struct ImageOutputs {
  T* dx;
  T* weight;
  double* bias;
  const ad::PackedA<T>* w;
};

template <class Image>
Gradients backward_over_batch(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& dy,
                              Wanted wanted, bool w_transposed_in_dx, int64_t work_per_image,
                              Image&& image) {
  const int64_t batch = x.dim(0), channels = dy.dim(1);
  Gradients grads{gradient_of(x, wanted.x), gradient_of(weight, wanted.weight),
                  bias_gradient(channels, dy.dtype(), wanted.bias)};
  ad::dispatch(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* dx = data_or_null<T>(grads.x);
    std::optional<ad::PackedA<T>> w;
    if (wanted.x) w.emplace(packed_weight<T>(weight, w_transposed_in_dx));
    const int parts = image_parts(batch, (wanted.x + wanted.weight) * work_per_image);
    const ParameterSums<T> sums{{wanted.weight ? weight.numel() : 0, parts},
                                {wanted.bias ? channels : 0, parts}};
    for_each_image(batch, parts, [&](int64_t n, int part) {
      image(n, ImageOutputs<T>{dx, wanted.weight ? sums.weight.of(part) : nullptr,
                               wanted.bias ? sums.bias.of(part) : nullptr, w ? &*w : nullptr});
    });
    sums.write(grads.weight, grads.bias);
  });
  return grads;
}

}  // namespace

// Per image, with patches(x_n) [K, P] built once:
//   dW += dY_n patches(x_n)^T     [C_out, P] x [P, K]
//   db += dY_n 1
//   dx_n = fold(W^T dY_n)         [K, C_out] x [C_out, P], in the same buffer (the patches
//                                  are used up by then)
Gradients conv2d_backward(const ad::Tensor& x, const ad::Tensor& weight, const ad::Tensor& dy,
                          int64_t stride, int64_t padding, Wanted wanted) {
  const int64_t c_out = weight.dim(0);
  const Geometry g = Geometry::over(x.dim(1), x.dim(2), x.dim(3), weight.dim(2), stride, padding);
  const int64_t K = g.patch_size(), P = g.positions();
  // dx takes op(W) = W^T [K, C_out]
  return backward_over_batch(x, weight, dy, wanted, true, c_out * K * P, [&](int64_t n, auto out) {
    using T = std::remove_pointer_t<decltype(out.dx)>;
    T* patches = patch_buffer<T>(K * P);
    const T* dy_n = dy.data<T>() + n * c_out * P;
    if (out.weight) {
      unfold(x.data<T>() + n * g.image_size(), g, patches);
      ad::gemm(false, true, c_out, K, P, T(1), dy_n, P, patches, P, T(1), out.weight, K);
    }
    if (out.bias) add_row_sums(dy_n, c_out, P, out.bias);
    if (out.dx) {
      ad::gemm(*out.w, false, P, T(1), dy_n, P, T(0), patches, P);
      fold<T>(patches, g, nullptr, out.dx + n * g.image_size());  // onto zeros
    }
  });
}

// Per image, with patches(dY_n) [K, P] built once (the output is the image side):
//   dx_n = W patches(dY_n)        [C_in, K] x [K, P], a conv2d of dY
//   dW  += x_n patches(dY_n)^T    [C_in, P] x [P, K]
//   db  += dY_n 1
Gradients conv_transpose2d_backward(const ad::Tensor& x, const ad::Tensor& weight,
                                    const ad::Tensor& dy, int64_t stride, int64_t padding,
                                    Wanted wanted) {
  const int64_t c_in = weight.dim(0), c_out = weight.dim(1);
  const Geometry g = Geometry::over(c_out, dy.dim(2), dy.dim(3), weight.dim(2), stride, padding);
  const int64_t K = g.patch_size(), P = g.positions();
  // dx takes op(W) = W [C_in, K]
  return backward_over_batch(x, weight, dy, wanted, false, c_in * K * P, [&](int64_t n, auto out) {
    using T = std::remove_pointer_t<decltype(out.dx)>;
    const T* dy_n = dy.data<T>() + n * g.image_size();
    if (out.dx || out.weight) {
      T* patches = patch_buffer<T>(K * P);
      unfold(dy_n, g, patches);
      if (out.dx)
        ad::gemm(*out.w, false, P, T(1), patches, P, T(0), out.dx + n * c_in * P, P);
      if (out.weight)
        ad::gemm(false, true, c_in, K, P, T(1), x.data<T>() + n * c_in * P, P, patches, P, T(1),
                 out.weight, K);
    }
    if (out.bias) add_row_sums(dy_n, c_out, g.height * g.width, out.bias);
  });
}

}  // namespace nn::conv_fast
