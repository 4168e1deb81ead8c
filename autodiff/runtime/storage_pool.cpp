// The storage pool: per-thread free lists of aligned buffers by size class.
// (Why a pool at all: see autodiff/storage.h.)
#include "autodiff/runtime/storage_pool.h"

#include <algorithm>
#include <new>
#include <unordered_map>
#include <vector>

namespace ad::runtime {

namespace {

constexpr size_t kAlignment = 64;  // a cache line: SIMD loads never straddle two
// The pool keeps at most this much free memory per thread; beyond it, freed buffers go
// back to the system (a program that shrinks its model should not keep the old peak).
constexpr size_t kMaxCachedBytes = size_t{1} << 30;

// Rounds a request up to its size class: a multiple of 64 bytes below 4 KB, above that
// one of 8 steps per doubling (4096, 4608, 5120, ... 8192, 9216, ...). A buffer freed by
// one tensor then fits every later request of nearly the same size, and at most 1/8 of a
// buffer is wasted.
size_t size_class(size_t bytes) {
  if (bytes <= 4096) return (bytes + kAlignment - 1) / kAlignment * kAlignment;
  size_t power = 4096;
  while (power * 2 < bytes) power *= 2;
  const size_t step = power / 8;
  return (bytes + step - 1) / step * step;
}

// One thread's free buffers, by size class. (A buffer freed on another thread than the
// one that allocated it simply joins that other thread's pool: every buffer comes from
// the same aligned operator new.)
// Set when this thread's pool has been destroyed (thread exit, or program exit for the
// main thread): a tensor that outlives it, e.g. a static one, then frees straight to the
// system. A plain bool has no destructor, so it can still be read at that point.
thread_local bool t_pool_destroyed = false;

class Pool {
 public:
  ~Pool() {
    release();
    t_pool_destroyed = true;
  }

  void* take(size_t capacity) {
    auto found = free_.find(capacity);
    if (found != free_.end() && !found->second.empty()) {
      void* p = found->second.back();
      found->second.pop_back();
      cached_bytes_ -= capacity;
      ++stats_.reused;
      return p;
    }
    ++stats_.allocated;
    return ::operator new(capacity, std::align_val_t{kAlignment});
  }

  void give_back(void* p, size_t capacity) {
    if (cached_bytes_ + capacity > kMaxCachedBytes) {
      ::operator delete(p, std::align_val_t{kAlignment});
      return;
    }
    free_[capacity].push_back(p);
    cached_bytes_ += capacity;
  }

  void release() {
    for (auto& [capacity, buffers] : free_)
      for (void* p : buffers) ::operator delete(p, std::align_val_t{kAlignment});
    free_.clear();
    cached_bytes_ = 0;
  }

  StoragePoolStats stats() const {
    StoragePoolStats s = stats_;
    s.cached_bytes = static_cast<int64_t>(cached_bytes_);
    return s;
  }

 private:
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_bytes_ = 0;
  StoragePoolStats stats_;
};

Pool& pool() {
  thread_local Pool p;
  return p;
}

}  // namespace

void* pool_take(size_t bytes, size_t* capacity) {
  *capacity = size_class(std::max<size_t>(1, bytes));
  return t_pool_destroyed ? ::operator new(*capacity, std::align_val_t{kAlignment})
                          : pool().take(*capacity);
}

void pool_give_back(void* p, size_t capacity) {
  if (t_pool_destroyed)
    ::operator delete(p, std::align_val_t{kAlignment});
  else
    pool().give_back(p, capacity);
}

StoragePoolStats pool_stats() { return t_pool_destroyed ? StoragePoolStats{} : pool().stats(); }

void pool_release() {
  if (!t_pool_destroyed) pool().release();
}

}  // namespace ad::runtime
