// Tests for ad::gemm: every implementation the CPU supports, every transpose
// combination, float and double. Each result, the reference kernel's included, is
// checked against one independent, more precise oracle, so the fast paths agree with
// the reference within twice the bound below, and the reference itself is checked.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "autodiff/runtime/fp_contract.h"
#include "autodiff/runtime/gemm.h"
#include "autodiff/shape.h"

namespace {

// A 64-bit LCG: deterministic values in [-1, 1), independent of the project's Rng.
class Lcg {
 public:
  explicit Lcg(uint64_t seed) : state_(seed) {}
  double next() {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return double(state_ >> 11) / double(uint64_t(1) << 52) - 1.0;
  }

 private:
  uint64_t state_;
};

struct Shape {
  int64_t m, k, n;
};

// alpha, beta and how much larger than the minimum the leading dimensions are.
// beta == 0 cases start C as NaN: gemm must overwrite it, not scale it.
struct Scaling {
  double alpha, beta;
  int64_t pad;
};

// The exact dot product of two rows of doubles, to about twice double precision, with
// double arithmetic only (Ogita, Rump and Oishi's Dot2): each product is split exactly
// into p + e with an FMA, each sum's rounding error is recovered exactly (TwoSum), and
// the errors are added up on the side. Hardware speed everywhere, where long double
// would be 80 bits on x86-64, software-emulated 128 bits on Linux arm64 (minutes under
// qemu) and plain double on Apple's arm64. AD_NO_CONTRACT: a compiler that fused
// `sum + a * b` into one FMA would lose the very rounding errors this keeps.
struct TwiceDouble {
  double sum = 0, error = 0;

  __attribute__((AD_NO_CONTRACT)) void add_product(double a, double b) {
    const double product = a * b;
    const double product_error = std::fma(a, b, -product);  // a b - product, exactly
    const double new_sum = sum + product;
    const double back = new_sum - sum;
    const double sum_error = (sum - (new_sum - back)) + (product - back);  // exactly
    sum = new_sum;
    error += product_error + sum_error;
  }
  long double value() const { return (long double)sum + (long double)error; }
};

// One problem, held as the logical op(A) (m x k), op(B) (k x n) and C (m x n), with
// the oracle's answer and an error bound for every element of the result.
//
// The oracle sums in twice double precision (TwiceDouble). The bound is the standard one for a length-k dot
// product in precision eps: (k + 2) * eps * (|alpha| sum_p |a_ip b_pj| + |beta c_ij|),
// for k roundings in the sum plus the alpha and beta products and the final add.
// Any summation order, blocking or use of FMA stays inside it; a wrong element (a
// missed or doubled term, a wrong transpose) is off by a whole term, typically ten
// times the bound or more (k = 785 in float: bound ~0.02, a term ~0.25).
template <class T>
struct Problem {
  Shape s;
  Scaling scaling;
  std::vector<T> op_a, op_b, c;
  std::vector<long double> expected, bound;

  Problem(Shape shape, Scaling sc, uint64_t seed) : s(shape), scaling(sc) {
    Lcg rng(seed);
    for (int64_t i = 0; i < s.m * s.k; ++i) op_a.push_back(T(rng.next()));
    for (int64_t i = 0; i < s.k * s.n; ++i) op_b.push_back(T(rng.next()));
    for (int64_t i = 0; i < s.m * s.n; ++i)
      c.push_back(sc.beta == 0 ? std::numeric_limits<T>::quiet_NaN() : T(rng.next()));
    compute_expected();
  }

