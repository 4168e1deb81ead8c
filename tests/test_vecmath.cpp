// Tests for ad::vec (autodiff/runtime/vecmath.h): every kernel of every ISA this CPU supports,
// the reference included.
//
// Layout:
//   1. the oracle: each function in double precision, rounded to float (the correctly
//      rounded result, but for rare double-rounding ties worth a tiny part of an ulp);
//   2. the inputs: every k-th bit pattern of all 2^32 (NaNs, infinities, denormals and
//      both signs included), plus for each function a denser sweep of the range where it
//      is neither constant nor overflowing;
//   3. accuracy: the worst ulp_distance over those inputs against the bound vecmath.h
//      states for each function, and AVX2 and AVX-512 giving the same floats;
//   4. special values, exactly (inf, 0 and its sign, NaN);
//   5. lengths that leave every possible tail (n = 0, 1, 15, 17, 33, 1000003), in place
//      and out of place, with guard values after the end that must stay untouched (the
//      two-input kernels are run in place in 6 and 7);
//   6. relu and its backward: bit-identical to the reference;
//   7. the table's choice by ISA, its errors, and ulp_distance itself.
// (The cross-entropy kernels built from the same math are tested in test_loss_kernels.cpp.)
//
// The accuracy sweeps test ~4.7 million inputs per function and ISA; the whole file takes
// about a second in an -O2 build and a few under the sanitizers (which barely slow the
// intrinsics).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "autodiff/shape.h"
#include "autodiff/runtime/vecmath.h"
#include "tests/float_kernels.h"

