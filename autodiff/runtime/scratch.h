// Scratch: a buffer that only grows, 64-byte aligned (whole cache lines for SIMD loads).
//
// Kernels keep one in a thread_local variable for memory they need during a call (the
// gemm's packed panels, a convolution's patch matrix), so the steady state of a training
// loop allocates nothing: the same pages are reused call after call and stay mapped (and
// warm in cache).
//
//   thread_local ad::Scratch<float> panel;
//   float* p = panel.get(kc * mc);   // at least that many floats; values left as they were
#pragma once
#include <cstdint>
#include <memory>
#include <new>

namespace ad {

template <class T>
class Scratch {
 public:
  T* get(int64_t count) {  // at least count elements; their values are left as they were
    if (count > capacity_) {
      data_.reset(static_cast<T*>(::operator new (count * sizeof(T), std::align_val_t{64})));
      capacity_ = count;
    }
    return data_.get();
  }

 private:
  struct AlignedDelete {
    void operator()(T* p) const { ::operator delete (p, std::align_val_t{64}); }
  };
  std::unique_ptr<T, AlignedDelete> data_;
  int64_t capacity_ = 0;
};

}  // namespace ad