  void compute_expected() {
    const long double eps = std::numeric_limits<T>::epsilon();
    const long double alpha = scaling.alpha, beta = scaling.beta;
    for (int64_t i = 0; i < s.m; ++i) {
      for (int64_t j = 0; j < s.n; ++j) {
        TwiceDouble sum;
        double magnitude = 0;  // only for the bound: plain double is plenty
        for (int64_t q = 0; q < s.k; ++q) {
          const double a = op_a[i * s.k + q], b = op_b[q * s.n + j];
          sum.add_product(a, b);
          magnitude += std::fabs(a * b);
        }
        const long double c0 = beta == 0 ? 0 : c[i * s.n + j];  // beta == 0: C is not read
        expected.push_back(alpha * sum.value() + beta * c0);
        bound.push_back((s.k + 2) * eps * (std::fabs(alpha) * magnitude + std::fabs(beta * c0)));
      }
    }
  }
};

// The logical rows x cols matrix `x` stored as gemm reads it: as is or transposed,
// with leading dimension `ld`. Padding holds a value that must never show up.
template <class T>
std::vector<T> stored(const std::vector<T>& x, int64_t rows, int64_t cols, bool trans, int64_t ld) {
  const int64_t stored_rows = trans ? cols : rows;
  std::vector<T> out(std::max<int64_t>(1, stored_rows * ld), T(1e6));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      (trans ? out[j * ld + i] : out[i * ld + j]) = x[i * cols + j];
  return out;
}

// The largest error of `got` (m x n, leading dimension ldc) relative to its bound:
// <= 1 when every element is within its bound (NaN, or an error where the bound is 0,
// gives infinity). Below 1 it says how much of the bound the worst element used.
template <class T>
double worst_error_ratio(const Problem<T>& p, const std::vector<T>& got, int64_t ldc) {
  double worst = 0;
  for (int64_t i = 0; i < p.s.m; ++i) {
    for (int64_t j = 0; j < p.s.n; ++j) {
      const long double error = std::fabs(got[i * ldc + j] - p.expected[i * p.s.n + j]);
      const long double bound = p.bound[i * p.s.n + j];
      if (std::isnan(error)) return INFINITY;
      if (error == 0) continue;
      if (bound == 0) return INFINITY;
      worst = std::max(worst, double(error / bound));
    }
  }
  return worst;
}

// Runs one implementation on `p` with the given transposes; returns C (with padding).
template <class T>
std::vector<T> run(ad::Isa isa, const Problem<T>& p, bool trans_a, bool trans_b) {
  const auto [m, k, n] = p.s;
  const int64_t pad = p.scaling.pad;
  const int64_t lda = (trans_a ? m : k) + pad, ldb = (trans_b ? k : n) + pad, ldc = n + pad;
  const std::vector<T> a = stored(p.op_a, m, k, trans_a, lda);
  const std::vector<T> b = stored(p.op_b, k, n, trans_b, ldb);
  std::vector<T> c = stored(p.c, m, n, false, ldc);
  ad::gemm_with(isa, trans_a, trans_b, m, n, k, T(p.scaling.alpha), a.data(), lda, b.data(), ldb,
                T(p.scaling.beta), c.data(), ldc);
  return c;
}

// The shapes (m, k, n) with, for each, the scalings to try. The large one (k above
// the depth block, m and n above a tile, neither a multiple of one) runs once, with
// beta != 0 and padding, to keep the test fast (the reference kernel runs on it too).
struct Case {
  Shape shape;
  Scaling scaling;
};

const Scaling plain{1, 0, 0}, scaled_padded{-0.75, 1.5, 3};

// Heights and widths that end in every remainder of the AVX2 float tile (4 rows x 24
// columns in 3 registers of 8): m = 12 + i and n = 48 + i for i = 1 .. 23 leave every
// m mod 4 (and mod 8) and n mod 24 = 1 .. 23 (so every n mod 8, and 1 .. 23 after the
// AVX-512 tile's 48 columns), with a depth (19) that no vector width divides.
std::vector<Case> tile_edge_cases() {
  std::vector<Case> edges;
  for (int64_t i = 1; i <= 23; ++i)
    edges.push_back({{12 + i, 19, 48 + i}, i % 2 == 0 ? plain : scaled_padded});
  return edges;
}

const std::vector<Case> cases = [] {
  std::vector<Case> all = {
    {{1, 1, 1}, plain},
    {{1, 1, 1}, scaled_padded},
    {{1, 7, 1}, plain},
    {{1, 7, 1}, scaled_padded},
    {{7, 13, 5}, plain},
    {{7, 13, 5}, scaled_padded},
    {{17, 33, 65}, plain},
    {{17, 33, 65}, scaled_padded},
    {{129, 785, 401}, scaled_padded},
    {{7, 0, 5}, plain},
    {{7, 0, 5}, scaled_padded},
    // Panels read in place instead of packed: n <= nr reads A in place (k = 600 > kc
    // also splits the depth), m <= mr reads B in place.
    {{41, 600, 20}, plain},
    {{41, 600, 20}, scaled_padded},
    {{5, 70, 96}, scaled_padded},
    // widths that end in 1-4 columns after whole 48-column panels (the narrow tiles),
    // with depths that are not multiples of 4 and one over the 512-step depth block
    {{9, 301, 49}, plain},
    {{16, 77, 50}, scaled_padded},
    {{24, 1030, 99}, scaled_padded},
    {{17, 290, 196}, plain},
    // one column after whole 24-column panels (AVX2's column kernel) over two depth blocks
    {{20, 1030, 73}, scaled_padded},
  };
  for (const Case& edge : tile_edge_cases()) all.push_back(edge);
  return all;
}();

// Entries of C's padding columns that gemm changed (they are not part of C).
template <class T>
int64_t padding_changed(const std::vector<T>& c, const Case& cs) {
  const int64_t ldc = cs.shape.n + cs.scaling.pad;
  int64_t changed = 0;
  for (int64_t i = 0; i < cs.shape.m; ++i)
    for (int64_t j = cs.shape.n; j < ldc; ++j) changed += c[i * ldc + j] != T(1e6);
  return changed;
}

}  // namespace

