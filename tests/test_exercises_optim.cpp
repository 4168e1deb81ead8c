// The exercise track's tests for Adam (docs/exercises.md, E02): the reference update
// against Kingma & Ba's Algorithm 1 written out in double, and the bias corrections.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autodiff/autodiff.h"
#include "nn/optim.h"
#include "nn/optim_kernels.h"

TEST_CASE("E02.1: Adam's reference update moves m, v and w as Algorithm 1") {
  const double b1 = 0.8, b2 = 0.95, eps = 1e-3, step_size = 0.05, inv_sqrt_c2 = 1.7;
  const nn::AdamStep s{float(b1), float(b2), float(eps), float(step_size), float(inv_sqrt_c2)};
  std::vector<float> w = {1, -2, 0.5}, m = {0.1f, 0, -0.3f}, v = {0.04f, 0, 0.5f};
  const std::vector<float> g = {0.5f, -1, 2};
  std::vector<double> ew(w.begin(), w.end()), em(m.begin(), m.end()), ev(v.begin(), v.end());
  for (size_t i = 0; i < w.size(); ++i) {
    em[i] = b1 * em[i] + (1 - b1) * g[i];
    ev[i] = b2 * ev[i] + (1 - b2) * g[i] * g[i];
    ew[i] -= step_size * em[i] / (std::sqrt(ev[i]) * inv_sqrt_c2 + eps);
  }
  nn::adam_update(ad::Isa::reference, w.data(), m.data(), v.data(), g.data(), 3, s);
  for (size_t i = 0; i < w.size(); ++i) {
    CAPTURE(i);
    CHECK(m[i] == doctest::Approx(em[i]).epsilon(1e-6));
    CHECK(v[i] == doctest::Approx(ev[i]).epsilon(1e-6));
    CHECK(w[i] == doctest::Approx(ew[i]).epsilon(1e-6));
  }
}

TEST_CASE("E02.2: Adam's bias corrections divide by 1 - beta1^t and 1 - beta2^t") {
  const nn::AdamOptions o{.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
  for (int t : {1, 2, 10, 1000}) {
    CAPTURE(t);
    const nn::AdamStep s = nn::adam_step(t, o);
    CHECK(s.step_size == doctest::Approx(0.01 / (1 - std::pow(0.9, t))).epsilon(1e-6));
    CHECK(s.inv_sqrt_c2 == doctest::Approx(1 / std::sqrt(1 - std::pow(0.999, t))).epsilon(1e-6));
  }
  // So the first step moves every weight by lr against its gradient's sign, whatever
  // the gradient's size (m / sqrt(v) = g / |g| at t = 1): here for a float64 parameter.
  ad::Tensor p = ad::Tensor::from({1, 1, 1}, {3}, ad::f64).requires_grad_();
  ad::Tensor g = ad::Tensor::from({1e-3, -5, 40}, {3}, ad::f64);
  p.node()->grad = g.node_ptr();
  nn::Adam adam({{"p", p}}, {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-12});
  adam.step();
  CHECK(p.flat(0) == doctest::Approx(0.99).epsilon(1e-7));
  CHECK(p.flat(1) == doctest::Approx(1.01).epsilon(1e-7));
  CHECK(p.flat(2) == doctest::Approx(0.99).epsilon(1e-7));
}
