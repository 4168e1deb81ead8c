// vae/distributions: log densities against the textbook formulas, rsample's gradient
// against finite differences, sample moments and entropies against Monte Carlo.
// Monte Carlo comparisons allow 4 standard errors, estimated from the samples, at a
// fixed seed.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autodiff/autodiff.h"
#include "vae/distributions.h"
#include "vae/per_sample_gradients.h"
#include "vae/linalg.h"

using ad::Tensor;

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kNse = 4.0;

double normal_pdf(double x, double mu, double sigma) {
  return std::exp(-0.5 * (x - mu) * (x - mu) / (sigma * sigma)) /
         std::sqrt(2 * kPi * sigma * sigma);
}

// |estimate - exact| <= 4 standard errors.
void check_within_se(double estimate, double se, double exact) {
  INFO("estimate ", estimate, " exact ", exact, " se ", se);
  CHECK(std::abs(estimate - exact) <= kNse * se);
}

}  // namespace

TEST_CASE("DiagGaussian log_prob is the sum of 1-D normal log densities") {
  Tensor mu = Tensor::from({0.3, -1.2, 0.0, 2.0}, {2, 2}, ad::f64);
  Tensor logvar = Tensor::from({0.0, -0.7, 1.1, 0.4}, {2, 2}, ad::f64);
  Tensor z = Tensor::from({0.5, -1.0, -2.0, 2.5}, {2, 2}, ad::f64);
  Tensor lp = vae::DiagGaussian{mu, logvar}.log_prob(z);
  REQUIRE(lp.shape() == ad::Shape{2});
  for (int r = 0; r < 2; ++r) {
    double expected = 0;
    for (int c = 0; c < 2; ++c)
      expected += std::log(normal_pdf(z.flat(2 * r + c), mu.flat(2 * r + c),
                                      std::exp(0.5 * logvar.flat(2 * r + c))));
    CHECK(lp.flat(r) == doctest::Approx(expected).epsilon(1e-12));
  }
}

TEST_CASE("DiagGaussian rsample: gradient by gradcheck with the noise fixed by re-seeding") {
  auto f = [](const std::vector<Tensor>& x) {
    ad::Rng rng(7);  // the same eps at every call
    Tensor z = vae::DiagGaussian{x[0], x[1]}.rsample(rng);
    return ad::sum(ad::tanh(z) * z);
  };
  ad::Rng rng(1);
  ad::GradcheckResult r =
      ad::gradcheck(f, {rng.normal({3, 2}, ad::f64), rng.normal({3, 2}, ad::f64)});
  INFO(r.str());
  CHECK(r.ok);

  // By hand: d z / d mu = 1 and d z / d logvar = sigma eps / 2.
  Tensor mu = Tensor::from({0.5}, {1, 1}, ad::f64).requires_grad_();
  Tensor logvar = Tensor::from({0.8}, {1, 1}, ad::f64).requires_grad_();
  ad::Rng noise(3);
  Tensor eps = noise.normal({1, 1}, ad::f64);
  Tensor z = vae::DiagGaussian{mu, logvar}.rsample_from(eps);
  ad::backward(ad::sum(z));
  CHECK(mu.grad().item() == doctest::Approx(1.0));
  CHECK(logvar.grad().item() == doctest::Approx(std::exp(0.4) * eps.item() / 2).epsilon(1e-12));
}

TEST_CASE("DiagGaussian sample: moments within 4 standard errors; no gradient through it") {
  const int n = 20000;
  Tensor mu = Tensor::full({n, 1}, 1.5, ad::f64).requires_grad_();
  Tensor logvar = Tensor::full({n, 1}, std::log(0.25), ad::f64).requires_grad_();
  ad::Rng rng(11);
  Tensor z = vae::DiagGaussian{mu, logvar}.sample(rng);
  CHECK_FALSE(z.requires_grad());
  std::vector<double> v = z.to_vector();
  vae::Summary s = vae::summarize(v);
  check_within_se(s.mean, s.se_mean, 1.5);
  check_within_se(s.variance, s.se_variance, 0.25);
  ad::tape().clear();
}