TEST_CASE_TEMPLATE("gemm: every ISA and transpose agrees with the oracle", T, float, double) {
  uint64_t seed = 1;
  // Per ISA, the worst ratio over every case and transpose, and over the deep cases
  // alone (k = 600 and 785: more than one depth block, long sums).
  std::map<ad::Isa, double> worst, worst_deep;
  for (const Case& cs : cases) {
    const Problem<T> problem(cs.shape, cs.scaling, seed++);
    for (ad::Isa isa : ad::supported_isas()) {
      for (int trans = 0; trans < 4; ++trans) {
        const bool trans_a = trans & 1, trans_b = trans & 2;
        CAPTURE(ad::to_string(isa));
        CAPTURE(trans_a);
        CAPTURE(trans_b);
        CAPTURE(cs.shape.m);
        CAPTURE(cs.shape.k);
        CAPTURE(cs.shape.n);
        CAPTURE(cs.scaling.alpha);
        CAPTURE(cs.scaling.beta);
        CAPTURE(cs.scaling.pad);
        const std::vector<T> c = run(isa, problem, trans_a, trans_b);
        const double ratio = worst_error_ratio(problem, c, cs.shape.n + cs.scaling.pad);
        CHECK(ratio <= 1.0);
        CHECK(padding_changed(c, cs) == 0);
        worst[isa] = std::max(worst[isa], ratio);
        if (cs.shape.k >= 600) worst_deep[isa] = std::max(worst_deep[isa], ratio);
      }
    }
  }
  std::string summary = sizeof(T) == 4 ? "float" : "double";
  for (const auto& [isa, ratio] : worst)
    summary += fmt::format(", {} {:.3g} (k >= 600: {:.3g})", ad::to_string(isa), ratio,
                           worst_deep[isa]);
  MESSAGE("worst error / bound: ", summary);
}

