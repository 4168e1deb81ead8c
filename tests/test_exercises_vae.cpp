// The exercise track's tests for probability, the VAE and the estimators
// (docs/exercises.md, E03 to E05). Each checks the exercise's code against the closed form
// or the definition written out in double, on values small enough to follow by hand.
// None needs the tape: the forward values are what is graded here.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autodiff/autodiff.h"
#include "nn/loss.h"
#include "vae/discrete_vae.h"
#include "vae/distributions.h"
#include "vae/encoder_gradients.h"
#include "vae/full_cov_vae.h"
#include "vae/iwae.h"
#include "vae/kl.h"
#include "vae/latent_model.h"
#include "vae/mlp_vae.h"
#include "vae/statistics.h"

using ad::Tensor;

namespace {

constexpr double kLog2Pi = 1.8378770664093454836;

Tensor f64(const std::vector<double>& values, const ad::Shape& shape) {
  return Tensor::from(values, shape, ad::f64);
}

void check_values(const Tensor& got, const std::vector<double>& expected, double tol = 1e-12) {
  REQUIRE(got.numel() == static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CHECK(got.flat(static_cast<int64_t>(i)) == doctest::Approx(expected[i]).epsilon(tol));
  }
}

// KL(N(m1, s1^2) || N(m2, s2^2)) of one dimension.
double kl_1d(double m1, double s1, double m2, double s2) {
  return std::log(s2 / s1) + (s1 * s1 + (m1 - m2) * (m1 - m2)) / (2 * s2 * s2) - 0.5;
}

// A batch of two rows of a 2-D q: mu, logvar.
const std::vector<double> kMu = {0.5, -1, 0, 2}, kLogvar = {0.2, -0.5, 1, -2};

}  // namespace

TEST_CASE("E03.1: the Monte Carlo mean comes with its standard error s / sqrt(n)") {
  const vae::Summary s = vae::summarize({1, 2, 3, 4, 10});
  CHECK(s.n == 5);
  CHECK(s.mean == doctest::Approx(4.0));
  CHECK(s.variance == doctest::Approx(12.5));  // sum (x - 4)^2 / (n - 1) = 50 / 4
  CHECK(s.se_mean == doctest::Approx(std::sqrt(12.5 / 5)));
}

TEST_CASE("E03.2: the discrete KL is sum p log(p / q), >= 0 and not symmetric") {
  const std::vector<double> p = {0.36, 0.48, 0.16}, q = {1.0 / 3, 1.0 / 3, 1.0 / 3};
  const double expected = 0.36 * std::log(1.08) + 0.48 * std::log(1.44) + 0.16 * std::log(0.48);
  CHECK(vae::kl_discrete(p, q) == doctest::Approx(expected));
  CHECK(vae::kl_discrete(p, p) == doctest::Approx(0.0));
  CHECK(vae::kl_discrete(q, p) > 0);
  CHECK(vae::kl_discrete(q, p) != doctest::Approx(vae::kl_discrete(p, q)));
  CHECK(vae::kl_discrete({0.5, 0.5, 0}, q) == doctest::Approx(std::log(1.5)));  // 0 log 0 = 0
}

TEST_CASE("E03.3: the Gaussian KL in closed form, against one dimension at a time") {
  vae::Matrix s1(2, 2), s2(2, 2);
  s1(0, 0) = 0.5, s1(1, 1) = 2.0, s2(0, 0) = 1.5, s2(1, 1) = 0.25;
  const double kl = vae::kl_gaussian({1, -1}, s1, {0, 0.5}, s2);
  CHECK(kl == doctest::Approx(kl_1d(1, std::sqrt(0.5), 0, std::sqrt(1.5)) +
                              kl_1d(-1, std::sqrt(2.0), 0.5, 0.5)));
  vae::Matrix full(2, 2);  // a correlated covariance against itself: 0
  full(0, 0) = 2, full(0, 1) = full(1, 0) = 0.7, full(1, 1) = 1;
  CHECK(std::abs(vae::kl_gaussian({1, 2}, full, {1, 2}, full)) < 1e-12);
}

