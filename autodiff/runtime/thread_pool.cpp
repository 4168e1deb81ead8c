#include "autodiff/runtime/thread_pool.h"

#include <chrono>

namespace ad::detail {

namespace {
thread_local bool t_inside_part = false;
}  // namespace

bool inside_pool_part() { return t_inside_part; }

ThreadPool::ThreadPool(std::function<void()> helper_started)
    : helper_started_(std::move(helper_started)) {}

ThreadPool::~ThreadPool() {
  stopping_ = true;
  generation_.fetch_add(1);
  wake_sleepers();
  for (std::thread& t : helpers_) t.join();
}

void ThreadPool::run(int parts, int threads, const std::function<void(int)>& work) {
  std::lock_guard<std::mutex> one_job_at_a_time(caller_mutex_);
  start_helpers(threads - 1);
  job_.work = &work;
  job_.parts = parts;
  job_.next_part = 0;
  job_.error = nullptr;
  open_ = true;
  generation_.fetch_add(1);  // publish the job
  if (sleeping_.load() > 0) wake_sleepers();
  run_parts(job_);
  // Close the job, then wait only for helpers that are inside it (they hold a part).
  // The caller stores open_ then loads in_progress; a helper adds to in_progress then
  // loads open_. At least one of the two must see the other's write, or a helper could
  // start on a job the caller has already left. Only sequentially consistent order (the
  // default of every atomic here) promises that for a store followed by a load of
  // another variable; acquire and release do not. x86-64 keeps the order anyway (a
  // locked instruction is a full barrier); arm64 need not (a load-acquire such as
  // LDAPR may pass an earlier store-release).
  open_ = false;
  while (job_.in_progress.load() > 0) std::this_thread::yield();
  if (job_.error) std::rethrow_exception(job_.error);
}

// Claims parts until none is left.
void ThreadPool::run_parts(Job& job) {
  t_inside_part = true;
  for (int part; (part = job.next_part.fetch_add(1)) < job.parts;) {
    try {
      (*job.work)(part);
    } catch (...) {
      std::lock_guard<std::mutex> lock(job.error_mutex);
      if (!job.error) job.error = std::current_exception();
    }
  }
  t_inside_part = false;
}

// A new helper starts from the generation before the job about to be published, read
// here by the caller: a thread that the system starts late (even after the pool began to
// shut down) then still sees every later generation, instead of taking a newer one as
// "already seen" and waiting for a job that never comes.
void ThreadPool::start_helpers(int wanted) {
  while (static_cast<int>(helpers_.size()) < wanted) {
    const uint64_t seen = generation_.load();
    helpers_.emplace_back([this, seen] {
      if (helper_started_) helper_started_();
      helper_loop(seen);
    });
  }
}

void ThreadPool::helper_loop(uint64_t seen) {
  while (true) {
    seen = wait_for_new_generation(seen);
    if (stopping_) return;
    job_.in_progress.fetch_add(1);  // before looking at open_: see the end of run()
    // The job may have closed between the wake-up and here: then it is not ours.
    if (open_.load() && generation_.load() == seen) run_parts(job_);
    job_.in_progress.fetch_sub(1);
  }
}

// Waits for the next job in three stages, cheapest wake-up first:
//  - 50 us spinning on the counter: the next kernel of a training step usually
//    follows within microseconds;
//  - then up to 1 ms calling yield() between looks: still no sleep and wake-up
//    (a futex round trip, tens of microseconds on a virtual machine) when the caller
//    spends a few hundred microseconds on one-thread work between two parallel
//    kernels, yet the core goes to any other program that wants it;
//  - then sleeping until the caller wakes it.
// (A VAE step measured both ways on 2 cores: the yield stage saved 0.2-0.3 ms of
// 2.5 ms, and under load it was no slower than going to sleep after 50 us.)
uint64_t ThreadPool::wait_for_new_generation(uint64_t seen) {
  using clock = std::chrono::steady_clock;
  const auto spin_until = clock::now() + std::chrono::microseconds(50);
  const auto yield_until = spin_until + std::chrono::microseconds(1000);
  while (generation_.load() == seen && clock::now() < spin_until) {
#if defined(__x86_64__)
    __builtin_ia32_pause();  // tells the core this is a spin loop
#elif defined(__aarch64__)
    asm volatile("yield");  // the same hint on arm64
#endif
  }
  while (generation_.load() == seen && clock::now() < yield_until) std::this_thread::yield();
  if (generation_.load() == seen) {
    sleeping_.fetch_add(1);  // before the check below, so a caller that misses it...
    std::unique_lock<std::mutex> lock(sleep_mutex_);
    wake_up_.wait(lock, [&] { return generation_.load() != seen; });
    sleeping_.fetch_sub(1);
  }
  return generation_.load();
}

// ... has already advanced the generation that the check reads (both seq_cst). Taking
// the mutex orders the notification after any sleeper's check of the predicate.
void ThreadPool::wake_sleepers() {
  { std::lock_guard<std::mutex> lock(sleep_mutex_); }
  wake_up_.notify_all();
}

}  // namespace ad::detail
