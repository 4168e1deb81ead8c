// How the fast convolutions (nn/conv_fast.cpp, nn/conv_fast_backward.cpp) walk a batch:
// which parts of a batch the threads take, each thread's patch buffer, and sums over the
// batch that the parts add into. Internal to those two files.
#pragma once

#include <algorithm>
#include <cstdint>

#include "autodiff/runtime/parallel.h"
#include "autodiff/runtime/scratch.h"
#include "autodiff/tensor.h"

namespace nn::conv_fast {

// How many parts to cut a batch into, given the multiply-adds of one image. The count
// depends on the batch and the layer only, never on the machine's threads: the sums over
// the batch (dW, db) add one partial sum per part in part order, so a training run gives
// the same bits on one core or sixteen. The threads share the parts (ad::parallel_for).
// Every part gets at least two images and at least the 500k multiply-adds below which
// gemm.cpp does not start a thread either; at most max_parts parts (their copies of dW
// cost memory, and a machine with more threads than that splits each gemm instead). With
// too few images for two parts (batch 1, say) the images run one after another and each
// gemm may split its own product over the threads.
inline constexpr int64_t max_parts = 16;

inline int image_parts(int64_t batch, int64_t work_per_image) {
  constexpr int64_t min_work_per_part = 500'000;  // multiply-adds, as in gemm.cpp
  const int64_t by_images = batch / 2;
  const int64_t by_work = batch * work_per_image / min_work_per_part;
  const int64_t parts = std::min<int64_t>({max_parts, by_images, by_work});
  return static_cast<int>(std::max<int64_t>(1, parts));
}

// Calls body(n, part) for every image n in [0, batch), the batch cut into `parts`
// contiguous parts of equal share. A part runs on one thread at a time, so the part number
// can index per-part sums (ad::parallel_for: a part no other thread has started is taken
// by the caller, so a busy machine never waits for a thread). A gemm inside body runs on
// its caller's thread alone (gemm.cpp's threads_for sees ad::in_parallel_part()).
template <class F>
void for_each_image(int64_t batch, int parts, F&& body) {
  ad::parallel_for(parts, [&](int part) {
    const int64_t begin = batch * part / parts, end = batch * (part + 1) / parts;
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

// A sum over the batch computed part by part, dW = sum_n dW_n: each part adds into its own
// zeroed copy, and reduce() adds the copies up in part order, so the bits depend on the
// number of parts (image_parts: the batch and the layer), not on which thread ran which
// part. Two sums alive at once need two slots (their copies live in a thread_local buffer
// per element type and slot).
template <class T, int slot = 0>
class PerPartSum {
 public:
  PerPartSum(int64_t size, int parts)
      : copies_(memory().get(size * parts)), size_(size), parts_(parts) {
    std::fill(copies_, copies_ + size * parts, T(0));
  }
  T* of(int part) const { return copies_ + part * size_; }

  template <class Out>
  void reduce(Out* out) const {  // out[i] = sum over the parts of copy[i]
    for (int64_t i = 0; i < size_; ++i) {
      T total = 0;
      for (int p = 0; p < parts_; ++p) total += copies_[p * size_ + i];
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
  int parts_;
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
