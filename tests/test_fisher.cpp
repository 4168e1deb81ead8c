// vae/fisher.h: the Fisher autoencoder's objective. Each score against central finite
// differences of its log density; the decoder's laplacian by second derivatives; the
// whole objective against the closed-form Fisher divergence of a linear-Gaussian model
// (and exactly 0 at the true model with the exact posterior); the gradient of the
// objective with respect to every weight by gradcheck. All in double.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "autodiff/autodiff.h"
#include "nn/nn.h"
#include "tests/helpers.h"
#include "vae/fisher.h"
#include "vae/linalg.h"
#include "vae/linear_gaussian.h"
#include "vae/mlp_vae.h"
#include "vae/statistics.h"

using ad::Tensor;

using ad::worst_relative_error;  // gradcheck's error measure, over lists of values
using vae::numerical_score;

TEST_CASE("Fisher AE: each score by autodiff equals finite differences of its log density") {
  ad::Rng rng(11);
  vae::Vae model(vae::small_check_config(), rng);
  const Tensor x = rng.normal({3, 4}, ad::f64);
  const Tensor eps = rng.normal({3, 2}, ad::f64);
  const vae::FisherScores s = vae::fisher_scores(model, x, eps);
  const Tensor z = s.z.detach();
  auto log_q = [&](const Tensor& xx, const Tensor& zz) { return model.encode(xx).log_prob(zz); };
  auto log_lik = [&](const Tensor& xx, const Tensor& zz) {
    return -model.negative_log_likelihood(model.decode(zz), xx);
  };
  const Tensor zero = Tensor::zeros(z.shape(), ad::f64);
  const double tol = 1e-7;
  CHECK(worst_relative_error(s.encoder_z.to_vector(),
                             numerical_score([&](const Tensor& p) { return log_q(x, p); }, z)) <
        tol);
  CHECK(worst_relative_error(s.encoder_x.to_vector(),
                             numerical_score([&](const Tensor& p) { return log_q(p, z); }, x)) <
        tol);
  CHECK(worst_relative_error(s.prior_z.to_vector(),
                             numerical_score(
                                 [&](const Tensor& p) {
                                   return vae::DiagGaussian{zero, zero}.log_prob(p);
                                 },
                                 z)) < tol);
  CHECK(worst_relative_error(s.decoder_z.to_vector(),
                             numerical_score([&](const Tensor& p) { return log_lik(x, p); }, z)) <
        tol);
  CHECK(worst_relative_error(s.decoder_x.to_vector(),
                             numerical_score([&](const Tensor& p) { return log_lik(p, z); }, x)) <
        tol);

  // and three of them against their closed forms
  ad::NoGrad plain;
  const vae::DiagGaussian q = model.encode(x);
  const Tensor f = model.decode(z);
  CHECK(worst_relative_error(s.encoder_z.to_vector(), (-eps / q.stddev()).to_vector()) < 1e-12);
  CHECK(worst_relative_error(s.prior_z.to_vector(), (-z).to_vector()) < 1e-12);
  CHECK(worst_relative_error(s.decoder_x.to_vector(), ((f - x) / (0.7 * 0.7)).to_vector()) < 1e-12);
  ad::tape().clear();
}

TEST_CASE("Fisher AE: grad_x log q(z|x) is taken at fixed z, not through the reparameterised z") {
  // Through z = mu(x) + sigma(x) eps, log q = -|eps|^2/2 - sum log sigma - const, whose
  // x-derivative is -grad_x sum log sigma(x): a different vector.
  ad::Rng rng(12);
  vae::Vae model(vae::small_check_config(), rng);
  const Tensor x = rng.normal({2, 4}, ad::f64);
  const Tensor eps = rng.normal({2, 2}, ad::f64);
  const vae::FisherScores s = vae::fisher_scores(model, x, eps);
  const std::vector<double> through_z = numerical_score(
      [&](const Tensor& p) {
        const vae::DiagGaussian q = model.encode(p);
        return q.log_prob(q.rsample_from(eps));
      },
      x);
  CHECK(worst_relative_error(s.encoder_x.to_vector(), through_z) > 1e-3);
  ad::tape().clear();
}

TEST_CASE("Fisher AE: the decoder's laplacian -D / sigma^2 by second derivatives") {
  ad::Rng rng(13);
  vae::Vae model(vae::small_check_config(), rng);
  const Tensor x = rng.normal({2, 4}, ad::f64);
  const vae::FisherScores s = vae::fisher_scores(model, x, rng.normal({2, 2}, ad::f64));
  // d/dx_j of the j-th component of grad_x log p(x|z), summed over j, for each row
  std::vector<double> laplacian(2, 0.0);
  for (int64_t j = 0; j < 4; ++j) {
    const Tensor column = ad::slice(s.decoder_x, 1, j, j + 1);
    const Tensor second = ad::grad(ad::sum(column), {s.x_at}, {.keep_tape = true})[0];
    for (int64_t i = 0; i < 2; ++i) laplacian[i] += second.flat(i * 4 + j);
  }
  for (double l : laplacian)
    CHECK(l == doctest::Approx(vae::decoder_laplacian(model)).epsilon(1e-12));
  CHECK(vae::decoder_laplacian(model) == doctest::Approx(-4 / 0.49));
  ad::tape().clear();
}

