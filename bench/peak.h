// peak.h: this machine's float32 FMA peak, measured, so that a benchmark can print
// each speed as a fraction of what the hardware can do (a roofline), not only as a
// race against another library. Header-only: every bench/*.cpp is its own program.
//
//   const bench::Peak peak = bench::measure_fma_peak();
//   fmt::print("{:.0f} % of peak\n", 100 * bench::fraction_of_peak(gflops, peak, threads));
//
// Method. A core's float throughput is bounded by its FMA units: each cycle they can
// start a few vector FMAs (a * b + c on every lane, 2 flops per lane). One FMA takes
// several cycles to finish, so a single chain acc = fma(acc, x, y) waits on itself;
// with enough independent chains (at least units x latency: 2 x 4 = 8 on Zen 3,
// Skylake or Zen 4) every unit starts a new FMA every cycle and the loop runs at the
// peak. The loop below keeps `chains` accumulators in registers (as many as the
// register file allows beside x and y), with the widest vectors the CPU has:
//   AVX-512  24 zmm chains x 16 floats     AVX2 + FMA  12 ymm chains x 8 floats
//   NEON     24 q-register chains x 4       otherwise  8 scalar chains (mul + add)
// flops = 2 x lanes x chains x iterations. The time is the thread's CPU time
// (CLOCK_THREAD_CPUTIME_ID), the best of several runs of ~10 ms: a register-only loop
// does not depend on caches, so time lost to other processes on the same system is
// left out. Not so on a virtual machine: while the host runs other guests on our core,
// the guest's clocks (the thread's CPU time among them) keep running, and a run in such
// a spell reads low (a run on a shared 2-core VM once read half the peak). So the runs
// are spread out (a pause of 10 ms between them) and the benchmarks measure again at
// their end and keep the higher figure (higher_peak). On n threads the peak is n times
// one core's (n cores, no shared FMA units; with SMT two threads share one core's units,
// and the n-core figure is then an upper bound). The measured figure includes the clock
// the core is running at (turbo).
#pragma once
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "autodiff/runtime/isa.h"

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace bench {

struct Peak {
  std::string how;         // e.g. "AVX2+FMA, 12 chains of 8 floats"
  double gflops_per_core;  // float32 GFLOP/s of one core
};

// Achieved / peak of `threads` cores, e.g. 0.63 for 63 % of the hardware's limit.
inline double fraction_of_peak(double gflops, const Peak& peak, int threads) {
  return gflops / (peak.gflops_per_core * threads);
}

namespace peak_detail {

// Inputs the compiler cannot see through, so it cannot fold the loop away.
inline volatile float x_in = 0.999999f, y_in = 1e-7f;
inline volatile float sink;

inline double thread_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

// The FMA loop for one ISA: `iterations` steps of every chain; returns the flops done.
#if defined(__x86_64__)
__attribute__((target("avx512f"))) inline double fma_loop_avx512(int64_t iterations) {
  constexpr int chains = 24;
  __m512 acc[chains];
  const __m512 x = _mm512_set1_ps(x_in), y = _mm512_set1_ps(y_in);
#pragma GCC unroll 24
  for (int c = 0; c < chains; ++c) acc[c] = _mm512_set1_ps(float(c));
  for (int64_t i = 0; i < iterations; ++i)
#pragma GCC unroll 24
    for (int c = 0; c < chains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], x, y);
#pragma GCC unroll 24
  for (int c = 1; c < chains; ++c) acc[0] = _mm512_add_ps(acc[0], acc[c]);
  float lanes[16];
  _mm512_storeu_ps(lanes, acc[0]);
  sink = lanes[0] + lanes[15];
  return 2.0 * 16 * chains * double(iterations);
}

__attribute__((target("avx2,fma"))) inline double fma_loop_avx2(int64_t iterations) {
  constexpr int chains = 12;  // + x and y: 14 of the 16 ymm registers
  __m256 acc[chains];
  const __m256 x = _mm256_set1_ps(x_in), y = _mm256_set1_ps(y_in);
#pragma GCC unroll 12
  for (int c = 0; c < chains; ++c) acc[c] = _mm256_set1_ps(float(c));
  for (int64_t i = 0; i < iterations; ++i)
#pragma GCC unroll 12
    for (int c = 0; c < chains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], x, y);
#pragma GCC unroll 12
  for (int c = 1; c < chains; ++c) acc[0] = _mm256_add_ps(acc[0], acc[c]);
  float lanes[8];
  _mm256_storeu_ps(lanes, acc[0]);
  sink = lanes[0] + lanes[7];
  return 2.0 * 8 * chains * double(iterations);
}
#elif defined(__aarch64__)
inline double fma_loop_neon(int64_t iterations) {
  constexpr int chains = 24;
  float32x4_t acc[chains];
  const float32x4_t x = vdupq_n_f32(x_in), y = vdupq_n_f32(y_in);
#pragma GCC unroll 24
  for (int c = 0; c < chains; ++c) acc[c] = vdupq_n_f32(float(c));
  for (int64_t i = 0; i < iterations; ++i)
#pragma GCC unroll 24
    for (int c = 0; c < chains; ++c) acc[c] = vfmaq_f32(y, acc[c], x);  // y + acc * x
#pragma GCC unroll 24
  for (int c = 1; c < chains; ++c) acc[0] = vaddq_f32(acc[0], acc[c]);
  sink = vaddvq_f32(acc[0]);
  return 2.0 * 4 * chains * double(iterations);
}
#endif

