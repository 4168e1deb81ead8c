// ThreadPool: the helper threads behind ad::parallel_for (parallel.h), and how they wait.
//
// One job at a time: the caller publishes a job by advancing a generation counter, then
// claims parts of it like any helper; helpers that notice the new generation claim the
// rest. parallel_for keeps one pool for the whole program; tests make their own.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ad::detail {

// Is this thread running a part of a ThreadPool job?
bool inside_pool_part();

class ThreadPool {
 public:
  // helper_started (tests only) runs first in every new helper thread: a test can
  // delay it to play a system that starts threads late.
  explicit ThreadPool(std::function<void()> helper_started = {});
  ~ThreadPool();  // wakes and joins the helpers
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Runs work(0..parts-1) on the caller and up to threads - 1 helpers; rethrows the
  // first exception a part threw.
  void run(int parts, int threads, const std::function<void(int)>& work);

 private:
  // One call of run, as the helpers see it.
  struct Job {
    const std::function<void(int)>* work = nullptr;
    int parts = 0;
    std::atomic<int> next_part{0};    // the next unclaimed part
    std::atomic<int> in_progress{0};  // helpers inside this job's loop
    std::exception_ptr error;         // the first exception a part threw
    std::mutex error_mutex;
  };

  static void run_parts(Job& job);
  void start_helpers(int wanted);
  void helper_loop(uint64_t seen);
  uint64_t wait_for_new_generation(uint64_t seen);
  void wake_sleepers();

  std::function<void()> helper_started_;
  std::mutex caller_mutex_;
  std::vector<std::thread> helpers_;
  Job job_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> sleeping_{0};
  std::mutex sleep_mutex_;
  std::condition_variable wake_up_;
  std::atomic<bool> open_{false};
  std::atomic<bool> stopping_{false};
};

}  // namespace ad::detail