TEST_CASE("E03.4: the KL of N(mu, diag sigma^2) to N(0, I), per row") {
  Tensor kl = vae::kl_diag_gaussian_to_standard(f64(kMu, {2, 2}), f64(kLogvar, {2, 2}));
  std::vector<double> expected(2, 0.0);
  for (int i = 0; i < 4; ++i) expected[i / 2] += kl_1d(kMu[i], std::exp(kLogvar[i] / 2), 0, 1);
  CHECK(kl.shape() == ad::Shape{2});
  check_values(kl, expected);
}

TEST_CASE("E04.1: z = mu + exp(logvar / 2) * eps") {
  const vae::DiagGaussian q{f64(kMu, {2, 2}), f64(kLogvar, {2, 2})};
  const std::vector<double> eps = {1, -0.5, 2, 0.3};
  std::vector<double> sigma, z;
  for (int i = 0; i < 4; ++i) {
    sigma.push_back(std::exp(kLogvar[i] / 2));
    z.push_back(kMu[i] + sigma.back() * eps[i]);
  }
  check_values(q.stddev(), sigma);
  check_values(q.rsample_from(f64(eps, {2, 2})), z);
}

TEST_CASE("E04.2: log q(z) = log N(eps; 0, I) - sum log L_ii equals the density at z") {
  const std::vector<double> L = {0.8, 0, 0.3, 1.5};  // lower triangular, positive diagonal
  const Tensor mu = f64({0.5, -1}, {1, 2}), eps = f64({0.7, -1.2}, {1, 2});
  const vae::CholeskyGaussian q{mu, f64(L, {1, 2, 2}), f64({std::log(0.8), std::log(1.5)}, {1, 2})};
  const Tensor z = f64({0.5 + 0.8 * 0.7, -1 + 0.3 * 0.7 + 1.5 * -1.2}, {1, 2});
  // The density by forward substitution (FullGaussian), an independent route.
  const Tensor density = vae::FullGaussian{mu, f64(L, {2, 2})}.log_prob(z);
  check_values(q.log_prob_from_eps(eps), {density.flat(0)}, 1e-10);
}

TEST_CASE("E04.3: the Bernoulli log-likelihood sum x log p + (1 - x) log(1 - p)") {
  const std::vector<double> logits = {-2, 0.5, 3, 0}, x = {0, 1, 1, 0.25};
  std::vector<double> expected(2, 0.0);
  for (int i = 0; i < 4; ++i) {
    const double p = 1 / (1 + std::exp(-logits[i]));
    expected[i / 2] += x[i] * std::log(p) + (1 - x[i]) * std::log(1 - p);
  }
  check_values(vae::Bernoulli{f64(logits, {2, 2})}.log_prob(f64(x, {2, 2})), expected, 1e-10);
  // Far logits stay finite (log sigmoid, never log of 0).
  Tensor far = vae::Bernoulli{f64({-800, 800}, {1, 2})}.log_prob(f64({0, 1}, {1, 2}));
  CHECK(std::abs(far.item()) < 1e-12);
}

TEST_CASE("E04.4: the Gaussian negative log-likelihood: squared error / (2 sigma^2) + constants") {
  const std::vector<double> mean = {0.1, 0.9, 0.5}, target = {0, 1, 1};
  const double sigma = 0.5;
  double expected = 0;
  for (int i = 0; i < 3; ++i) {
    const double r = (target[i] - mean[i]) / sigma;
    expected += 0.5 * r * r + std::log(sigma) + 0.5 * kLog2Pi;
  }
  Tensor nll = nn::gaussian_nll(f64(mean, {3}), f64(target, {3}), sigma, nn::Reduction::sum);
  CHECK(nll.item() == doctest::Approx(expected));
}

