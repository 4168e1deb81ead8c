// vae/estimators on the notes' Example 1.5 (003, eqs. 33-41): q_phi = N(phi, 1),
// f(x) = x^2, grad_phi E[x^2] = 2 phi. Both estimators must be unbiased (mean within 4
// standard errors of 2 phi at a fixed seed) with per-sample variances
//   score function:     Var[x^2 (x - phi)]  = phi^4 + 14 phi^2 + 15
//   reparameterization: Var[2 (phi + eps)]  = 4
// and a constant baseline b must keep the mean and change the variance to
//   phi^4 + 14 phi^2 + 15 - 2 b (phi^2 + 3) + b^2.
#include <algorithm>
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autodiff/autodiff.h"
#include "vae/distributions.h"
#include "vae/per_sample_gradients.h"

using ad::Tensor;

namespace {

constexpr double kNse = 4.0;

void check_within_se(double estimate, double se, double exact) {
  INFO("estimate ", estimate, " exact ", exact, " se ", se);
  CHECK(std::abs(estimate - exact) <= kNse * se);
}

Tensor square_sum(const Tensor& z) { return ad::sum(z * z, -1); }

}  // namespace

TEST_CASE("Example 1.5: score-function and reparameterization estimators, means and variances") {
  const vae::Family q = vae::gaussian_location_family(1.0);
  const vae::Integrand f = vae::of_z(square_sum);
  for (double phi : {0.0, 1.5, -2.0}) {
    INFO("phi = ", phi);
    ad::Rng rng(100 + static_cast<int>(phi * 10));
    std::vector<Tensor> params = {Tensor::from({phi}, {1}, ad::f64)};
    const int n = 40000;
    vae::Summary score =
        vae::summarize(vae::score_function_gradients(q, params, n, f, rng).column(0));
    vae::Summary reparam =
        vae::summarize(vae::reparameterization_gradients(q, params, n, f, rng).column(0));
    check_within_se(score.mean, score.se_mean, 2 * phi);
    check_within_se(reparam.mean, reparam.se_mean, 2 * phi);
    const double p2 = phi * phi;
    check_within_se(score.variance, score.se_variance, p2 * p2 + 14 * p2 + 15);
    check_within_se(reparam.variance, reparam.se_variance, 4.0);

    for (double b : {p2 + 1, p2 + 3}) {
      vae::Summary s =
          vae::summarize(vae::score_function_gradients(q, params, n, f, rng, b).column(0));
      check_within_se(s.mean, s.se_mean, 2 * phi);
      check_within_se(s.variance, s.se_variance, p2 * p2 + 14 * p2 + 15 - 2 * b * (p2 + 3) + b * b);
    }
  }
}

TEST_CASE("per-sample gradients by hand: rows are x^2 (x - phi) and 2 x") {
  const vae::Family q = vae::gaussian_location_family(1.0);
  std::vector<Tensor> params = {Tensor::from({0.7}, {1}, ad::f64)};
  ad::Rng rng(1);
  vae::GradientSamples s = vae::score_function_gradients(q, params, 5, vae::of_z(square_sum), rng);
  ad::Rng rng2(1);  // the same draws
  vae::GradientSamples r =
      vae::reparameterization_gradients(q, params, 5, vae::of_z(square_sum), rng2);
  REQUIRE(s.n == 5);
  REQUIRE(s.p == 1);
  for (int i = 0; i < 5; ++i) {
    // f_values are x^2; recover x from the reparameterized run, whose rows are 2 x.
    const double x_r = r.at(i, 0) / 2;
    CHECK(r.f_values[i] == doctest::Approx(x_r * x_r).epsilon(1e-12));
    CHECK(s.at(i, 0) == doctest::Approx(x_r * x_r * (x_r - 0.7)).epsilon(1e-12));
  }
}

TEST_CASE("diagonal Gaussian family: both estimators agree with the closed-form gradient") {
  // E[sum_i z_i^2] = sum_i mu_i^2 + exp(logvar_i): gradient 2 mu and exp(logvar).
  const vae::Family q = vae::diag_gaussian_family();
  std::vector<Tensor> params = {Tensor::from({0.5, -1.0}, {2}, ad::f64),
                                Tensor::from({-0.4, 0.3}, {2}, ad::f64)};
  const double expected[4] = {1.0, -2.0, std::exp(-0.4), std::exp(0.3)};
  ad::Rng rng(21);
  const int n = 40000;
  vae::GradientSamples s = vae::score_function_gradients(q, params, n, vae::of_z(square_sum), rng);
  vae::GradientSamples r =
      vae::reparameterization_gradients(q, params, n, vae::of_z(square_sum), rng);
  REQUIRE(s.p == 4);
  for (int j = 0; j < 4; ++j) {
    INFO("parameter ", j);
    vae::Summary a = vae::summarize(s.column(j)), b = vae::summarize(r.column(j));
    check_within_se(a.mean, a.se_mean, expected[j]);
    check_within_se(b.mean, b.se_mean, expected[j]);
  }
}

TEST_CASE("repeated_estimates: the N-sample estimate's variance is the per-sample variance / N") {
  const vae::Family q = vae::gaussian_location_family(1.0);
  std::vector<Tensor> params = {Tensor::from({1.0}, {1}, ad::f64)};
  ad::Rng rng(8);
  auto draw = [&](int64_t n) {
    return vae::reparameterization_gradients(q, params, n, vae::of_z(square_sum), rng);
  };
  for (int64_t N : {10, 250}) {
    // max_rows 100 forces both code paths (several estimates per draw, several draws per estimate).
    std::vector<double> e = vae::repeated_estimates(draw, N, 400, 0, 100);
    REQUIRE(e.size() == 400);
    vae::Summary s = vae::summarize(e);
    check_within_se(s.mean, s.se_mean, 2.0);
    check_within_se(s.variance, s.se_variance, 4.0 / N);
  }
}
