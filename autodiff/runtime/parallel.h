// parallel_for: the one way the fast kernels use several cores.
//
//   ad::parallel_for(parts, [&](int part) { ... work on part `part` of [0, parts) ... });
//
// The calling thread works too, and parts are claimed one at a time from a shared
// counter, so a part waits only for a thread that is actually running: on a machine
// where other programs compete for the cores, a helper thread that the scheduler has not
// run yet simply finds no part left, and the caller finishes alone at the speed of one
// thread, instead of waiting a whole time slice for the helper (the 10-20x slowdown that
// OpenMP's static split with spinning workers shows under load).
//
// Helper threads start on first use and then wait for work: they spin for a few
// microseconds (a training step calls a kernel every few tens of microseconds, and
// waking a sleeping thread costs about as much), then keep looking for up to a
// millisecond while yielding the core to any other program, and then sleep until the
// next call.
// The number of threads is OpenMP's setting, so OMP_NUM_THREADS and omp_set_num_threads
// work as usual; a call from inside a parallel part runs all its parts on that thread.
#pragma once
#include <cstdint>
#include <functional>

namespace ad {

// Runs work(0), ..., work(parts - 1), each exactly once, on up to max_threads() threads,
// and returns when all have finished. An exception thrown by a part is rethrown here.
void parallel_for(int parts, const std::function<void(int part)>& work);

int max_threads();  // omp_get_max_threads(): the caller plus the helpers
// Is this thread running a part of a parallel_for (or inside an OpenMP region)? Kernels
// called from a part then stay on their thread.
bool in_parallel_part();

}  // namespace ad
