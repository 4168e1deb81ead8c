// vae/linear_gaussian.h: evidence, posterior and the ELBO in closed form, checked by
// exact identities (and the posterior against Bayes' rule at a point).
#include <doctest/doctest.h>

#include <cmath>

#include "vae/kl.h"
#include "vae/linear_gaussian.h"

namespace {
// A random Gaussian q over k dimensions: mean N(0, 1), covariance random SPD.
vae::Gaussian random_q(int k, ad::Rng& rng) {
  std::vector<double> m(k);
  for (double& v : m) v = rng.normal();
  return {m, vae::random_spd(k, rng, 0.2)};
}
}  // namespace

TEST_CASE(
    "linear Gaussian: log p(x) = ELBO + KL(q || p(z|x)) for random q, tight at the posterior") {
  ad::Rng rng(3);
  const vae::LinearGaussian model = vae::LinearGaussian::random(5, 3, 0.7, rng);
  const std::vector<double> x = model.sample_x(rng);
  const double log_px = model.log_evidence(x);
  for (int trial = 0; trial < 20; ++trial) {
    const vae::Gaussian q = random_q(3, rng);
    const double elbo = vae::elbo(model, x, q), gap = vae::kl_to_posterior(model, x, q);
    CHECK(elbo + gap == doctest::Approx(log_px).epsilon(1e-10));
    CHECK(elbo < log_px);
  }
  const vae::Gaussian post = model.posterior(x);
  CHECK(vae::elbo(model, x, post) == doctest::Approx(log_px).epsilon(1e-12));
  CHECK(std::abs(vae::kl_to_posterior(model, x, post)) < 1e-10);
}

TEST_CASE("linear Gaussian: posterior density is p(x, z) / p(x) (Bayes' rule) at any z") {
  ad::Rng rng(5);
  const vae::LinearGaussian model = vae::LinearGaussian::random(4, 2, 0.5, rng);
  const std::vector<double> x = model.sample_x(rng);
  const vae::Gaussian post = model.posterior(x);
  for (int trial = 0; trial < 5; ++trial) {
    const std::vector<double> z = {rng.normal(), rng.normal()};
    CHECK(vae::gaussian_log_density(z, post) ==
          doctest::Approx(model.log_joint(x, z) - model.log_evidence(x)).epsilon(1e-10));
  }
}

TEST_CASE("linear Gaussian: closed-form ELBO pieces against their definitions") {
  // E_q[log q] is minus the entropy: for a 1-D N(m, s^2), -(1/2) log(2 pi e s^2).
  const vae::Gaussian q1 = vae::Gaussian::diagonal({0.4}, {1.7});
  CHECK(vae::expected_log_q(q1) ==
        doctest::Approx(-0.5 * std::log(2 * M_PI * std::exp(1.0) * 1.7 * 1.7)).epsilon(1e-12));
  // E_q[log N(z; 0, 1)] = -1/2 log(2 pi) - (m^2 + s^2) / 2
  CHECK(vae::expected_log_prior(q1) ==
        doctest::Approx(-0.5 * std::log(2 * M_PI) - 0.5 * (0.16 + 1.7 * 1.7)).epsilon(1e-12));
  // a point-mass-like q (tiny covariance): E_q[log p(x|z)] -> log p(x|m)
  ad::Rng rng(9);
  const vae::LinearGaussian model = vae::LinearGaussian::random(3, 2, 0.8, rng);
  const std::vector<double> x = model.sample_x(rng), m = {0.2, -0.3};
  const vae::Gaussian narrow = vae::Gaussian::diagonal(m, {1e-7, 1e-7});
  CHECK(vae::expected_log_likelihood(model, x, narrow) ==
        doctest::Approx(model.log_likelihood(x, m)).epsilon(1e-9));
  CHECK_THROWS(model.log_evidence({1.0, 2.0}));  // wrong data dimension
}