namespace {

using LinearCase = vae::LinearFisherExample;
using vae::exact_posterior_example;

// The per-example objective (its terms plus the laplacian), n draws.
std::vector<double> objective_samples(vae::Vae& model, const vae::Gaussian& data, int n,
                                      ad::Rng& rng) {
  const Tensor x = vae::sample_rows(data, n, rng);
  const vae::FisherTerms t = vae::fisher_objective(model, x, rng);
  std::vector<double> per = (t.reconstruction + t.stability + t.latent).to_vector();
  for (double& v : per) v += t.laplacian;
  ad::tape().clear();
  return per;
}

}  // namespace

TEST_CASE("Fisher AE: at the true model with the exact posterior, F = 0 and the latent term is 0") {
  ad::Rng rng(14);
  LinearCase c = exact_posterior_example();
  CHECK(std::abs(vae::fisher_divergence(c.model, c.data, c.encoder)) < 1e-12);
  vae::Vae model(c.vae_config(), rng);
  vae::set_linear_gaussian(model, c.model, c.encoder);
  const Tensor x = vae::sample_rows(c.data, 50, rng);
  const vae::FisherTerms t = vae::fisher_objective(model, x, rng);
  for (double v : t.latent.to_vector()) CHECK(std::abs(v) < 1e-12);
  ad::tape().clear();
  // so E[objective] = F - 1/2 tr(S^-1) = -1/2 tr(S^-1)
  const vae::Summary m = vae::summarize(objective_samples(model, c.data, 20000, rng));
  CHECK(std::abs(m.mean + vae::data_score_constant(c.data)) < 4 * m.se_mean);
}

TEST_CASE("Fisher AE: objective + 1/2 E|grad log p_d|^2 equals the closed-form Fisher divergence") {
  ad::Rng rng(15);
  LinearCase c = exact_posterior_example();
  // move the encoder and the data away from the model: F > 0
  c.encoder.a(0, 1) += 0.3;
  c.encoder.a(1, 2) -= 0.5;
  c.encoder.c[0] += 0.4;
  c.encoder.stddev = {0.9, 0.35};
  c.data.mean = {0.0, 0.5, -0.5};
  c.data.cov = vae::random_spd(3, rng);
  const double F = vae::fisher_divergence(c.model, c.data, c.encoder);
  CHECK(F > 1.0);
  vae::Vae model(c.vae_config(), rng);
  vae::set_linear_gaussian(model, c.model, c.encoder);
  const vae::Summary m = vae::summarize(objective_samples(model, c.data, 40000, rng));
  const double estimate = m.mean + vae::data_score_constant(c.data);
  INFO("closed form ", F, ", Monte Carlo ", estimate, " +- ", m.se_mean);
  CHECK(std::abs(estimate - F) < 4 * m.se_mean);
  CHECK(m.se_mean < 0.02 * F);  // a check with resolution
}

TEST_CASE(
    "Fisher AE: with the exact posterior the joint divergence is the marginals' (closed forms)") {
  // q = p_theta(z|x) makes the z-part 0 and the x-part 1/2 |grad log p_d - grad log p_theta(x)|^2
  ad::Rng rng(18);
  LinearCase c = exact_posterior_example();
  CHECK(vae::fisher_divergence(c.data, c.model.marginal()) == doctest::Approx(0).scale(1e-12));
  c.data.mean = {0.5, 0.0, -0.3};
  c.data.cov = vae::random_spd(3, rng);
  const double marginal = vae::fisher_divergence(c.data, c.model.marginal());
  CHECK(marginal > 0.1);
  CHECK(vae::fisher_divergence(c.model, c.data, c.encoder) ==
        doctest::Approx(marginal).epsilon(1e-10));
  // F(p || p) = 0, and F is not symmetric
  CHECK(vae::fisher_divergence(c.data, c.data) == doctest::Approx(0).scale(1e-12));
  CHECK(std::abs(vae::fisher_divergence(c.model.marginal(), c.data) - marginal) > 1e-3);
}

TEST_CASE("Fisher AE: the objective's gradient with respect to every weight (gradcheck)") {
  ad::Rng rng(16);
  vae::Vae model(vae::small_check_config(), rng);
  const Tensor x = rng.normal({3, 4}, ad::f64);
  const Tensor eps = rng.normal({3, 2}, ad::f64);
  const std::vector<double> before = model.parameters()[0].to_vector();
  const ad::GradcheckResult r =
      vae::check_objective_gradient(model, x, eps, {.step = 1e-6, .tolerance = 1e-6});
  CHECK(model.parameters()[0].to_vector() == before);  // the model is left as it was
  CHECK_MESSAGE(r.ok, r.str());
  ad::tape().clear();
}

TEST_CASE("Fisher AE: a Bernoulli decoder and wrong shapes are refused with a clear message") {
  ad::Rng rng(17);
  vae::VaeConfig config = vae::small_check_config();
  config.likelihood = vae::Likelihood::bernoulli;
  vae::Vae bernoulli(config, rng);
  const Tensor x = rng.normal({2, 4}, ad::f64);
  CHECK_THROWS_WITH(vae::fisher_objective(bernoulli, x, rng),
                    doctest::Contains("needs a Gaussian decoder"));
  vae::Vae model(vae::small_check_config(), rng);
  CHECK_THROWS_WITH(vae::fisher_objective(model, x, rng.normal({2, 3}, ad::f64)),
                    doctest::Contains("eps has shape [2x3]; expected [2x2]"));
  CHECK_THROWS_WITH(vae::fisher_objective(model, rng.normal({2, 5}, ad::f64), rng),
                    doctest::Contains("x has shape [2x5]; expected [batch x 4]"));
  ad::tape().clear();
}