TEST_CASE("gemm: the default entry point uses the best ISA and is correct") {
  CHECK(ad::isa_supported(ad::best_isa()));
  const Problem<float> p({33, 70, 50}, {2, 0, 0}, 99);
  std::vector<float> c = p.c;
  ad::gemm(false, false, 33, 50, 70, 2.0f, p.op_a.data(), 70, p.op_b.data(), 50, 0.0f, c.data(),
           50);
  CHECK(worst_error_ratio(p, c, 50) <= 1.0);
}

TEST_CASE("gemm: any number of threads gives the same, correct result") {
  const int saved = omp_get_max_threads();
  const Problem<float> p({100, 300, 200}, {1, 0, 0}, 7);
  for (int threads : {1, 2, 3}) {
    CAPTURE(threads);
    omp_set_num_threads(threads);  // 3: an uneven split, even on a 2-core machine
    std::vector<float> c = p.c;
    ad::gemm(false, false, 100, 200, 300, 1.0f, p.op_a.data(), 300, p.op_b.data(), 200, 0.0f,
             c.data(), 200);
    CHECK(worst_error_ratio(p, c, 200) <= 1.0);
  }
  omp_set_num_threads(saved);
}

TEST_CASE_TEMPLATE("gemm: a PackedA gives gemm's bits, on every ISA, transpose and thread count",
                   T, float, double) {
  // The packed panels must be the ones gemm packs itself (every depth block, rows that end
  // in part of a tile) and each thread's part of C must find its own rows in them.
  const int saved = omp_get_max_threads();
  uint64_t seed = 500;
  // A tall C is split by rows between 3 threads (the cases' wide ones by columns).
  std::vector<Case> all = cases;
  all.push_back({{301, 150, 30}, scaled_padded});
  for (const Case& cs : all) {
    // (Not a structured binding: clang 14 does not let CAPTURE's lambdas capture one.)
    const int64_t m = cs.shape.m, k = cs.shape.k, n = cs.shape.n;
    const Problem<T> p(cs.shape, cs.scaling, seed++);
    for (ad::Isa isa : ad::supported_isas())
      for (int trans = 0; trans < 4; ++trans) {
        const bool trans_a = trans & 1, trans_b = trans & 2;
        CAPTURE(ad::to_string(isa));
        CAPTURE(trans_a);
        CAPTURE(trans_b);
        CAPTURE(m);
        CAPTURE(k);
        CAPTURE(n);
        const int64_t pad = cs.scaling.pad;
        const int64_t lda = (trans_a ? m : k) + pad, ldb = (trans_b ? k : n) + pad;
        const int64_t ldc = n + pad;
        const std::vector<T> a = stored(p.op_a, m, k, trans_a, lda);
        const std::vector<T> b = stored(p.op_b, k, n, trans_b, ldb);
        const T alpha = T(cs.scaling.alpha), beta = T(cs.scaling.beta);
        const ad::PackedA<T> packed(trans_a, m, k, a.data(), lda, isa);
        for (int threads : {1, 3}) {
          CAPTURE(threads);
          omp_set_num_threads(threads);
          std::vector<T> direct = stored(p.c, m, n, false, ldc), from_packed = direct;
          ad::gemm_with(isa, trans_a, trans_b, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta,
                        direct.data(), ldc);
          ad::gemm(packed, trans_b, n, alpha, b.data(), ldb, beta, from_packed.data(), ldc);
          CHECK(std::memcmp(direct.data(), from_packed.data(), direct.size() * sizeof(T)) == 0);
        }
      }
  }
  omp_set_num_threads(saved);
}

TEST_CASE("gemm: m == 0 or n == 0 changes nothing") {
  std::vector<double> a(4, 1.0), b(4, 1.0), c(4, 7.0);
  for (ad::Isa isa : ad::supported_isas()) {
    ad::gemm_with(isa, false, false, 0, 2, 2, 1.0, a.data(), 2, b.data(), 2, 0.0, c.data(), 2);
    ad::gemm_with(isa, false, false, 2, 0, 2, 1.0, a.data(), 2, b.data(), 2, 0.0, c.data(), 2);
    CHECK(c == std::vector<double>(4, 7.0));
  }
}