TEST_CASE("DiagGaussian entropy equals -E[log q] by Monte Carlo; KL to N(0, I) as L09") {
  Tensor mu = Tensor::from({0.2, -0.5, 1.0}, {1, 3}, ad::f64);
  Tensor logvar = Tensor::from({-1.0, 0.3, 0.7}, {1, 3}, ad::f64);
  vae::DiagGaussian q{mu, logvar};
  const double h = q.entropy().item();
  double expected = 0;
  for (int i = 0; i < 3; ++i)
    expected += 0.5 * std::log(2 * kPi * std::exp(1.0) * std::exp(logvar.flat(i)));
  CHECK(h == doctest::Approx(expected).epsilon(1e-12));

  const int n = 20000;
  Tensor mus = Tensor::from(std::vector<double>(3 * n), {n, 3}, ad::f64);
  Tensor logvars = Tensor::from(std::vector<double>(3 * n), {n, 3}, ad::f64);
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < 3; ++c) {
      mus.set_flat(3 * r + c, mu.flat(c));
      logvars.set_flat(3 * r + c, logvar.flat(c));
    }
  vae::DiagGaussian qs{mus, logvars};
  ad::Rng rng(5);
  std::vector<double> neg_log_q = (-qs.log_prob(qs.sample(rng))).to_vector();
  vae::Summary s = vae::summarize(neg_log_q);
  check_within_se(s.mean, s.se_mean, h);

  const double kl = q.kl_to_standard().item();
  double kl_hand = 0;
  for (int i = 0; i < 3; ++i)
    kl_hand += 0.5 * (std::exp(logvar.flat(i)) + mu.flat(i) * mu.flat(i) - 1 - logvar.flat(i));
  CHECK(kl == doctest::Approx(kl_hand).epsilon(1e-12));
}

TEST_CASE("FullGaussian: log_prob vs the closed form with Sigma = L L^T; covariance of samples") {
  ad::Rng rng(3);
  const int k = 3;
  vae::Matrix sigma = vae::random_spd(k, rng);
  vae::Matrix l = vae::cholesky(sigma);
  Tensor L = Tensor::from(l.values, {k, k}, ad::f64);
  Tensor mu = Tensor::from({0.5, -1.0, 2.0}, {1, k}, ad::f64);
  vae::FullGaussian q{mu, L};
  Tensor z = Tensor::from({0.1, 0.2, 0.3, -1.0, 1.5, 2.5}, {2, k}, ad::f64);
  Tensor lp = q.log_prob(z);
  vae::Matrix inv = vae::inverse_spd(sigma);
  for (int r = 0; r < 2; ++r) {
    std::vector<double> d(k);
    for (int i = 0; i < k; ++i) d[i] = z.flat(r * k + i) - mu.flat(i);
    const double quad = vae::dot(d, vae::matvec(inv, d));
    const double expected =
        -0.5 * k * std::log(2 * kPi) - 0.5 * vae::log_det_spd(sigma) - 0.5 * quad;
    CHECK(lp.flat(r) == doctest::Approx(expected).epsilon(1e-10));
  }
  CHECK(q.entropy().item() ==
        doctest::Approx(0.5 * k * (std::log(2 * kPi) + 1) + 0.5 * vae::log_det_spd(sigma)));

  // log_prob's gradient wrt L and z, against finite differences.
  auto f = [&](const std::vector<Tensor>& x) {
    return ad::sum(vae::FullGaussian{mu, x[0]}.log_prob(x[1]));
  };
  ad::GradcheckResult g = ad::gradcheck(f, {L, z});
  INFO(g.str());
  CHECK(g.ok);

  // Sample covariance entry (0, 1) and (2, 2) within 4 SE of Sigma.
  const int n = 20000;
  Tensor zs = vae::FullGaussian{Tensor::zeros({n, k}, ad::f64), L}.sample(rng);
  for (auto [a, b] : {std::pair{0, 1}, std::pair{2, 2}, std::pair{1, 2}}) {
    std::vector<double> prod(n);
    for (int r = 0; r < n; ++r) prod[r] = zs.flat(r * k + a) * zs.flat(r * k + b);
    vae::Summary s = vae::summarize(prod);
    check_within_se(s.mean, s.se_mean, sigma(a, b));
  }
}

