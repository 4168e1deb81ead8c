// The three products of nn/conv_fast.h, one gemm per image, the batch split over threads.
#include "nn/conv_fast.h"

#include <algorithm>

#include "autodiff/runtime/gemm.h"
#include "autodiff/runtime/parallel.h"
#include "autodiff/runtime/scratch.h"

namespace nn::conv_fast {

namespace {

// How many threads to split a batch over, given the multiply-adds of one image.
// Every thread gets at least two images (so the split is nearly even) and at least the
// 500k multiply-adds below which gemm.cpp does not start a thread either. With fewer
// images than that (batch 1, say) the images run one after another and each gemm may
// split its own product over the threads instead.
int image_threads(int64_t batch, int64_t work_per_image) {
  constexpr int64_t min_work_per_thread = 500'000;  // multiply-adds, as in gemm.cpp
  if (ad::in_parallel_part()) return 1;
  const int64_t by_images = batch / 2;
  const int64_t by_work = batch * work_per_image / min_work_per_thread;
  const int64_t threads = std::min<int64_t>({ad::max_threads(), by_images, by_work});
  return static_cast<int>(std::max<int64_t>(1, threads));
}

// Calls body(n, part) for every image n in [0, batch), the batch cut into `threads`
// contiguous parts of equal share. A part runs on one thread at a time, so the part number
// can index per-thread sums (ad::parallel_for: a part no other thread has started is
// taken by the caller, so a busy machine never waits for a thread). A gemm inside body
// runs on its caller's thread alone (gemm.cpp's threads_for sees ad::in_parallel_part()).
template <class F>
void for_each_image(int64_t batch, int threads, F&& body) {
  ad::parallel_for(threads, [&](int part) {
    const int64_t begin = batch * part / threads, end = batch * (part + 1) / threads;
    for (int64_t n = begin; n < end; ++n) body(n, part);
  });
}

// This thread's buffer for one image's patch matrix [K, P]: a growing aligned buffer kept
// in a thread_local, so the steady state of a training loop allocates nothing.
template <class T>
T* patch_buffer(int64_t count) {
  thread_local ad::Scratch<T> buffer;
  return buffer.get(count);
}

// A sum over the batch computed by several threads, dW = sum_n dW_n: each thread adds
// into its own zeroed copy, and reduce() adds the copies up in thread order, so a run with
// the same number of threads always gives the same bits.
template <class T>
class PerThreadSum {
 public:
  PerThreadSum(int64_t size, int threads)
      : copies_(memory().get(size * threads)), size_(size), threads_(threads) {
    std::fill(copies_, copies_ + size * threads, T(0));
  }
  T* of(int thread) const { return copies_ + thread * size_; }

  void reduce(T* out) const {  // out[i] = sum over threads of copy[i]
    for (int64_t i = 0; i < size_; ++i) {
      T total = 0;
      for (int t = 0; t < threads_; ++t) total += copies_[t * size_ + i];
      out[i] = total;
    }
  }

 private:
  static ad::Scratch<T>& memory() {
    thread_local ad::Scratch<T> buffer;
    return buffer;
  }
  T* copies_;
  int64_t size_;
  int threads_;
};

// y[c, :] = b[c] for each of the `channels` rows of `pixels` values, or 0 without a bias.
// The outputs are created uninitialised (ad::Tensor::empty) and written image by image,
// so each image is cleared just before it is used, while it is in cache anyway.
template <class T>
void fill_rows(T* y, const T* b, int64_t channels, int64_t pixels) {
  for (int64_t c = 0; c < channels; ++c) std::fill_n(y + c * pixels, pixels, b ? b[c] : T(0));
}

template <class T>
const T* data_or_null(const ad::Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

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
    for_each_image(batch, image_threads(batch, c_out * K * P), [&](int64_t n, int) {
      T* patches = patch_buffer<T>(K * P);
      unfold(xs + n * g.image_size(), g, patches);
      T* y_n = ys + n * c_out * P;
      if (b) fill_rows(y_n, b, c_out, P);  // gemm's beta = 1 adds W patches onto it
      // (beta = 0 without a bias: gemm overwrites y_n, whatever it held)
      ad::gemm(false, false, c_out, P, K, T(1), w, K, patches, P, T(b ? 1 : 0), y_n, P);
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
    for_each_image(batch, image_threads(batch, c_in * K * P), [&](int64_t n, int) {
      T* patches = patch_buffer<T>(K * P);
      ad::gemm(true, false, K, P, c_in, T(1), w, K, xs + n * c_in * P, P, T(0), patches, P);
      T* y_n = ys + n * g.image_size();
      fill_rows(y_n, b, c_out, out_h * out_w);  // fold_add adds onto the bias (or zeros)
      fold_add(patches, g, y_n);
    });
  });
  return y;
}

// dW [C_out, K] = sum_n dY_n [C_out, P] patches(x_n)^T [P, K], each thread its own sum.
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
    const int threads = image_threads(batch, c_out * K * P);
    const PerThreadSum<T> sums(c_out * K, threads);
    for_each_image(batch, threads, [&](int64_t n, int thread) {
      T* patches = patch_buffer<T>(K * P);
      unfold(xs + n * g.image_size(), g, patches);
      ad::gemm(false, true, c_out, K, P, T(1), dys + n * c_out * P, P, patches, P, T(1),
               sums.of(thread), K);
    });
    sums.reduce(dw.data<T>());
  });
  return dw;
}

}  // namespace nn::conv_fast
