// Tutorial 05: the evidence lower bound, checked exactly on a model where everything is
// known: the linear-Gaussian (PPCA-like) model
//
//   z ~ N(0, I_k),   x | z ~ N(W z + b, sigma^2 I_d),
//   log p(x) = log N(x; b, W W^T + sigma^2 I),   p(z|x) = N(M^-1 W^T (x-b)/sigma^2, M^-1),
//   M = I + W^T W / sigma^2   (derivation in vae/linear_gaussian.h).
//
// For any q(z|x): log p(x) = ELBO(q) + KL(q(z|x) || p(z|x)), so ELBO <= log p(x) with
// equality exactly when q is the posterior (notes 000, 001, 002, 003, 004).
//
// Monte Carlo checks: within 4 standard errors of the exact value, the standard error
// estimated from the same samples, at the fixed seed.
//
//   build/release/tutorials/05_elbo [--latent-dim 2] [--data-dim 5] [--sigma 0.7]
//                                   [--samples 100000] [--seed 42] [--out DIR] [--quick]
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "autodiff/autodiff.h"
#include "tutorials/common/plot.h"
#include "tutorials/common/tutorial.h"
#include "vae/per_sample_gradients.h"
#include "vae/kl.h"
#include "vae/linalg.h"
#include "vae/linear_gaussian.h"
#include "vae/quadrature.h"

using vae::Gaussian;
using vae::LinearGaussian;
using vae::Matrix;

