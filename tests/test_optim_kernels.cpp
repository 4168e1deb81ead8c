// Tests for nn::adam_update (nn/optim_kernels.h), the fused Adam step.
//
// The SIMD versions promise the reference's floats bit for bit, so every check here is
// exact: each ISA against the reference over several steps, for lengths that leave every
// tail (with guard values after the end), for awkward values (zero, tiny and huge
// gradients, denormals, NaN); then the reference against nn::Adam::step itself, so that
// the fused kernel is known to compute what the optimiser computes today.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "autodiff/shape.h"
#include "tests/float_kernels.h"
#include "nn/nn.h"
#include "nn/optim_kernels.h"

namespace {

// Deterministic values in [lo, hi) (a 64-bit LCG), independent of the project's Rng.
std::vector<float> uniform(int64_t n, double lo, double hi, uint64_t seed) {
  std::vector<float> v(n);
  for (float& x : v) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    x = static_cast<float>(lo + (hi - lo) * (double(seed >> 11) / double(uint64_t(1) << 53)));
  }
  return v;
}

// The step-t constants as nn::Adam computes them.
nn::AdamStep step_at(int t, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
                     double eps = 1e-8) {
  return nn::adam_step(t, {.lr = lr, .beta1 = beta1, .beta2 = beta2, .eps = eps});
}

std::vector<double> to_doubles(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// Same bits, or both NaN.
bool same(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0;
}

// One parameter's state: weights, moments and a gradient per step, with guard values
// after the end of each buffer that no update may touch.
constexpr int64_t kGuard = 20;
constexpr float kGuardValue = -777.25f;

struct State {
  int64_t n;
  std::vector<float> w, m, v;
  State(int64_t size, uint64_t seed)
      : n(size), w(uniform(size, -1, 1, seed)), m(size, 0.0f), v(size, 0.0f) {
    for (std::vector<float>* b : {&w, &m, &v}) b->resize(size + kGuard, kGuardValue);
  }
  void update(ad::Isa isa, const std::vector<float>& g, const nn::AdamStep& s) {
    nn::adam_update(isa, w.data(), m.data(), v.data(), g.data(), n, s);
  }
};

// Counts the elements (guards included) where a and b differ.
int64_t differences(const State& a, const State& b) {
  int64_t count = 0;
  for (int64_t i = 0; i < a.n + kGuard; ++i)
    count += !same(a.w[i], b.w[i]) + !same(a.m[i], b.m[i]) + !same(a.v[i], b.v[i]);
  return count;
}

}  // namespace

TEST_CASE("adam_update, vectorised: each ISA gives the reference's bits, for any length") {
  for (int64_t n : {0, 1, 7, 15, 17, 33, 1000003}) {
    State ref(n, 1);
    const std::vector<ad::Isa> isas = ad::supported_isas();
    std::vector<State> fast(isas.size(), State(n, 1));
    for (int t = 1; t <= 3; ++t) {
      std::vector<float> g = uniform(n, -2, 2, 100 + t);
      g.resize(n + kGuard, kGuardValue);
      const nn::AdamStep s = step_at(t);
      ref.update(ad::Isa::reference, g, s);
      for (size_t k = 0; k < fast.size(); ++k) {
        const ad::Isa isa = isas[k];
        fast[k].update(isa, g, s);
        const std::string isa_name = ad::to_string(isa);
        CAPTURE(isa_name);
        CAPTURE(n);
        CAPTURE(t);
        CHECK(differences(fast[k], ref) == 0);
      }
    }
    for (int64_t i = n; i < n + kGuard; ++i) CHECK(ref.w[i] == kGuardValue);
  }
}