TEST_CASE("E04.5: the negative ELBO: the L-sample reconstruction term plus the analytic KL") {
  const vae::DiagGaussian q{f64(kMu, {2, 2}), f64(kLogvar, {2, 2})};
  const std::vector<std::vector<double>> eps = {{1, -0.5, 2, 0.3}, {-1, 0.2, 0, 0.4}};
  // -log p(x|z) = sum_k (z_k - 1)^2, one value per row.
  auto nll = [](const Tensor& z) { return ad::sum((z - 1.0) * (z - 1.0), -1); };
  double reconstruction = 0, kl = 0;
  for (const auto& e : eps)
    for (int i = 0; i < 4; ++i) {
      const double z = kMu[i] + std::exp(kLogvar[i] / 2) * e[i];
      reconstruction += (z - 1) * (z - 1) / (2.0 * 2.0);  // mean over L = 2 and 2 rows
    }
  for (int i = 0; i < 4; ++i) kl += kl_1d(kMu[i], std::exp(kLogvar[i] / 2), 0, 1) / 2.0;
  const vae::ElboTerms terms =
      vae::negative_elbo_of_posterior(q, nll, {f64(eps[0], {2, 2}), f64(eps[1], {2, 2})}, 0.5);
  CHECK(terms.reconstruction.item() == doctest::Approx(reconstruction));
  CHECK(terms.kl.item() == doctest::Approx(kl));
  CHECK(terms.loss.item() == doctest::Approx(reconstruction + 0.5 * kl));  // beta = 0.5
}

namespace {
// A model whose encoder ignores x and whose decoder has log p(x|z) = -1/2 |z - 1|^2.
vae::LatentModel fixed_model() {
  vae::LatentModel m;
  m.encode = [](const Tensor&) { return vae::DiagGaussian{f64(kMu, {2, 2}), f64(kLogvar, {2, 2})}; };
  m.log_likelihood = [](const Tensor&, const Tensor& z) {
    return ad::sum((z - 1.0) * (z - 1.0), -1) * -0.5;
  };
  return m;
}

// f(z) = log p(x|z) + log N(z; 0, I) - log q(z) for each of L samples drawn as surrogate
// draws them (eps ~ N(0, I) of shape [L, 2, 2] first from the generator), [L * 2].
std::vector<double> learning_signal(uint64_t seed, int L) {
  ad::Rng rng(seed);
  const Tensor eps = rng.normal({L, 2, 2}, ad::f64);
  std::vector<double> f(static_cast<size_t>(2 * L), 0.0);
  for (int64_t i = 0; i < eps.numel(); ++i) {
    const double e = eps.flat(i), z = kMu[i % 4] + std::exp(kLogvar[i % 4] / 2) * e;
    const double log_p = -0.5 * (z - 1) * (z - 1), log_prior = -0.5 * kLog2Pi - 0.5 * z * z;
    const double log_q = -0.5 * kLog2Pi - 0.5 * kLogvar[i % 4] - 0.5 * e * e;
    f[static_cast<size_t>(i / 2)] += log_p + log_prior - log_q;
  }
  return f;
}

// The estimator's surrogate for fixed_model on a batch of two (x unused), L = 3 samples and
// a Monte Carlo KL, its noise drawn from Rng(seed).
vae::SurrogateLoss surrogate_of(vae::Estimator kind, uint64_t seed) {
  ad::Rng init(1);
  vae::EncoderGradientEstimator estimator(
      {.estimator = kind, .kl = vae::KlTerm::monte_carlo, .samples = 3}, 2, init);
  ad::Rng rng(seed);
  return estimator.surrogate(fixed_model(), f64({0, 0, 0, 0}, {2, 2}), rng);
}
}  // namespace

TEST_CASE("E04.6: the negative ELBO with a Monte Carlo KL samples log p(z) - log q(z)") {
  const vae::SurrogateLoss out = surrogate_of(vae::Estimator::reparameterization, 7);
  const std::vector<double> f = learning_signal(7, 3);
  check_values(out.learning_signal, f, 1e-10);
  double mean = 0;
  for (double v : f) mean += v / 6;
  CHECK(out.negative_elbo == doctest::Approx(-mean));
}