namespace {

constexpr double n_se = 4.0;  // every Monte Carlo check: within 4 standard errors
constexpr double log_2pi = 1.8378770664093454836;

// A q that is not the posterior: the posterior's mean shifted and its covariance
// replaced by a random SPD matrix (or a diagonal one).
Gaussian random_q(int k, ad::Rng& rng, const Gaussian& near) {
  std::vector<double> m(near.mean);
  for (double& v : m) v += rng.normal();
  return {m, vae::random_spd(k, rng, 0.2)};
}

// ---------------------------------------------------------------- L07
// 003: 'minimizing the KL divergence is equivalent to maximizing the ELBO w.r.t. theta and
// phi'. log p_theta(x) = ELBO + KL is constant in phi (q) but not in theta (the model).
void max_elbo_vs_min_kl(tut::Tutorial& t, const LinearGaussian& model, const std::vector<double>& x,
                        const Gaussian& q, const Gaussian& post) {
  const int k = model.latent_dim();
  const double log_px = model.log_evidence(x);
  ad::Rng q2_rng(t.seed() + 107);  // the same q2 whatever --samples is
  const Gaussian q2 = random_q(k, q2_rng, post);
  LinearGaussian model2 = model;
  for (double& w : model2.w.values) w *= 1.1;  // another theta, same q
  const double d_elbo_phi = vae::elbo(model, x, q2) - vae::elbo(model, x, q);
  const double d_kl_phi = vae::kl_to_posterior(model, x, q2) - vae::kl_to_posterior(model, x, q);
  const double d_elbo_theta = vae::elbo(model2, x, q) - vae::elbo(model, x, q);
  const double d_kl_theta = vae::kl_to_posterior(model2, x, q) - vae::kl_to_posterior(model, x, q);
  t.check_close("L07", "same theta, another q: change of ELBO vs minus change of KL", d_elbo_phi,
                -d_kl_phi, 1e-9);
  t.check_close("L07", "another theta (W x 1.1), same q: ELBO change + KL change vs log p change",
                d_elbo_theta + d_kl_theta, model2.log_evidence(x) - log_px, 1e-9);
  t.check_true("L07", "notes' slip (003): so with respect to theta, max ELBO != min KL",
               std::abs(d_elbo_theta + d_kl_theta) > 1e-3,
               fmt::format("ELBO {:+.4f}, KL {:+.4f}", d_elbo_theta, d_kl_theta));
  t.note("(003 says minimising the KL is equivalent to maximising the ELBO w.r.t. theta and phi;");
  t.note(" it holds w.r.t. phi only, since log p_theta(x) = ELBO + KL depends on theta.)");
}

void elbo_identity(tut::Tutorial& t, ad::Rng& rng, const LinearGaussian& model,
                   const std::vector<double>& x, int samples) {
  t.section("L07", "log p(x) = ELBO + KL(q(z|x) || p(z|x)), checked exactly");
  const int k = model.latent_dim();
  const double log_px = model.log_evidence(x);
  const Gaussian post = model.posterior(x);
  t.note("model: k = {}, d = {}, sigma = {}; x drawn from the model", k, model.data_dim(),
         model.sigma);
  t.note("log p(x) = {:.6f}; posterior mean ({:.4f})", log_px, fmt::join(post.mean, ", "));

  // Bayes' rule at a point: the closed-form posterior density = p(x, z) / p(x).
  const std::vector<double> z0 = vae::sample(post, rng);
  t.check_close("L07", "log p(z|x): closed-form posterior vs log p(x,z) - log p(x) (Bayes)",
                vae::gaussian_log_density(z0, post), model.log_joint(x, z0) - log_px, 1e-12);

  double worst = 0, tightest_gap = 1e300;
  bool below = true;
  const int trials = 1000;
  for (int i = 0; i < trials; ++i) {
    const Gaussian q = random_q(k, rng, post);
    const double elbo = vae::elbo(model, x, q), gap = vae::kl_to_posterior(model, x, q);
    worst = std::max(worst, std::abs(elbo + gap - log_px));
    below = below && elbo < log_px;
    tightest_gap = std::min(tightest_gap, log_px - elbo);
  }
  t.check_less("L07",
               fmt::format("worst |ELBO + KL(q||p(z|x)) - log p(x)| over {} random q", trials),
               worst, 1e-10);
  t.check_true("L07", fmt::format("ELBO < log p(x) for all {} random q", trials), below,
               fmt::format("smallest gap {:.3g}", tightest_gap));
  t.check_close("L07", "ELBO at q = posterior vs log p(x)", vae::elbo(model, x, post), log_px,
                1e-12);
  t.check_close("L07", "KL(posterior || p(z|x)) = 0", vae::kl_to_posterior(model, x, post), 0.0, 0,
                1e-10);

  // The ELBO by Monte Carlo (sample z ~ q, average log p(x,z) - log q(z)) vs closed form.
  const Gaussian q = random_q(k, rng, post);
  vae::RunningMean mc, at_post;
  for (int s = 0; s < samples; ++s) {
    const std::vector<double> z = vae::sample(q, rng);
    mc.add(model.log_joint(x, z) - vae::gaussian_log_density(z, q));
    const std::vector<double> zp = vae::sample(post, rng);
    at_post.add(model.log_joint(x, zp) - vae::gaussian_log_density(zp, post));
  }
  t.check_within_se("L07", "ELBO(q): Monte Carlo E_q[log p(x,z) - log q(z)] vs closed form (4 SE)",
                    mc.mean(), mc.se(), vae::elbo(model, x, q), n_se);
  t.check_less("L07", "at q = posterior every sample of log p(x,z) - log q equals log p(x): spread",
               std::max(at_post.max() - log_px, log_px - at_post.min()), 1e-9);
  t.note("(the estimator has zero variance there: p(x,z)/p(z|x) = p(x) for every z)");

  // The slides' loss (000, 004): L = -E_q[log p(x|z)] + KL(q || p(z)) = KL(q||p(z|x)) - log p(x).
  const double loss =
      -vae::expected_log_likelihood(model, x, q) +
      vae::kl_gaussian(q.mean, q.cov, std::vector<double>(k, 0.0), Matrix::identity(k));
  t.check_close("L07", "slides' loss -E_q[log p(x|z)] + KL(q||p(z)) vs KL(q||p(z|x)) - log p(x)",
                loss, vae::kl_to_posterior(model, x, q) - log_px, 1e-12);
  // 000 calls the loss L itself the lower bound; 004 writes L <= log P(x). It is -L.
  t.check_less_equal("L07", "the bound is -L: -L (= ELBO) <= log p(x)", -loss, log_px);
  t.check_true("L07", "notes' slip (000, 004): 'L <= log p(x)' fails for the loss L itself",
               !(loss <= log_px), fmt::format("L = {:.4f} > log p(x) = {:.4f}", loss, log_px));
  t.note("(000 says the loss L 'is the lower bound of the log-likelihood' and calls it the");
  t.note(" ELBO, 004 writes L <= log P(x); both then write log p(x) >= -L, which is right.)");

  max_elbo_vs_min_kl(t, model, x, q, post);
}

// ---------------------------------------------------------------- L16
void inserting_q_over_q(tut::Tutorial& t, ad::Rng& rng, const LinearGaussian& model,
                        const std::vector<double>& x, int samples) {
  t.section("L16", "The ELBO by inserting q/q (note 001), term by term");
  const int k = model.latent_dim();
  const double log_px = model.log_evidence(x);
  const Gaussian post = model.posterior(x);
  // q: the posterior's mean shifted by 0.3 and its standard deviations made 20% wider.
  std::vector<double> m(post.mean), sd(k);
  for (int i = 0; i < k; ++i) m[i] += 0.3, sd[i] = 1.2 * std::sqrt(post.cov(i, i));
  const Gaussian q = Gaussian::diagonal(m, sd);
  t.note("q = N(posterior mean + 0.3, diag(1.2 posterior sd)^2)");
  t.note("log p(x) = log int p(x,z) dz = log int q(z|x) p(x,z)/q(z|x) dz = log E_q[p(x,z)/q]");
  t.note("         = E_q[log p(x,z)/q] + E_q[log q/p(z|x)]     (p(x,z) = p(z|x) p(x))");
  t.note("         = ELBO + KL(q || p(z|x)) >= ELBO");

  t.note("(note 001, as converted, writes the first term as E_q[log p(x|h)/q(h|x)] and the");
  t.note(" second step as a ratio of the two fractions; with p(x,h) = p(h|x) p(x) it is their");
  t.note(" product: p(x,h)/q * q/p(h|x) = p(x). 001 itself expands the term as p(x|h) p(h)/q.)");
  // Computational flow: x -> encoder q(z|x) -> sample z -> decoder p(x|z) -> objective.
  {
    ad::Rng flow_rng(t.seed() + 116);  // one eps, the same whatever --samples is
    std::vector<double> eps(k), z(k);
    for (int i = 0; i < k; ++i) eps[i] = flow_rng.normal(), z[i] = m[i] + sd[i] * eps[i];
    t.note(
        "flow: x -> encoder q(z|x) = N(m, diag s^2) -> eps = ({:.3f}) -> z = m + s * eps = "
        "({:.3f})",
        fmt::join(eps, ", "), fmt::join(z, ", "));
    t.note(
        "      -> decoder p(x|z): log p(x|z) = {:.4f} -> objective log p(x,z) - log q(z|x) = "
        "{:.4f}",
        model.log_likelihood(x, z), model.log_joint(x, z) - vae::gaussian_log_density(z, q));
  }

  vae::RunningMean weight, log_ratio, kl_term;
  for (int s = 0; s < samples; ++s) {
    const std::vector<double> z = vae::sample(q, rng);
    const double lq = vae::gaussian_log_density(z, q), lj = model.log_joint(x, z);
    weight.add(std::exp(lj - lq - log_px));  // p(x,z)/q(z) / p(x): mean 1
    log_ratio.add(lj - lq);
    kl_term.add(lq - vae::gaussian_log_density(z, post));
  }
  t.check_within_se("L16", "E_q[p(x,z)/q(z|x)] / p(x): importance sampling vs 1 (4 SE)",
                    weight.mean(), weight.se(), 1.0, n_se);
  t.check_within_se("L16", "E_q[log p(x,z)/q(z|x)]: Monte Carlo vs closed-form ELBO (4 SE)",
                    log_ratio.mean(), log_ratio.se(), vae::elbo(model, x, q), n_se);
  t.check_within_se("L16", "E_q[log q(z|x)/p(z|x)]: Monte Carlo vs closed-form KL (4 SE)",
                    kl_term.mean(), kl_term.se(), vae::kl_to_posterior(model, x, q), n_se);
  t.check_less("L16", "Jensen: E_q[log p(x,z)/q] < log E_q[p(x,z)/q] = log p(x) (closed forms)",
               vae::elbo(model, x, q), log_px);
  // 001's last step: ELBO = E_q[log p(x|z)] - KL(q || p(z)).
  const double split =
      vae::expected_log_likelihood(model, x, q) -
      vae::kl_gaussian(q.mean, q.cov, std::vector<double>(k, 0.0), Matrix::identity(k));
  t.check_close("L16", "ELBO = E_q[log p(x|z)] - KL(q||p(z)) vs E_q[log p(x,z)] - E_q[log q]",
                split, vae::elbo(model, x, q), 1e-12);
  // With p(x|z) where the joint belongs, the two terms no longer add up to log p(x): they
  // miss E_q[log p(z)] (eq. 22 of note 003).
  const double with_conditional =
      vae::expected_log_likelihood(model, x, q) - vae::expected_log_q(q);
  t.check_close("L16",
                "notes' slip (001): E_q[log p(x|z)/q] + KL - log p(x) vs -E_q[log p(z)], not 0",
                with_conditional + vae::kl_to_posterior(model, x, q) - log_px,
                -vae::expected_log_prior(q), 1e-9);
}

// ---------------------------------------------------------------- L23
void elbo_pieces(tut::Tutorial& t, ad::Rng& rng, const LinearGaussian& model,
                 const std::vector<double>& x, int samples) {
  t.section("L23", "E_q[log p(z)] and E_q[log q(z|x)] in closed form (note 003, eqs. 20-25)");
  const int k = model.latent_dim();
  const Gaussian post = model.posterior(x);
  std::vector<double> mu(post.mean), sd(k);
  for (int i = 0; i < k; ++i) mu[i] -= 0.2, sd[i] = 0.9 * std::sqrt(post.cov(i, i));
  const Gaussian q = Gaussian::diagonal(mu, sd);
  double sum_mu2_s2 = 0, sum_1_logs2 = 0;
  for (int i = 0; i < k; ++i) {
    sum_mu2_s2 += mu[i] * mu[i] + sd[i] * sd[i];
    sum_1_logs2 += 1 + std::log(sd[i] * sd[i]);
  }
  const double eq22 = -0.5 * k * log_2pi - 0.5 * sum_mu2_s2;
  const double eq25_correct = -0.5 * k * log_2pi - 0.5 * sum_1_logs2;
  const double eq25_printed = -0.5 * k * sum_1_logs2;
  vae::RunningMean log_prior, log_q;
  for (int s = 0; s < samples; ++s) {
    const std::vector<double> z = vae::sample(q, rng);
    log_prior.add(model.log_prior(z));
    log_q.add(vae::gaussian_log_density(z, q));
  }
  t.note("(eqs. (20) and (24) end their integrals over z with dx; it is dz, as in (21), (23))");
  t.check_close("L23", "eq. (22) -D/2 log 2pi - 1/2 sum(mu^2 + sigma^2) vs expected_log_prior",
                eq22, vae::expected_log_prior(q), 1e-12);
  t.check_within_se("L23", "E_q[log p(z)]: Monte Carlo vs eq. (22) (4 SE)", log_prior.mean(),
                    log_prior.se(), eq22, n_se);
  t.check_within_se(
      "L23", "E_q[log q(z|x)]: Monte Carlo vs -D/2 log 2pi - 1/2 sum(1 + log sigma^2) (4 SE)",
      log_q.mean(), log_q.se(), eq25_correct, n_se);
  t.note("notes' slip: eq. (25) prints -D/2 sum(1 + log sigma_d^2) = {:.6f}; the correct value is",
         eq25_printed);
  t.note("-D/2 log(2 pi) - 1/2 sum(1 + log sigma_d^2) = {:.6f}: the log(2 pi) term is dropped and",
         eq25_correct);
  t.note("D/2 stands where 1/2 belongs (D = {}; here they differ by {:.6f}).", k,
         eq25_printed - eq25_correct);
  const double eq19 = 0.5 * (k + [&] {
                        double s = 0;
                        for (int i = 0; i < k; ++i)
                          s += std::log(sd[i] * sd[i]) - mu[i] * mu[i] - sd[i] * sd[i];
                        return s;
                      }());
  t.check_close("L23", "eq. (19): (22) - (25 corrected) = 1/2 sum(1 + log s^2 - mu^2 - s^2) = -KL",
                eq22 - eq25_correct, eq19, 1e-12);
  t.note("The log(2 pi) terms of (22) and the corrected (25) cancel, which is why eq. (19) is");
  t.note("right although (25) is not: with (25) as printed, (22) - (25) = {:.6f}, not {:.6f}.",
         eq22 - eq25_printed, eq19);
}

// ---------------------------------------------------------------- L08
// The maximiser of a unimodal f on [lo, hi], by golden-section search.
double argmax_golden(const std::function<double(double)>& f, double lo, double hi) {
  const double g = (std::sqrt(5.0) - 1) / 2;
  double a = lo, b = hi, c = b - g * (b - a), d = a + g * (b - a);
  double fc = f(c), fd = f(d);
  for (int i = 0; i < 200 && b - a > 1e-13 * (1 + std::abs(a)); ++i) {
    if (fc > fd) {
      b = d, d = c, fd = fc, c = b - g * (b - a), fc = f(c);
    } else {
      a = c, c = d, fc = fd, d = a + g * (b - a), fd = f(d);
    }
  }
  return (a + b) / 2;
}

// The sigma of the Gaussian likelihood examples.
constexpr double kLikelihoodSigma = 0.5;

void gaussian_likelihood(tut::Tutorial& t, ad::Rng& rng) {
  const double sigma = kLikelihoodSigma;
  const int d = 4;
  std::vector<double> x(d), mu_a(d), mu_b(d);
  for (int i = 0; i < d; ++i) x[i] = rng.normal(), mu_a[i] = rng.normal(), mu_b[i] = rng.normal();
  auto squared_error = [&](const std::vector<double>& mu) {
    double s = 0;
    for (int i = 0; i < d; ++i) s += (x[i] - mu[i]) * (x[i] - mu[i]);
    return s;
  };
  // log N(x; mu, sigma^2 I) = -d/2 log(2 pi) - d log sigma - |x - mu|^2 / (2 sigma^2)
  auto written_out = [&](const std::vector<double>& mu) {
    return -0.5 * d * log_2pi - d * std::log(sigma) - squared_error(mu) / (2 * sigma * sigma);
  };
  const Gaussian pa = Gaussian::diagonal(mu_a, std::vector<double>(d, sigma));
  const Gaussian pb = Gaussian::diagonal(mu_b, std::vector<double>(d, sigma));
  t.check_close("L08", "log N(x; mu, sigma^2 I) written out vs the multivariate density",
                written_out(mu_a), vae::gaussian_log_density(x, pa), 1e-12);
  t.check_close("L08",
                "difference of log-likelihoods vs -(difference of squared errors) / (2 sigma^2)",
                vae::gaussian_log_density(x, pa) - vae::gaussian_log_density(x, pb),
                -(squared_error(mu_a) - squared_error(mu_b)) / (2 * sigma * sigma), 1e-12);
  t.note("so -log p(x|z) = |x - mu(z)|^2 / (2 sigma^2) + d log sigma + d/2 log 2pi: squared error");
  t.note("scaled by 1/(2 sigma^2) plus a constant. The slides' 1/2 |x - mu|^2 is sigma = 1 with");
  t.note("the constant dropped; a different sigma reweights reconstruction against the KL. (The");
  t.note(
      "slides' step 'proportional to -sum 1/2 (x_i - mu_i(z))^2' holds only for one fixed sigma");
  t.note("shared by all i: with their sigma_i(z) the weights 1/sigma_i^2 and the log sigma_i");
  t.note(
      "terms stay. Note 004 writes log P(x|z) as proportional to +(x - mu)^T Sigma^-1 (x - mu):");
  t.note("the sign and the 1/2 are lost; it is -1/2 of that plus a constant, as checked above.)");
}

// The slides' normaliser 1/sqrt(2 pi sigma_i) against 1/sqrt(2 pi sigma_i^2), by quadrature.
void slide_normaliser(tut::Tutorial& t) {
  const double sigma = kLikelihoodSigma;
  const double m = 0.3;
  const double area_right = vae::integrate(
      [&](double v) {
        return std::exp(-(v - m) * (v - m) / (2 * sigma * sigma)) /
               std::sqrt(2 * M_PI * sigma * sigma);
      },
      m - 12 * sigma, m + 12 * sigma);
  const double area_slide = vae::integrate(
      [&](double v) {
        return std::exp(-(v - m) * (v - m) / (2 * sigma * sigma)) / std::sqrt(2 * M_PI * sigma);
      },
      m - 12 * sigma, m + 12 * sigma);
  t.check_close("L08", "integral of the density with 1/sqrt(2 pi sigma^2) (quadrature) vs 1",
                area_right, 1.0, 1e-10);
  t.check_close("L08", "notes' slip: with 000's 1/sqrt(2 pi sigma) it integrates to sqrt(sigma)",
                area_slide, std::sqrt(sigma), 1e-10);
  t.note("(sigma = {}: the slide's normaliser is off by a factor sqrt(sigma) = {:.6f}.) In the",
         sigma, std::sqrt(sigma));
  t.note("log it adds 1/2 log sigma_i per coordinate. For a fixed sigma that is a constant; but");
  t.note("the slide's sigma_i(z) is an output of the decoder, and then the wrong normaliser");
  t.note("changes the gradient with respect to sigma and biases the variance that is learned.");
  t.note("Fitting one sigma to residuals r_j by maximum likelihood:");
}

// Fitting one sigma to residuals by maximum likelihood, with either normaliser.
void learned_variance_bias(tut::Tutorial& t, ad::Rng& rng) {
  std::vector<double> r(1000);
  double mean_r2 = 0;
  for (double& v : r) v = 0.5 * rng.normal(), mean_r2 += v * v / static_cast<double>(r.size());
  auto log_lik = [&](double log_s, bool slide) {  // sum_j log N(r_j; 0, s^2), either normaliser
    const double s2 = std::exp(2 * log_s);
    double total = 0;
    for (double v : r)
      total += -0.5 * std::log(2 * M_PI * (slide ? std::sqrt(s2) : s2)) - v * v / (2 * s2);
    return total;
  };
  const double best = std::exp(2 * argmax_golden([&](double l) { return log_lik(l, false); },
                                                 std::log(1e-3), std::log(1e3)));
  const double best_slide = std::exp(2 * argmax_golden([&](double l) { return log_lik(l, true); },
                                                       std::log(1e-3), std::log(1e3)));
  t.check_close("L08", "ML sigma^2 with 1/sqrt(2 pi sigma^2) (numerical) vs mean r^2", best,
                mean_r2, 1e-6);
  t.check_close("L08", "ML sigma^2 with 000's 1/sqrt(2 pi sigma) (numerical) vs 2 mean r^2",
                best_slide, 2 * mean_r2, 1e-6);
  t.note("so with the slide's normaliser a learned variance comes out twice the mean squared");
  t.note("error ({:.4f} instead of {:.4f} for these {} residuals).", best_slide, best, r.size());
}

void bernoulli_likelihood(tut::Tutorial& t, ad::Rng& rng) {
  // Bernoulli: log prod theta^x (1-theta)^(1-x) = -BCE(x, theta); on the tape from logits.
  const int pixels = 6;
  std::vector<double> logits(pixels), target(pixels);
  for (int i = 0; i < pixels; ++i) logits[i] = 2 * rng.normal(), target[i] = rng.uniform() < 0.5;
  double product = 1, manual_bce = 0;
  for (int i = 0; i < pixels; ++i) {
    const double theta = 1 / (1 + std::exp(-logits[i]));
    product *= target[i] ? theta : 1 - theta;
    manual_bce -= target[i] * std::log(theta) + (1 - target[i]) * std::log(1 - theta);
  }
  ad::Tensor a = ad::Tensor::from(logits, {pixels}, ad::f64).requires_grad_();
  ad::Tensor y = ad::Tensor::from(target, {pixels}, ad::f64);
  // BCE with logits, stable: -(y log sigmoid(a) + (1-y) log sigmoid(-a))
  ad::Tensor bce = -ad::sum(y * ad::log_sigmoid(a) + (1.0 - y) * ad::log_sigmoid(-a));
  t.check_close("L08", "log prod theta^x (1-theta)^(1-x) vs -BCE(x, theta) on the tape",
                std::log(product), -bce.item(), 1e-12);
  t.check_close("L08", "BCE summed by hand vs on the tape", manual_bce, bce.item(), 1e-12);
  ad::backward(bce);
  double worst = 0;
  for (int i = 0; i < pixels; ++i)
    worst =
        std::max(worst, std::abs(a.grad().flat(i) - (1 / (1 + std::exp(-logits[i])) - target[i])));
  t.check_less("L08", "d BCE / d logit from the tape vs sigmoid(a) - x: worst |diff|", worst,
               1e-12);
  t.note("note 003's eq. (26) (Bernoulli ELBO) prints 1/L sum_l with nothing after it: the");
  t.note("likelihood term sum_i x_i log theta_i + (1 - x_i) log(1 - theta_i) at z^(l) is dropped.");
}

void likelihoods(tut::Tutorial& t) {
  t.section("L08", "Gaussian likelihood -> squared error; Bernoulli -> binary cross-entropy");
  ad::Rng rng(t.seed() + 108);  // the example's x, mu and logits: the same whatever --samples is
  gaussian_likelihood(t, rng);
  slide_normaliser(t);
  learned_variance_bias(t, rng);
  bernoulli_likelihood(t, rng);
}

// ---------------------------------------------------------------- figure
void elbo_figures(tut::Tutorial& t) {
  t.section("L07", "Figure: the ELBO as q's mean and scale vary, log p(x) the ceiling");
  ad::Rng rng(t.seed() + 109);  // the figure's model: the same whatever --samples is
  const LinearGaussian model = LinearGaussian::random(3, 1, 0.8, rng);
  const std::vector<double> x = model.sample_x(rng);
  const double log_px = model.log_evidence(x);
  const Gaussian post = model.posterior(x);
  const double pm = post.mean[0], ps = std::sqrt(post.cov(0, 0));
  t.note("1-D latent (d = 3, sigma = 0.8): posterior N({:.4f}, {:.4f}^2), log p(x) = {:.4f}", pm,
         ps, log_px);
  std::vector<double> ms, elbo_m, ceiling_m, ss, elbo_s, ceiling_s;
  double best = -1e300;
  for (int i = 0; i <= 200; ++i) {
    const double mm = pm - 4 * ps + 8 * ps * i / 200;
    ms.push_back(mm);
    elbo_m.push_back(vae::elbo(model, x, Gaussian::diagonal({mm}, {ps})));
    ceiling_m.push_back(log_px);
    const double sc = ps * std::pow(10.0, -1 + 2.0 * i / 200);
    ss.push_back(sc);
    elbo_s.push_back(vae::elbo(model, x, Gaussian::diagonal({pm}, {sc})));
    ceiling_s.push_back(log_px);
    best = std::max({best, elbo_m.back(), elbo_s.back()});
  }
  t.check_less("L07", "largest ELBO on both grids minus log p(x) (<= 0 up to rounding)",
               best - log_px, 1e-12);
  t.check_close("L07", "the grids pass through the posterior: max ELBO vs log p(x)", best, log_px,
                1e-12);
  tut::Plot by_mean("elbo_vs_mean", "ELBO for q = N(m, s_post²) as m moves");
  by_mean.xlabel("mean m of q").ylabel("nats").x_range(ms.front(), ms.back());
  by_mean.y_range(log_px - 9, log_px + 1).legend(tut::LegendPlace::outside);
  by_mean.line("ELBO(q)", ms, elbo_m).line("log p(x)", ms, ceiling_m, tut::LineStyle::dashed);
  by_mean.points("q = posterior", std::vector<double>{pm}, std::vector<double>{log_px});
  t.save_figure(by_mean);
  tut::Plot by_scale("elbo_vs_scale", "ELBO for q = N(m_post, s²) as s moves");
  by_scale.xlabel("standard deviation s of q").ylabel("nats").log_x();
  by_scale.x_range(ss.front(), ss.back()).y_range(log_px - 9, log_px + 1);
  by_scale.legend(tut::LegendPlace::outside);
  by_scale.line("ELBO(q)", ss, elbo_s).line("log p(x)", ss, ceiling_s, tut::LineStyle::dashed);
  by_scale.points("q = posterior", std::vector<double>{ps}, std::vector<double>{log_px});
  t.save_figure(by_scale);
  t.note("The gap between the curves is KL(q || p(z|x)); it closes only at the posterior.");
}

}  // namespace

