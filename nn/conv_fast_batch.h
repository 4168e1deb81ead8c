// How the fast convolutions (nn/conv_fast.cpp, nn/conv_fast_backward.cpp) walk a batch:
// which threads take which images, each thread's patch buffer, and sums over the batch
// that several threads add into. Internal to those two files.
#pragma once

#include <algorithm>
#include <cstdint>

#include "autodiff/runtime/parallel.h"
#include "autodiff/runtime/scratch.h"
#include "autodiff/tensor.h"

namespace nn::conv_fast {

// How many threads to split a batch over, given the multiply-adds of one image.
// Every thread gets at least two images (so the split is nearly even) and at least the
// 500k multiply-adds below which gemm.cpp does not start a thread either. With fewer
// images than that (batch 1, say) the images run one after another and each gemm may
// split its own product over the threads instead.
inline int image_threads(int64_t batch, int64_t work_per_image) {
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
// the same number of threads always gives the same bits. Two sums alive at once need two
// slots (their copies live in a thread_local buffer per element type and slot).
template <class T, int slot = 0>
class PerThreadSum {
 public:
  PerThreadSum(int64_t size, int threads)
      : copies_(memory().get(size * threads)), size_(size), threads_(threads) {
    std::fill(copies_, copies_ + size * threads, T(0));
  }
  T* of(int thread) const { return copies_ + thread * size_; }

  template <class Out>
  void reduce(Out* out) const {  // out[i] = sum over threads of copy[i]
    for (int64_t i = 0; i < size_; ++i) {
      T total = 0;
      for (int t = 0; t < threads_; ++t) total += copies_[t * size_ + i];
      out[i] = static_cast<Out>(total);
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

}  // namespace nn::conv_fast
