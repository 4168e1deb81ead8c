// The pool behind ad::Storage (autodiff/storage.h): buffers 64-byte aligned, rounded up
// to a size class, kept per thread for reuse when freed (at most 1 GB per thread).
#pragma once
#include <cstddef>

#include "autodiff/storage.h"

namespace ad::runtime {

// A buffer of at least `bytes` bytes; `*capacity` receives the size actually reserved,
// which pool_give_back needs.
void* pool_take(size_t bytes, size_t* capacity);
void pool_give_back(void* p, size_t capacity);

StoragePoolStats pool_stats();
void pool_release();

}  // namespace ad::runtime
