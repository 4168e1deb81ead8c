#include "autodiff/rng.h"

#include <fmt/format.h>

#include <cmath>
#include <numbers>

#include "autodiff/runtime/kernels.h"

namespace ad {

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// Box-Muller: two uniforms u1 in (0, 1] (so that log(u1) is finite) and u2 in [0, 1) give
// two independent N(0, 1) draws, r cos(theta) and r sin(theta).
struct NormalPair {
  double first, second;
};
NormalPair box_muller(double u1, double u2) {
  const double r = std::sqrt(-2.0 * std::log(u1)), theta = 2.0 * std::numbers::pi * u2;
  return {r * std::cos(theta), r * std::sin(theta)};
}
}  // namespace

Rng::Rng(uint64_t seed) {
  for (auto& s : s_) s = splitmix64(seed);  // spreads any seed (even 0) over the state
}

uint64_t Rng::next_u64() {  // xoshiro256** by Blackman and Vigna
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Rng::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  const double u1 = 1.0 - uniform(), u2 = uniform();
  const NormalPair z = box_muller(u1, u2);
  spare_ = z.second;
  has_spare_ = true;
  return z.first;
}

double Rng::normal(double mean, double stddev) { return mean + stddev * normal(); }

int64_t Rng::below(int64_t n) {
  if (n <= 0) throw Error(fmt::format("Rng::below: n = {} must be positive", n));
  // Rejection sampling: drop the top partial block of 2^64 so every value is equally likely.
  const uint64_t un = static_cast<uint64_t>(n);
  const uint64_t limit = UINT64_MAX - UINT64_MAX % un;
  uint64_t x;
  do x = next_u64();
  while (x >= limit);
  return static_cast<int64_t>(x % un);
}

Tensor Rng::uniform(const Shape& shape, double lo, double hi, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  for (int64_t i = 0; i < t.numel(); ++i) t.set_flat(i, uniform(lo, hi));
  return t;
}

// Element i holds the i-th draw of normal(mean, stddev), exactly. The uniforms come from the
// generator one after another (each depends on the last); the logarithms, square roots,
// sines and cosines, most of the work (for the denoising autoencoder's batch of noisy
// images, as long as the rest of its training step), depend only on their pair of uniforms,
// so the threads share them out.
Tensor Rng::normal(const Shape& shape, DType dtype, double mean, double stddev) {
  Tensor t = Tensor::empty(shape, dtype);
  const int64_t n = t.numel();
  int64_t first = 0;  // the element the first new pair goes to: after a waiting spare
  if (n > 0 && has_spare_) t.set_flat(first++, normal(mean, stddev));
  const int64_t count = n - first, pairs = (count + 1) / 2;
  std::vector<double> u(2 * pairs);
  for (int64_t p = 0; p < pairs; ++p) {
    u[2 * p] = 1.0 - uniform();
    u[2 * p + 1] = uniform();
  }
  dispatch(dtype, [&](auto zero) {
    using T = decltype(zero);
    T* x = t.data<T>() + first;
    kernels::in_chunks(pairs, [&](int64_t begin, int64_t size) {
      for (int64_t p = begin; p < begin + size; ++p) {
        const NormalPair z = box_muller(u[2 * p], u[2 * p + 1]);
        x[2 * p] = static_cast<T>(mean + stddev * z.first);
        if (2 * p + 1 < count) x[2 * p + 1] = static_cast<T>(mean + stddev * z.second);
      }
    });
  });
  if (count % 2 == 1) {  // the last pair's second draw waits for the next call, as in normal()
    spare_ = box_muller(u[2 * pairs - 2], u[2 * pairs - 1]).second;
    has_spare_ = true;
  }
  return t;
}

}  // namespace ad
