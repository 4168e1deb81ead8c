// ad::parallel_for: every part runs exactly once, whoever runs it; errors come back to
// the caller; nested calls and thousands of back-to-back calls (the way a training step
// uses it) neither lose nor repeat a part.
#include <doctest/doctest.h>
#include <omp.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <stdexcept>
#include <vector>

#include "autodiff/runtime/parallel.h"
#include "autodiff/runtime/thread_pool.h"

TEST_CASE("parallel_for runs each part exactly once") {
  for (int parts : {0, 1, 2, 3, 7, 64}) {
    std::vector<std::atomic<int>> runs(parts);
    ad::parallel_for(parts, [&](int p) { ++runs[p]; });
    for (int p = 0; p < parts; ++p) CHECK(runs[p] == 1);
  }
}

TEST_CASE("parallel_for survives many back-to-back calls without losing a part") {
  std::atomic<long> total{0};
  const int calls = 20000;
  for (int c = 0; c < calls; ++c) ad::parallel_for(2, [&](int p) { total += p + 1; });
  CHECK(total == 3L * calls);  // parts 0 and 1 add 1 and 2 on every call
}

TEST_CASE("parallel_for rethrows a part's exception in the caller") {
  CHECK_THROWS_AS(ad::parallel_for(4,
                                   [](int p) {
                                     if (p == 2) throw std::runtime_error("part 2 failed");
                                   }),
                  std::runtime_error);
  std::atomic<int> after{0};  // and the pool still works afterwards
  ad::parallel_for(4, [&](int) { ++after; });
  CHECK(after == 4);
}

TEST_CASE("a parallel_for inside a part runs on that part's thread") {
  std::atomic<int> inner{0};
  ad::parallel_for(2, [&](int) { ad::parallel_for(3, [&](int) { ++inner; }); });
  CHECK(inner == 6);
}

TEST_CASE("parallel_for follows omp_set_num_threads") {
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  CHECK(ad::max_threads() == 1);
  std::atomic<int> runs{0};
  ad::parallel_for(5, [&](int) { ++runs; });
  CHECK(runs == 5);
  omp_set_num_threads(before);
}

// A helper thread that the system starts late (after jobs were published, or even after
// the pool began shutting down) must neither miss work nor keep the pool from closing:
// it used to read the generation counter when it started, take the shutdown's
// generation as one already seen, and wait forever, so the program hung at exit.
TEST_CASE("a pool whose helper starts late still finishes its jobs and shuts down") {
  using namespace std::chrono_literals;
  auto* pool = new ad::detail::ThreadPool([] { std::this_thread::sleep_for(200ms); });
  std::atomic<int> runs{0};
  for (int call = 0; call < 3; ++call) pool->run(2, 2, [&](int) { ++runs; });
  CHECK(runs == 6);
  // The destructor runs on its own thread so that a hang fails the test instead of
  // hanging the test run; on failure that thread is left behind, blocked.
  auto shut_down = std::make_shared<std::atomic<bool>>(false);
  std::thread closer([pool, shut_down] {
    delete pool;
    *shut_down = true;
  });
  for (int wait = 0; wait < 100 && !*shut_down; ++wait) std::this_thread::sleep_for(50ms);
  if (*shut_down) {
    closer.join();
  } else {
    closer.detach();
    FAIL("the pool's destructor did not return within 5 s");
  }
}