TEST_CASE("gemm: the ISA list and names") {
  const std::vector<ad::Isa> isas = ad::supported_isas();
  REQUIRE(!isas.empty());
  CHECK(isas.front() == ad::Isa::reference);
  CHECK(std::string(ad::to_string(ad::Isa::avx512)) == "avx512");
  CHECK(std::string(ad::to_string(ad::Isa::neon)) == "neon");
  // Each build has the SIMD kernels of one CPU family only.
  CHECK_FALSE((ad::isa_supported(ad::Isa::neon) && ad::isa_supported(ad::Isa::avx2)));
  bool best_listed = false;
  for (ad::Isa isa : isas) best_listed |= isa == ad::best_isa();
  CHECK(best_listed);
}

TEST_CASE("gemm_with and PackedA: an ISA the CPU lacks throws ad::Error") {
  float a = 1, b = 1, c = 0;
  auto call = [&](ad::Isa isa) {
    ad::gemm_with(isa, false, false, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1);
  };
  auto pack = [&](ad::Isa isa) { ad::PackedA<float>(false, 1, 1, &a, 1, isa); };
  // Not an ISA at all: never supported, so this path is checked on every machine.
  CHECK_THROWS_AS(call(static_cast<ad::Isa>(42)), ad::Error);
  CHECK_THROWS_AS(pack(static_cast<ad::Isa>(42)), ad::Error);
  int unsupported = 0;
  for (ad::Isa isa : {ad::Isa::avx2, ad::Isa::avx512, ad::Isa::neon}) {
    if (ad::isa_supported(isa)) continue;
    ++unsupported;
    CHECK_THROWS_AS(call(isa), ad::Error);
    CHECK_THROWS_AS(pack(isa), ad::Error);
  }
  CHECK(unsupported >= 1);  // a build has the SIMD kernels of one CPU family only
}

TEST_CASE("gemm: invalid sizes and leading dimensions throw ad::Error") {
  std::vector<float> a(16), b(16), c(16);
  CHECK_THROWS_WITH_AS(
      ad::gemm(false, false, 2, 2, 3, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2),
      "gemm: a is stored as 2 x 3, so lda must be >= 3, got 2", ad::Error);
  CHECK_THROWS_AS(
      ad::gemm(false, false, -1, 2, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2),
      ad::Error);
  CHECK_THROWS_AS(
      ad::gemm(false, false, 2, 2, 3, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2),
      ad::Error);  // lda < k
  CHECK_THROWS_AS(ad::gemm(true, false, 3, 2, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2),
                  ad::Error);  // A^T: lda < m
  CHECK_THROWS_AS(
      ad::gemm(false, false, 2, 3, 2, 1.0f, a.data(), 2, b.data(), 3, 0.0f, c.data(), 2),
      ad::Error);  // ldc < n
  // The same checks when A is packed beforehand: A's when packing, B's and C's per product.
  CHECK_THROWS_WITH_AS(ad::PackedA<float>(false, 2, 3, a.data(), 2),
                       "gemm: a is stored as 2 x 3, so lda must be >= 3, got 2", ad::Error);
  const ad::PackedA<float> packed(false, 2, 2, a.data(), 2);
  CHECK_THROWS_WITH_AS(ad::gemm(packed, false, 3, 1.0f, b.data(), 2, 0.0f, c.data(), 3),
                       "gemm: b is stored as 2 x 3, so ldb must be >= 3, got 2", ad::Error);
  CHECK_THROWS_AS(ad::gemm(packed, false, 3, 1.0f, b.data(), 3, 0.0f, c.data(), 2),
                  ad::Error);  // ldc < n
}
