// Small pieces shared by the float32 kernel tests (test_vecmath.cpp, test_loss_kernels.cpp):
// the double-precision oracles of the sigmoid family, exact comparison of floats,
// deterministic inputs, and the check of a kernel table's choice by ISA.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "autodiff/runtime/isa.h"
#include "autodiff/shape.h"

namespace float_kernels {

// The functions in double precision (rounded to float they are the correctly rounded
// result, but for rare double-rounding ties worth a tiny part of an ulp).
inline double sigmoid_exact(double x) {
  return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x));
}
inline double softplus_exact(double x) {
  return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x)));
}

inline uint32_t to_bits(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

// Equal as the tests need it: both NaN, or the same bits (so -0 differs from +0).
inline bool same(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || to_bits(a) == to_bits(b);
}

// Deterministic values (a 64-bit LCG), independent of the project's Rng.
class Lcg {
 public:
  explicit Lcg(uint64_t seed) : state_(seed) {}
  double uniform(double lo, double hi) {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (double(state_ >> 11) / double(uint64_t(1) << 53));
  }

 private:
  uint64_t state_;
};

inline std::vector<float> uniform(int64_t n, double lo, double hi, uint64_t seed) {
  Lcg rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(rng.uniform(lo, hi));
  return v;
}

// A kernel table's choice by ISA: table() is table(active_isa()), the reference one while
// an ad::ReferenceKernels lives; an ISA this CPU lacks throws ad::Error, and so does a
// value that is no ISA at all (checked on every machine), naming it.
// A value that is no ISA at all (checked on every machine) and every ISA this CPU lacks
// make `call(isa)` throw an ad::Error; the first names the value.
template <class Call>
void check_unsupported_isas_throw(Call call) {
  const ad::Isa bogus = static_cast<ad::Isa>(42);
  std::string message;
  try {
    call(bogus);
  } catch (const ad::Error& e) {
    message = e.what();
  }
  CHECK(message.find(ad::to_string(bogus)) != std::string::npos);
  for (ad::Isa isa : {ad::Isa::avx2, ad::Isa::avx512, ad::Isa::neon}) {
    if (ad::isa_supported(isa)) continue;
    const std::string isa_name = ad::to_string(isa);
    CAPTURE(isa_name);
    CHECK_THROWS_AS(call(isa), ad::Error);
  }
}

template <class Table>
void check_table_choice(const Table& (*table_of)(ad::Isa), const Table& (*table)()) {
  CHECK(&table() == &table_of(ad::active_isa()));
  {
    ad::ReferenceKernels plain;
    CHECK(&table() == &table_of(ad::Isa::reference));
  }
  check_unsupported_isas_throw([&](ad::Isa isa) { table_of(isa); });
}

}  // namespace float_kernels
