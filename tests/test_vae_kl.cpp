// vae/kl.h on its own: discrete KL against known values and its errors, the Gaussian
// closed form against Monte Carlo, and the VAE's diagonal KL on the tape.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>

#include "autodiff/autodiff.h"
#include "vae/kl.h"
#include "vae/linear_gaussian.h"

using vae::Matrix;

TEST_CASE("KL discrete: known values, zeros and errors") {
  // p uniform over 3 outcomes, q = (0.36, 0.48, 0.16): the slide's example in note 000.
  const std::vector<double> p = {1.0 / 3, 1.0 / 3, 1.0 / 3}, q = {0.36, 0.48, 0.16};
  CHECK(vae::kl_discrete(p, q) == doctest::Approx(0.0974545).epsilon(1e-6));
  CHECK(vae::kl_discrete(q, p) == doctest::Approx(0.0852996).epsilon(1e-6));
  CHECK(vae::kl_discrete(p, p) == 0.0);
  // a fair coin against q = (1/4, 3/4): 1/2 log(0.5/0.25) + 1/2 log(0.5/0.75)
  CHECK(vae::kl_discrete({0.5, 0.5}, {0.25, 0.75}) ==
        doctest::Approx(0.5 * std::log(2.0) + 0.5 * std::log(2.0 / 3.0)));
  // p_i = 0 terms contribute nothing, even where q_i = 0
  CHECK(vae::kl_discrete({0.0, 1.0}, {0.0, 1.0}) == 0.0);
  CHECK(vae::kl_discrete({0.0, 1.0}, {0.5, 0.5}) == doctest::Approx(std::log(2.0)));
  CHECK_THROWS_AS(vae::kl_discrete({0.5, 0.5}, {1.0, 0.0}), ad::Error);   // infinite
  CHECK_THROWS_AS(vae::kl_discrete({0.5, 0.5}, {1.0}), ad::Error);        // lengths
  CHECK_THROWS_AS(vae::kl_discrete({1.5, -0.5}, {0.5, 0.5}), ad::Error);  // negative
}

TEST_CASE("KL Gaussian: zero for equal arguments, 1-D formula, and Monte Carlo") {
  ad::Rng rng(7);
  const int k = 3;
  const Matrix s1 = vae::random_spd(k, rng), s2 = vae::random_spd(k, rng);
  const std::vector<double> mu1 = {0.3, -0.2, 0.5}, mu2 = {-0.1, 0.4, 0.0};
  CHECK(std::abs(vae::kl_gaussian(mu1, s1, mu1, s1)) < 1e-12);
  CHECK(vae::kl_gaussian(mu1, s1, mu2, s2) > 0);

  // 1-D: log(s2/s1) + (s1^2 + (m1-m2)^2) / (2 s2^2) - 1/2
  Matrix a(1, 1, 0.7 * 0.7), b(1, 1, 1.3 * 1.3);
  const double expected = std::log(1.3 / 0.7) + (0.7 * 0.7 + 0.25 * 0.25) / (2 * 1.3 * 1.3) - 0.5;
  CHECK(vae::kl_gaussian({0.25}, a, {0.0}, b) == doctest::Approx(expected).epsilon(1e-12));

  // Monte Carlo: mean of log p(x) - log q(x), x ~ p, within 4 standard errors (seed fixed)
  const vae::Gaussian p{mu1, s1}, q{mu2, s2};
  const int n = 4000;
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < n; ++i) {
    const std::vector<double> x = vae::sample(p, rng);
    const double r = vae::gaussian_log_density(x, p) - vae::gaussian_log_density(x, q);
    sum += r;
    sum_sq += r * r;
  }
  const double mean = sum / n, se = std::sqrt((sum_sq / n - mean * mean) / (n - 1));
  CHECK(std::abs(mean - vae::kl_gaussian(mu1, s1, mu2, s2)) < 4 * se);

  CHECK_THROWS(vae::kl_gaussian({0.0, 0.0}, s1, mu2, s2));  // wrong mean length
}

TEST_CASE("KL diag Gaussian to standard: equals kl_gaussian and passes gradcheck") {
  ad::Rng rng(11);
  const ad::Tensor mu = rng.normal({2, 3}, ad::f64), logvar = rng.normal({2, 3}, ad::f64, 0, 0.7);
  const ad::Tensor kl = vae::kl_diag_gaussian_to_standard(mu, logvar);
  REQUIRE(kl.shape() == ad::Shape{2});
  for (int row = 0; row < 2; ++row) {
    std::vector<double> m(3), zero(3, 0.0);
    Matrix s(3, 3);
    for (int i = 0; i < 3; ++i) {
      m[i] = mu.flat(row * 3 + i);
      s(i, i) = std::exp(logvar.flat(row * 3 + i));
    }
    CHECK(kl.flat(row) ==
          doctest::Approx(vae::kl_gaussian(m, s, zero, Matrix::identity(3))).epsilon(1e-12));
  }
  // at mu = 0, logvar = 0, q is the prior: KL = 0
  CHECK(vae::kl_diag_gaussian_to_standard(ad::Tensor::zeros({4}, ad::f64),
                                          ad::Tensor::zeros({4}, ad::f64))
            .item() == 0.0);

  const ad::GradcheckResult r = ad::gradcheck(
      [](const std::vector<ad::Tensor>& in) {
        return ad::sum(vae::kl_diag_gaussian_to_standard(in[0], in[1]));
      },
      {mu, logvar});
  INFO(r.str());
  CHECK(r.ok);
  CHECK_THROWS_AS(vae::kl_diag_gaussian_to_standard(mu, ad::Tensor::zeros({3}, ad::f64)),
                  ad::Error);
}