static int run(int argc, char** argv) {
  tut::Tutorial t("05_elbo",
                  "The ELBO on the linear-Gaussian model: bound, gap, pieces, likelihoods");
  int latent_dim = 2, data_dim = 5, samples = 100000;
  double sigma = 0.7;
  t.flags().add_option("--latent-dim", latent_dim, "k")->check(CLI::Range(1, 20));
  t.flags().add_option("--data-dim", data_dim, "d")->check(CLI::Range(1, 50));
  t.flags().add_option("--sigma", sigma, "decoder noise sigma")->check(tut::finite_positive());
  t.flags()
      .add_option("--samples", samples, "Monte Carlo samples (--quick: 10000)")
      ->check(CLI::Range(100, 100000000));
  if (auto exit_code = t.parse(argc, argv)) return *exit_code;
  if (t.quick() && !t.given("--samples")) samples = 10000;
  ad::Rng rng(t.seed());

  const LinearGaussian model = LinearGaussian::random(data_dim, latent_dim, sigma, rng);
  const std::vector<double> x = model.sample_x(rng);
  elbo_identity(t, rng, model, x, samples);
  inserting_q_over_q(t, rng, model, x, samples);
  elbo_pieces(t, rng, model, x, samples);
  likelihoods(t);
  elbo_figures(t);
  return t.finish();
}

// Any error after the flags are read ends the program with one line and exit status 1.
int main(int argc, char** argv) {
  return tut::report_errors("05_elbo", [&] { return run(argc, argv); });
}