TEST_CASE("Bernoulli: log_prob vs x log p + (1 - x) log(1 - p), stable at large logits; sample") {
  Tensor logits = Tensor::from({-2.0, 0.0, 3.0, 80.0}, {1, 4}, ad::f64);
  vae::Bernoulli b{logits};
  double first_three = 0;  // x = 1, 0, 1 on the first three
  for (int i = 0; i < 3; ++i) {
    const double p = 1 / (1 + std::exp(-logits.flat(i)));
    first_three += (i != 1) ? std::log(p) : std::log(1 - p);
  }
  // Last entry at logit 80: log p = -log(1 + e^-80); log(1 - p) = -80 - log(1 + e^-80),
  // which the naive formula would give as log(0) = -inf in double.
  Tensor x1 = Tensor::from({1, 0, 1, 1}, {1, 4}, ad::f64);
  Tensor x0 = Tensor::from({1, 0, 1, 0}, {1, 4}, ad::f64);
  CHECK(b.log_prob(x1).item() ==
        doctest::Approx(first_three - std::log1p(std::exp(-80.0))).epsilon(1e-12));
  CHECK(b.log_prob(x0).item() ==
        doctest::Approx(first_three - 80.0 - std::log1p(std::exp(-80.0))).epsilon(1e-12));

  const int n = 20000;
  ad::Rng rng(9);
  std::vector<double> draws =
      vae::Bernoulli{Tensor::full({n, 1}, std::log(0.7 / 0.3), ad::f64)}.sample(rng).to_vector();
  vae::Summary s = vae::summarize(draws);
  check_within_se(s.mean, s.se_mean, 0.7);
  const double h =
      vae::Bernoulli{Tensor::full({1, 1}, std::log(0.7 / 0.3), ad::f64)}.entropy().item();
  CHECK(h == doctest::Approx(-(0.7 * std::log(0.7) + 0.3 * std::log(0.3))).epsilon(1e-12));
}

TEST_CASE("Categorical: log_prob vs log softmax by hand; sample frequencies; entropy") {
  Tensor logits = Tensor::from({1.0, 2.0, 0.5, -1.0, 0.0, 3.0}, {2, 3}, ad::f64);
  vae::Categorical c{logits};
  Tensor lp = c.log_prob({1, 2});
  for (int r = 0; r < 2; ++r) {
    double norm = 0;
    for (int k = 0; k < 3; ++k) norm += std::exp(logits.flat(3 * r + k));
    const int y = r == 0 ? 1 : 2;
    CHECK(lp.flat(r) == doctest::Approx(logits.flat(3 * r + y) - std::log(norm)).epsilon(1e-12));
  }
  auto f = [](const std::vector<Tensor>& x) {
    return ad::sum(vae::Categorical{x[0]}.log_prob({0, 2}));
  };
  CHECK(ad::gradcheck(f, {logits}).ok);

  const int n = 20000;
  std::vector<double> row(3 * n);
  for (int r = 0; r < n; ++r)
    for (int k = 0; k < 3; ++k) row[3 * r + k] = logits.flat(k);
  ad::Rng rng(13);
  std::vector<int64_t> y = vae::Categorical{Tensor::from(row, {n, 3}, ad::f64)}.sample(rng);
  std::vector<double> probs = c.probs().to_vector();
  for (int k = 0; k < 3; ++k) {
    std::vector<double> hit(n);
    for (int r = 0; r < n; ++r) hit[r] = y[r] == k ? 1.0 : 0.0;
    vae::Summary s = vae::summarize(hit);
    check_within_se(s.mean, s.se_mean, probs[k]);
  }
  double h = 0;
  for (int k = 0; k < 3; ++k) h -= probs[k] * std::log(probs[k]);
  CHECK(c.entropy().flat(0) == doctest::Approx(h).epsilon(1e-12));
}