TEST_CASE("E05.1: the score-function surrogate is -mean((f - b) log q) - mean(log p(x|z))") {
  const vae::SurrogateLoss out = surrogate_of(vae::Estimator::score_function, 11);
  // The surrogate's value from the same draws, written out.
  ad::Rng again(11);
  const Tensor eps = again.normal({3, 2, 2}, ad::f64);
  const std::vector<double> f = learning_signal(11, 3);
  double expected = 0;
  for (int s = 0; s < 6; ++s) {  // sample s: row s % 2 of draw s / 2
    double log_q = 0, log_p = 0;
    for (int k = 0; k < 2; ++k) {
      const int i = s * 2 + k;
      const double e = eps.flat(i), z = kMu[i % 4] + std::exp(kLogvar[i % 4] / 2) * e;
      log_q += -0.5 * kLog2Pi - 0.5 * kLogvar[i % 4] - 0.5 * e * e;
      log_p += -0.5 * (z - 1) * (z - 1);
    }
    expected += (-f[static_cast<size_t>(s)] * log_q - log_p) / 6;
  }
  CHECK(out.loss.item() == doctest::Approx(expected).epsilon(1e-9));
}

TEST_CASE("E05.2: the moving-average baseline starts at the first value, then decays") {
  vae::MovingAverage average(0.9);
  average.update(1);
  CHECK(average.value() == doctest::Approx(1.0));
  average.update(2);
  CHECK(average.value() == doctest::Approx(0.9 * 1 + 0.1 * 2));
  average.update(0);
  CHECK(average.value() == doctest::Approx(0.9 * 1.1));
}

TEST_CASE("E05.3: the leave-one-out baseline is the mean of the other samples") {
  ad::Rng rng(3);
  vae::ControlVariate rloo(vae::Baseline::leave_one_out, 3, 2, rng);
  const Tensor f = f64({1, 10, 2, 20, 6, 60}, {3, 2});  // L = 3 samples of 2 examples
  check_values(rloo.values(f64({0, 0, 0, 0}, {2, 2}), f), {4, 40, 3.5, 35, 1.5, 15});
}

TEST_CASE("E05.4: the IWAE bound is log (1/K) sum_k w_k, at least the ELBO's average") {
  ad::Rng rng(5);
  vae::Vae model({.input_dim = 3, .hidden = {4}, .latent_dim = 2, .dtype = ad::f64}, rng);
  const Tensor x = f64({0, 1, 1, 1, 0, 0}, {2, 3});
  std::vector<Tensor> eps;
  for (int k = 0; k < 4; ++k) eps.push_back(rng.normal({2, 2}, ad::f64));
  ad::NoGrad values_only;
  const Tensor log_w = vae::iwae_log_weights(model, model.encode(x), x, eps);  // [2, K]
  const Tensor bound = vae::iwae_bound_from_eps(model, x, eps);
  for (int r = 0; r < 2; ++r) {
    CAPTURE(r);
    double sum_w = 0, mean_log_w = 0;
    for (int k = 0; k < 4; ++k) {
      sum_w += std::exp(log_w.flat(r * 4 + k));
      mean_log_w += log_w.flat(r * 4 + k) / 4;
    }
    CHECK(bound.flat(r) == doctest::Approx(std::log(sum_w / 4)).epsilon(1e-10));
    CHECK(bound.flat(r) >= mean_log_w);  // Jensen: the bound is above the K-sample ELBO
  }
}

TEST_CASE("E05.5: the Gumbel-softmax sample is softmax((log q + g) / tau), g = -log(-log u)") {
  ad::Rng init(2);
  vae::DiscreteVae model({.input_dim = 3, .hidden = {4}, .variables = 1, .classes = 3,
                          .dtype = ad::f64},
                         init);
  const std::vector<double> probs = {0.2, 0.5, 0.3};
  const Tensor log_q = f64({std::log(0.2), std::log(0.5), std::log(0.3)}, {1, 1, 3});
  const double tau = 0.7;
  ad::Rng rng(9), again(9);
  const Tensor y = model.relaxed_sample(log_q, 2, tau, rng);  // [L = 2, n = 1, K = 1, C = 3]
  CHECK(y.shape() == ad::Shape{2, 1, 1, 3});
  std::vector<double> expected;
  for (int l = 0; l < 2; ++l) {
    double a[3], z = 0;
    for (int c = 0; c < 3; ++c) {
      a[c] = std::exp((std::log(probs[c]) - std::log(-std::log(again.uniform()))) / tau);
      z += a[c];
    }
    for (double v : a) expected.push_back(v / z);
  }
  check_values(y, expected, 1e-10);
}
