#include "autodiff/storage.h"

#include <fmt/format.h>

#include "autodiff/runtime/storage_pool.h"

namespace ad {

Storage::Storage(DType dtype, int64_t count) : dtype_(dtype), count_(count) {
  if (count < 0) throw Error(fmt::format("storage: negative element count {}", count));
  const size_t element = dtype == f32 ? sizeof(float) : sizeof(double);
  data_ = runtime::pool_take(static_cast<size_t>(count) * element, &capacity_);
}

Storage::~Storage() { runtime::pool_give_back(data_, capacity_); }

StoragePoolStats storage_pool_stats() { return runtime::pool_stats(); }
void release_cached_storage() { runtime::pool_release(); }

}  // namespace ad
