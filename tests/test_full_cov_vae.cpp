// vae/full_cov_vae: the Cholesky-factor posterior N(mu, L L^T) of a small model in double,
// against the general formulas of vae/kl.h and vae/linear_gaussian.h (KL between two
// Gaussians, the Gaussian log density), and the encoder's gradient against finite differences.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autodiff/autodiff.h"
#include "vae/discrete_vae.h"
#include "vae/full_cov_vae.h"
#include "vae/kl.h"
#include "vae/linear_gaussian.h"

using ad::Tensor;

namespace {

constexpr int kLatent = 3;

// Row i of q as a vae::Gaussian (mean and covariance L L^T), and L itself.
vae::Gaussian row(const vae::CholeskyGaussian& q, int i, vae::Matrix* factor = nullptr) {
  const std::vector<double> mu = q.mu.to_vector(), L = q.L.to_vector();
  vae::Gaussian g{{}, vae::Matrix(kLatent, kLatent)};
  vae::Matrix l(kLatent, kLatent);
  for (int a = 0; a < kLatent; ++a) {
    g.mean.push_back(mu[i * kLatent + a]);
    for (int b = 0; b < kLatent; ++b) l(a, b) = L[(i * kLatent + a) * kLatent + b];
  }
  g.cov = l * vae::transpose(l);
  if (factor) *factor = l;
  return g;
}

}  // namespace

TEST_CASE("full-covariance posterior: L is lower triangular with a positive diagonal") {
  ad::Rng rng(2);
  vae::FullCovVae model({.input_dim = 6, .hidden = {5}, .latent_dim = kLatent, .dtype = ad::f64},
                        rng);
  const Tensor x = rng.normal({4, 6}, ad::f64);
  const vae::CholeskyGaussian q = model.encode(x);
  for (int i = 0; i < 4; ++i) {
    vae::Matrix l;
    row(q, i, &l);
    for (int a = 0; a < kLatent; ++a) {
      CHECK(l(a, a) > 0);
      for (int b = a + 1; b < kLatent; ++b) CHECK(l(a, b) == 0.0);
    }
  }
  CHECK(q.log_diagonal.to_vector()[0] == doctest::Approx(std::log(row(q, 0).cov(0, 0))/ 2));
}

TEST_CASE("full-covariance posterior: KL, log density and samples against the general formulas") {
  ad::Rng rng(3);
  vae::FullCovVae model({.input_dim = 6, .hidden = {5}, .latent_dim = kLatent, .dtype = ad::f64},
                        rng);
  const Tensor x = rng.normal({4, 6}, ad::f64);
  ad::NoGrad plain;
  const vae::CholeskyGaussian q = model.encode(x);
  const Tensor eps = rng.normal({4, kLatent}, ad::f64);
  const std::vector<double> kl = q.kl_to_standard().to_vector(),
                            log_q = q.log_prob_from_eps(eps).to_vector(),
                            z = q.rsample_from(eps).to_vector();
  const vae::Matrix identity = vae::Matrix::identity(kLatent);
  for (int i = 0; i < 4; ++i) {
    const vae::Gaussian g = row(q, i);
    CHECK(kl[i] == doctest::Approx(vae::kl_gaussian(g.mean, g.cov, std::vector<double>(kLatent, 0.0),
                                                    identity))
                       .epsilon(1e-10));
    const std::vector<double> zi(z.begin() + i * kLatent, z.begin() + (i + 1) * kLatent);
    CHECK(log_q[i] == doctest::Approx(vae::gaussian_log_density(zi, g)).epsilon(1e-10));
  }
}

TEST_CASE("full-covariance VAE: the -ELBO's gradient matches finite differences") {
  ad::Rng rng(4);
  vae::FullCovVae model({.input_dim = 5, .hidden = {4}, .latent_dim = kLatent, .dtype = ad::f64},
                        rng);
  std::vector<double> pixels;
  for (int i = 0; i < 10; ++i) pixels.push_back(rng.uniform() < 0.5 ? 1.0 : 0.0);
  const Tensor x = Tensor::from(pixels, {2, 5}, ad::f64);
  std::vector<Tensor> params = model.parameters();
  const ad::GradcheckResult r = ad::gradcheck(
      [&](const std::vector<Tensor>&) {
        ad::Rng noise(7);  // the same eps at every evaluation
        return vae::negative_elbo(model, x, noise, 2).loss;
      },
      params);
  INFO(r.str());
  CHECK(r.ok);
}

TEST_CASE("bad sizes of the full-covariance and discrete VAEs are the project's ad::Error") {
  ad::Rng rng(1);
  CHECK_THROWS_AS(vae::FullCovVae({.input_dim = 4, .latent_dim = 0}, rng), ad::Error);
  CHECK_THROWS_AS(vae::DiscreteVae({.input_dim = 4, .variables = 2, .classes = 1}, rng), ad::Error);
}