namespace {

using ad::vec::Kernels;
using ad::vec::ulp_distance;
using namespace float_kernels;
using Unary = void (*Kernels::*)(const float*, float*, int64_t);

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kDenormMin = std::numeric_limits<float>::denorm_min();

// ---- 1. the oracle ----------------------------------------------------------------

double exp_exact(double x) { return std::exp(x); }
double log_exact(double x) { return std::log(x); }
double log1p_exact(double x) { return std::log1p(x); }
double tanh_exact(double x) { return std::tanh(x); }
double log_sigmoid_exact(double x) {
  return std::min(x, 0.0) - std::log1p(std::exp(-std::fabs(x)));
}

// One unary kernel: its table entry, the oracle, the bound (ulps) stated in vecmath.h,
// and the ranges its dense sweep covers.
struct Range {
  float lo, hi;
};
struct UnaryCase {
  std::string name;
  Unary kernel;
  double (*exact)(double);
  int64_t bound;
  std::vector<Range> dense;
};

const std::vector<UnaryCase>& unary_cases() {
  const std::vector<Range> logits = {{-110, -0x1p-6f}, {0x1p-6f, 110}};  // both signs, not near 0
  static const std::vector<UnaryCase> cases = {
      {"exp", &Kernels::exp, exp_exact, 2, {{-104, -0x1p-8f}, {0x1p-8f, 89}}},
      {"log", &Kernels::log, log_exact, 2, {{0x1p-4f, 16}, {kDenormMin, 0x1p-126f}}},
      {"log1p", &Kernels::log1p, log1p_exact, 2, {{-1, -0x1p-8f}, {0x1p-8f, 64}}},
      {"sigmoid", &Kernels::sigmoid, sigmoid_exact, 3, logits},
      {"softplus", &Kernels::softplus, softplus_exact, 3, logits},
      {"log_sigmoid", &Kernels::log_sigmoid, log_sigmoid_exact, 3, logits},
      {"tanh", &Kernels::tanh, tanh_exact, 3, {{-12, -0x1p-6f}, {0x1p-6f, 12}}},
  };
  return cases;
}

// ---- 2. the inputs ----------------------------------------------------------------

float from_bits(uint32_t bits) {
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

constexpr uint32_t kWholeRangeStride = 1021;  // ~4.2 million patterns
constexpr int64_t kDenseCount = 500'000;      // per function, over its dense ranges

// Every stride-th bit pattern; an odd stride makes the low mantissa bits vary too.
std::vector<float> whole_range() {
  std::vector<float> x;
  for (uint64_t bits = 7; bits < (uint64_t(1) << 32); bits += kWholeRangeStride)
    x.push_back(from_bits(static_cast<uint32_t>(bits)));
  return x;
}

// About `count` floats evenly spaced in bit pattern (so evenly in ulps, i.e. roughly
// logarithmically) from lo to hi, both of one sign.
void append_dense(std::vector<float>& x, Range r, int64_t count) {
  uint32_t a = to_bits(r.lo), b = to_bits(r.hi);
  if (a > b) std::swap(a, b);  // negative floats order backwards
  const uint32_t step = std::max<uint32_t>(1, static_cast<uint32_t>((b - a) / count)) | 1u;
  for (uint64_t bits = a; bits <= b; bits += step)
    x.push_back(from_bits(static_cast<uint32_t>(bits)));
}

std::vector<float> sweep_inputs(const UnaryCase& c) {
  std::vector<float> x = whole_range();
  for (Range r : c.dense) append_dense(x, r, kDenseCount / int64_t(c.dense.size()));
  return x;
}

// ---- helpers ------------------------------------------------------------------------

struct Worst {
  int64_t ulps = 0;
  float x = 0, got = 0, expected = 0;
};

Worst worst_error(const std::vector<float>& x, const std::vector<float>& got,
                  const std::vector<float>& expected) {
  Worst w;
  for (size_t i = 0; i < x.size(); ++i) {
    const int64_t d = ulp_distance(got[i], expected[i]);
    if (d > w.ulps) w = {d, x[i], got[i], expected[i]};
  }
  return w;
}


}  // namespace

// ---- 3. accuracy ------------------------------------------------------------------------

TEST_CASE("vec: every unary kernel is within its stated ulp bound over the float range") {
  for (const UnaryCase& c : unary_cases()) {
    const std::vector<float> x = sweep_inputs(c);
    std::vector<float> expected(x.size()), got(x.size());
    for (size_t i = 0; i < x.size(); ++i) expected[i] = static_cast<float>(c.exact(x[i]));
    for (ad::Isa isa : ad::supported_isas()) {
      (ad::vec::kernels(isa).*c.kernel)(x.data(), got.data(), int64_t(x.size()));
      const Worst w = worst_error(x, got, expected);
      CAPTURE(c.name);
      const std::string isa_name = ad::to_string(isa);
      CAPTURE(isa_name);
      CAPTURE(w.x);
      CAPTURE(w.got);
      CAPTURE(w.expected);
      CHECK(w.ulps <= c.bound);
    }
  }
}

TEST_CASE("vec: the AVX2 and AVX-512 versions compute the same floats") {
  // They share every constant and step, AVX2 doing with integer bit operations what
  // AVX-512 has instructions for (vecmath_avx2.cpp); a run over all 2^32 inputs found no
  // difference, and the sweep keeps it that way.
  if (!ad::isa_supported(ad::Isa::avx2) || !ad::isa_supported(ad::Isa::avx512)) return;
  const std::vector<float> x = whole_range();
  std::vector<float> a(x.size()), b(x.size());
  for (const UnaryCase& c : unary_cases()) {
    (ad::vec::kernels(ad::Isa::avx2).*c.kernel)(x.data(), a.data(), int64_t(x.size()));
    (ad::vec::kernels(ad::Isa::avx512).*c.kernel)(x.data(), b.data(), int64_t(x.size()));
    CAPTURE(c.name);
    CHECK(std::equal(a.begin(), a.end(), b.begin(), same));
  }
}

// ---- 4. special values ------------------------------------------------------------------

TEST_CASE("vec: special values keep the reference's meaning") {
  struct Special {
    Unary kernel;
    std::string name;
    float x, expected;  // compared with same(): NaN matches NaN, zeros match in sign
  };
  const float big = 1e30f, max = std::numeric_limits<float>::max();
  const std::vector<Special> specials = {
      {&Kernels::exp, "exp", -kInf, 0},
      {&Kernels::exp, "exp", kInf, kInf},
      {&Kernels::exp, "exp", kNaN, kNaN},
      {&Kernels::exp, "exp", 89, kInf},
      {&Kernels::exp, "exp", 1000, kInf},
      {&Kernels::exp, "exp", -104, 0},
      {&Kernels::exp, "exp", -big, 0},
      {&Kernels::exp, "exp", 0, 1},
      {&Kernels::exp, "exp", -0.0f, 1},
      {&Kernels::exp, "exp", kDenormMin, 1},
      {&Kernels::log, "log", 0, -kInf},
      {&Kernels::log, "log", -0.0f, -kInf},
      {&Kernels::log, "log", -1, kNaN},
      {&Kernels::log, "log", -kDenormMin, kNaN},
      {&Kernels::log, "log", -kInf, kNaN},
      {&Kernels::log, "log", kInf, kInf},
      {&Kernels::log, "log", kNaN, kNaN},
      {&Kernels::log, "log", 1, 0},
      {&Kernels::log1p, "log1p", -1, -kInf},
      {&Kernels::log1p, "log1p", -2, kNaN},
      {&Kernels::log1p, "log1p", -kInf, kNaN},
      {&Kernels::log1p, "log1p", kInf, kInf},
      {&Kernels::log1p, "log1p", kNaN, kNaN},
      {&Kernels::log1p, "log1p", 0, 0},
      {&Kernels::log1p, "log1p", -0.0f, -0.0f},
      {&Kernels::log1p, "log1p", kDenormMin, kDenormMin},
      {&Kernels::log1p, "log1p", -kDenormMin, -kDenormMin},
      {&Kernels::sigmoid, "sigmoid", kInf, 1},
      {&Kernels::sigmoid, "sigmoid", -kInf, 0},
      {&Kernels::sigmoid, "sigmoid", kNaN, kNaN},
      {&Kernels::sigmoid, "sigmoid", 0, 0.5f},
      {&Kernels::sigmoid, "sigmoid", 100, 1},
      {&Kernels::sigmoid, "sigmoid", -200, 0},
      {&Kernels::softplus, "softplus", kInf, kInf},
      {&Kernels::softplus, "softplus", -kInf, 0},
      {&Kernels::softplus, "softplus", kNaN, kNaN},
      {&Kernels::softplus, "softplus", 100, 100},
      {&Kernels::softplus, "softplus", 16, 16},
      {&Kernels::softplus, "softplus", max, max},
      {&Kernels::softplus, "softplus", -big, 0},
      {&Kernels::log_sigmoid, "log_sigmoid", -kInf, -kInf},
      {&Kernels::log_sigmoid, "log_sigmoid", kInf, 0},
      {&Kernels::log_sigmoid, "log_sigmoid", kNaN, kNaN},
      {&Kernels::log_sigmoid, "log_sigmoid", -100, -100},
      {&Kernels::log_sigmoid, "log_sigmoid", big, 0},
      {&Kernels::tanh, "tanh", kInf, 1},
      {&Kernels::tanh, "tanh", -kInf, -1},
      {&Kernels::tanh, "tanh", kNaN, kNaN},
      {&Kernels::tanh, "tanh", 0, 0},
      {&Kernels::tanh, "tanh", -0.0f, -0.0f},
      {&Kernels::tanh, "tanh", 20, 1},
      {&Kernels::tanh, "tanh", -20, -1},
      {&Kernels::tanh, "tanh", kDenormMin, kDenormMin},
  };
  for (ad::Isa isa : ad::supported_isas()) {
    const Kernels& k = ad::vec::kernels(isa);
    for (const Special& s : specials) {
      float y = 12345;
      (k.*s.kernel)(&s.x, &y, 1);
      const std::string isa_name = ad::to_string(isa);
      CAPTURE(isa_name);
      CAPTURE(s.name);
      CAPTURE(s.x);
      CAPTURE(y);
      CHECK(same(y, s.expected));
    }
    // Where the result is a denormal, finite and of the right sign is what matters here;
    // its accuracy is part of the sweep.
    for (float x : {-100.0f, -103.0f, -87.5f}) {
      float e = 0, s = 0, p = 0;
      k.exp(&x, &e, 1);
      k.sigmoid(&x, &s, 1);
      k.softplus(&x, &p, 1);
      const std::string isa_name = ad::to_string(isa);
      CAPTURE(isa_name);
      CAPTURE(x);
      CHECK((e > 0 && e < 0x1p-126f));
      CHECK((s > 0 && s < 0x1p-126f));
      CHECK((p > 0 && p < 0x1p-126f));
    }
  }
}

// ---- 5. lengths, tails, in place ----------------------------------------------------

TEST_CASE("vec: every length and tail, out of place and in place, leaves the rest alone") {
  const std::vector<int64_t> lengths = {0, 1, 15, 17, 33, 1000003};
  constexpr int64_t kGuard = 40;  // floats after the end that must stay untouched
  constexpr float kGuardValue = -12345.5f;
  for (int64_t n : lengths) {
    // Inputs in [-30, 30], shifted by one float so that no array starts 64-byte aligned.
    std::vector<float> storage = uniform(n + 1, -30, 30, 10 + n);
    const float* x = storage.data() + 1;
    for (const UnaryCase& c : unary_cases()) {
      for (ad::Isa isa : ad::supported_isas()) {
        const Kernels& k = ad::vec::kernels(isa);
        std::vector<float> y(n + kGuard, kGuardValue);
        (k.*c.kernel)(x, y.data(), n);
        std::vector<float> in_place(x, x + n);
        in_place.resize(n + kGuard, kGuardValue);
        (k.*c.kernel)(in_place.data(), in_place.data(), n);

        int64_t worst = 0, differ_in_place = 0, guard_changed = 0;
        for (int64_t i = 0; i < n; ++i) {
          worst = std::max(worst, ulp_distance(y[i], static_cast<float>(c.exact(x[i]))));
          differ_in_place += !same(y[i], in_place[i]);
        }
        for (int64_t i = n; i < n + kGuard; ++i)
          guard_changed += !same(y[i], kGuardValue) + !same(in_place[i], kGuardValue);
        CAPTURE(c.name);
        const std::string isa_name = ad::to_string(isa);
        CAPTURE(isa_name);
        CAPTURE(n);
        CHECK(worst <= c.bound);
        CHECK(differ_in_place == 0);
        CHECK(guard_changed == 0);
      }
    }
  }
}

// ---- 6. bit-identical kernels ---------------------------------------------------------

TEST_CASE("vec: relu and relu_backward are bit-identical to the reference") {
  const std::vector<float> x = whole_range();  // every kind of float, NaN and +-inf included
  const int64_t n = int64_t(x.size()) - 3;
  REQUIRE(n % 8 != 0);  // a tail in every ISA
  const std::vector<float> g = uniform(n, -3, 3, 1);
  const Kernels& ref = ad::vec::kernels(ad::Isa::reference);
  std::vector<float> relu(n), relu_back(n);
  ref.relu(x.data(), relu.data(), n);
  ref.relu_backward(g.data(), x.data(), relu_back.data(), n);
  // The reference itself does what the relu op does: 0 * x below 0, so -0 for negatives
  // and NaN for NaN and -inf.
  const float probe[5] = {-kInf, -3, kNaN, 2, 0}, expected[5] = {kNaN, -0.0f, kNaN, 2, 0};
  float got[5];
  ref.relu(probe, got, 5);
  for (int i = 0; i < 5; ++i) CHECK(same(got[i], expected[i]));
  for (ad::Isa isa : ad::supported_isas()) {
    const Kernels& k = ad::vec::kernels(isa);
    std::vector<float> a(n), b(n);
    k.relu(x.data(), a.data(), n);
    k.relu_backward(g.data(), x.data(), b.data(), n);
    int64_t differ_relu = 0, differ_relu_back = 0;
    for (int64_t i = 0; i < n; ++i) {
      differ_relu += !same(a[i], relu[i]);
      differ_relu_back += !same(b[i], relu_back[i]);
    }
    const std::string isa_name = ad::to_string(isa);
    CAPTURE(isa_name);
    CHECK(differ_relu == 0);
    CHECK(differ_relu_back == 0);

    // In place: dx may be g.
    std::vector<float> in_place = g;
    k.relu_backward(in_place.data(), x.data(), in_place.data(), n);
    CHECK(std::equal(in_place.begin(), in_place.end(), relu_back.begin(), same));
  }
}

// ---- 7. the table, its errors, ulp_distance ---------------------------------------------

TEST_CASE("vec: kernels() follows active_isa(), an ISA the CPU lacks throws ad::Error") {
  check_table_choice<Kernels>(ad::vec::kernels, ad::vec::kernels);
}

TEST_CASE("vec: ulp_distance counts the floats between two values") {
  CHECK(ulp_distance(1.0f, 1.0f) == 0);
  CHECK(ulp_distance(1.0f, std::nextafter(1.0f, 2.0f)) == 1);
  CHECK(ulp_distance(std::nextafter(1.0f, 0.0f), std::nextafter(1.0f, 2.0f)) == 2);
  CHECK(ulp_distance(0.0f, -0.0f) == 0);
  CHECK(ulp_distance(kDenormMin, -kDenormMin) == 2);
  CHECK(ulp_distance(std::numeric_limits<float>::max(), kInf) == 1);
  CHECK(ulp_distance(-kInf, kInf) == 2 * int64_t(0x7f800000));
  CHECK(ulp_distance(kNaN, kNaN) == 0);
  CHECK(ulp_distance(kNaN, 1.0f) == std::numeric_limits<int64_t>::max());
  CHECK(ulp_distance(kInf, kNaN) == std::numeric_limits<int64_t>::max());
}