TEST_CASE("adam_update, vectorised: awkward values are handled as the reference handles them") {
  const float tiny = std::numeric_limits<float>::denorm_min();
  const float huge = 1e30f, nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  // 37 gradients: an odd length, so every ISA also runs its tail on them.
  const std::vector<float> g = {0,    -0.0f, tiny,  -tiny,  1e-20f, -1e-20f, huge,   -huge,
                                nan,  inf,   -inf,  1e-3f,  3.5f,   -7.25f,  1e-38f, 2e-45f,
                                1,    -1,    0.1f,  -0.1f,  1e5f,   -1e5f,   42,     1e-10f,
                                0.5f, -0.5f, 1e19f, 1e-19f, 2,      -2,      3,      -3,
                                4,    -4,    5,     -5,     6};
  const int64_t n = int64_t(g.size());
  // Odd hyperparameters too: eps = 0 (0/0 where v = 0), a large learning rate.
  for (const nn::AdamStep& s : {step_at(1), step_at(1000, 0.5, 0.5, 0.9, 0.0), step_at(7, 1e-2)}) {
    State ref(n, 9);
    ref.update(ad::Isa::reference, g, s);
    for (ad::Isa isa : ad::supported_isas()) {
      State fast(n, 9);
      fast.update(isa, g, s);
      const std::string isa_name = ad::to_string(isa);
      CAPTURE(isa_name);
      CAPTURE(s.eps);
      CHECK(differences(fast, ref) == 0);
    }
  }
}

TEST_CASE("adam_update, vectorised: the reference computes what nn::Adam::step computes") {
  // loss = sum(p * c) for a constant c, so the gradient of p is exactly c.
  const int64_t n = 37;
  const std::vector<float> w0 = uniform(n, -1, 1, 3);
  std::vector<std::vector<float>> grads;
  for (int t = 1; t <= 3; ++t) grads.push_back(uniform(n, -2, 2, 50 + t));

  ad::Tensor p =
      ad::Tensor::from(std::vector<double>(w0.begin(), w0.end()), {n}, ad::f32).requires_grad_();
  nn::Adam adam({{"p", p}}, {.lr = 1e-2});
  State ref(n, 0);
  std::copy(w0.begin(), w0.end(), ref.w.begin());
  for (int t = 1; t <= 3; ++t) {
    const std::vector<float>& g = grads[t - 1];
    adam.zero_grad();
    ad::backward(
        ad::sum(p * ad::Tensor::from(std::vector<double>(g.begin(), g.end()), {n}, ad::f32)));
    adam.step();
    std::vector<float> padded = g;
    padded.resize(n + kGuard, kGuardValue);
    ref.update(ad::Isa::reference, padded, step_at(t, 1e-2));
    int64_t differ = 0;
    for (int64_t i = 0; i < n; ++i) {
      differ += !same(p.data<float>()[i], ref.w[i]);
      differ += !same(adam.buffer("adam/m/p").data<float>()[i], ref.m[i]);
      differ += !same(adam.buffer("adam/v/p").data<float>()[i], ref.v[i]);
    }
    CAPTURE(t);
    CHECK(differ == 0);
  }
}

TEST_CASE("adam_update, vectorised: the default entry point; a missing ISA throws ad::Error") {
  const std::vector<float> g = uniform(19, -1, 1, 4);
  State a(19, 2), b(19, 2);
  nn::adam_update(a.w.data(), a.m.data(), a.v.data(), g.data(), 19, step_at(1));
  b.update(ad::active_isa(), g, step_at(1));
  CHECK(differences(a, b) == 0);

  float_kernels::check_unsupported_isas_throw([&](ad::Isa isa) { a.update(isa, g, step_at(1)); });
}

TEST_CASE("nn::Adam splits large parameters between threads without changing a bit") {
  // Two parameters laid end to end (300001 + 70001 elements), so parts cut across both.
  auto run = [](int threads) {
    omp_set_num_threads(threads);
    ad::Tensor a = ad::Tensor::from(to_doubles(uniform(300001, -1, 1, 7)), {300001}, ad::f32)
                       .requires_grad_();
    ad::Tensor b = ad::Tensor::from(to_doubles(uniform(70001, -1, 1, 8)), {70001}, ad::f32)
                       .requires_grad_();
    nn::Adam adam({{"a", a}, {"b", b}}, {.lr = 1e-2});
    for (int t = 1; t <= 2; ++t) {
      adam.zero_grad();
      ad::backward(ad::sum(a * a) + ad::sum(ad::sin(b)));
      adam.step();
    }
    omp_set_num_threads(1);
    std::vector<double> all = a.to_vector(), tail = b.to_vector();
    all.insert(all.end(), tail.begin(), tail.end());
    return all;
  };
  const int saved = omp_get_max_threads();
  const std::vector<double> one = run(1), two = run(2), three = run(3);
  omp_set_num_threads(saved);
  CHECK(one == two);
  CHECK(one == three);
}
