// Storage: the numbers behind a tensor, and the pool that recycles them.
//
// A training step allocates the same buffers step after step: the activations of every
// layer, their gradients, the gradients of the weights. Taking each one fresh from the
// operating system would cost a page fault per 4 KB page and a memset on every step
// (the kernel hands out zeroed pages), which for a small VAE takes longer than the
// arithmetic. So a Storage takes its buffer from a per-thread pool of free buffers
// sorted by size class, and gives it back when the last tensor using it goes away: from
// the second step on, every buffer is one that the previous step used, already mapped and
// probably still in cache.
//
//   auto s = std::make_shared<Storage>(ad::f32, 128 * 784);  // uninitialised values
//   float* p = s->data<float>();
//   // ... when the last shared_ptr to s is dropped, the buffer returns to the pool
//
// Several tensors may share one Storage: reshape returns a view with a new shape over
// the same numbers (see docs/architecture.md for why in-place writes stay safe).
#pragma once
#include <cstddef>
#include <cstdint>

#include "autodiff/shape.h"

namespace ad {

class Storage {
 public:
  Storage(DType dtype, int64_t count);  // `count` numbers, not initialised
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  DType dtype() const { return dtype_; }
  int64_t size() const { return count_; }  // number of elements
  template <class T>
  T* data() const {
    return static_cast<T*>(data_);
  }

 private:
  DType dtype_;
  int64_t count_;
  size_t capacity_;  // bytes actually reserved: the size class of count_ elements
  void* data_;
};

// What the current thread's pool holds and has done, for the curious and for tests.
struct StoragePoolStats {
  int64_t cached_bytes = 0;  // free buffers kept for reuse
  int64_t reused = 0;        // allocations served from the pool
  int64_t allocated = 0;     // allocations that went to the system
};
StoragePoolStats storage_pool_stats();
// Returns every cached buffer of the current thread's pool to the system.
void release_cached_storage();

}  // namespace ad