// Any other CPU: scalar multiply and add, counted as 2 flops like an FMA.
inline double fma_loop_scalar(int64_t iterations) {
  constexpr int chains = 8;
  float acc[chains];
  const float x = x_in, y = y_in;
#pragma GCC unroll 8
  for (int c = 0; c < chains; ++c) acc[c] = float(c);
  for (int64_t i = 0; i < iterations; ++i)
#pragma GCC unroll 8
    for (int c = 0; c < chains; ++c) acc[c] = acc[c] * x + y;
  float total = 0;
  for (float a : acc) total += a;
  sink = total;
  return 2.0 * chains * double(iterations);
}

// Best GFLOP/s of `loop` over several runs of about 10 ms each.
template <class Loop>
double best_gflops(Loop loop) {
  int64_t iterations = 1 << 14;
  while (true) {  // grow the run until it lasts 10 ms
    const double start = thread_seconds();
    loop(iterations);
    if (thread_seconds() - start > 0.01 || iterations > (int64_t(1) << 40)) break;
    iterations *= 2;
  }
  double best = 0;
  for (int run = 0; run < 7; ++run) {
    const double start = thread_seconds();
    const double flops = loop(iterations);
    best = std::max(best, flops / (thread_seconds() - start) * 1e-9);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // another moment of the host
  }
  return best;
}

}  // namespace peak_detail

// One core's float32 FMA peak with the widest vectors this CPU runs (about 0.2 s).
inline Peak measure_fma_peak() {
  using namespace peak_detail;
#if defined(__x86_64__)
  if (ad::isa_supported(ad::Isa::avx512))
    return {"AVX-512, 24 chains of 16 floats", best_gflops(fma_loop_avx512)};
  if (ad::isa_supported(ad::Isa::avx2))
    return {"AVX2+FMA, 12 chains of 8 floats", best_gflops(fma_loop_avx2)};
#elif defined(__aarch64__)
  return {"NEON, 24 chains of 4 floats", best_gflops(fma_loop_neon)};
#endif
  return {"scalar, 8 chains (mul + add)", best_gflops(fma_loop_scalar)};
}

// The higher of two measurements (one at the start of a benchmark, one at its end): a
// measurement can only read low, never high (see the top of this file).
inline Peak higher_peak(const Peak& a, const Peak& b) {
  return a.gflops_per_core >= b.gflops_per_core ? a : b;
}

}  // namespace bench
