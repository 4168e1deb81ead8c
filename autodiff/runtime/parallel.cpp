#include "autodiff/runtime/parallel.h"

#include <omp.h>

#include <algorithm>

#include "autodiff/runtime/thread_pool.h"

namespace ad {

namespace {

detail::ThreadPool& pool() {
  static detail::ThreadPool p;
  return p;
}

}  // namespace

int max_threads() { return omp_get_max_threads(); }

bool in_parallel_part() { return detail::inside_pool_part() || omp_in_parallel(); }

void parallel_for(int parts, const std::function<void(int)>& work) {
  const int threads = std::min(parts, max_threads());
  if (parts <= 0) return;
  if (threads <= 1 || in_parallel_part()) {
    for (int part = 0; part < parts; ++part) work(part);
    return;
  }
  pool().run(parts, threads, work);
}

}  // namespace ad
