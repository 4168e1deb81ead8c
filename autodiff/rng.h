// Rng: an explicit, seeded random number generator.
//
// Every random draw in the project goes through an Rng passed by reference, so a seed
// reproduces a run. The bits come from xoshiro256** (seeded through splitmix64) and
// normal draws from the Box-Muller transform written here, not from <random>'s
// distributions, whose algorithms differ between standard libraries: the same seed
// gives the same numbers on every machine.
//
//   ad::Rng rng(42);
//   double u = rng.uniform();                        // [0, 1)
//   ad::Tensor eps = rng.normal({128, 2}, ad::f32);  // N(0, 1) draws
#pragma once
#include <cstdint>
#include <vector>

#include "autodiff/tensor.h"

namespace ad {

class Rng {
 public:
  explicit Rng(uint64_t seed = 42);

  uint64_t next_u64();
  double uniform();                      // [0, 1), 53 random bits
  double uniform(double lo, double hi);  // [lo, hi)
  double normal();                       // N(0, 1)
  double normal(double mean, double stddev);
  int64_t below(int64_t n);  // uniform integer in [0, n), no modulo bias

  Tensor uniform(const Shape& shape, double lo, double hi, DType dtype = f32);
  Tensor normal(const Shape& shape, DType dtype = f32, double mean = 0, double stddev = 1);

  // Fisher-Yates shuffle.
  template <class T>
  void shuffle(std::vector<T>& v) {
    for (int64_t i = static_cast<int64_t>(v.size()) - 1; i > 0; --i)
      std::swap(v[i], v[below(i + 1)]);
  }

 private:
  uint64_t s_[4];
  bool has_spare_ = false;  // Box-Muller makes two normals at a time
  double spare_ = 0;
};

}  // namespace ad
