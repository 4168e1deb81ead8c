// Tutorial 03: probability and Monte Carlo, as the VAE notes use them.
//
//   Bayes' rule and total probability on three coins (note 000's slides);
//   the biased-coin Monte Carlo estimate and its 1/sqrt(n) error (000);
//   p(x) = int p(x|z) p(z) dz on the linear-Gaussian model: closed form vs quadrature vs
//   naive Monte Carlo from the prior (000, 001, 004);
//   naive Monte Carlo from the prior failing as the latent dimension grows, fixed by
//   sampling from a q close to the posterior (002, section 2.3);
//   the ELBO's terms in nats and bits (002, section 2.4.2).
//
// Monte Carlo checks: the estimate must lie within 4 standard errors of the exact value,
// the standard error estimated from the same samples, at the fixed seed.
//
//   build/release/tutorials/03_probability_and_monte_carlo [--samples 200000] [--seed 42]
//                                                          [--out DIR] [--quick]
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
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

// ---------------------------------------------------------------- L02
void bayes_rule(tut::Tutorial& t, ad::Rng& rng, int samples) {
  t.section("L02", "Bayes' rule and total probability: three coins");
  // theta_i: which coin was picked (mutually exclusive); x: 2 heads in 3 flips.
  const std::vector<double> heads = {0.2, 0.5, 0.9}, prior = {0.5, 0.3, 0.2};
  auto likelihood = [](double h) { return 3 * h * h * (1 - h); };  // C(3,2) h^2 (1-h)
  double p_x = 0;
  for (int i = 0; i < 3; ++i) p_x += likelihood(heads[i]) * prior[i];
  std::vector<double> posterior(3);
  for (int i = 0; i < 3; ++i) posterior[i] = likelihood(heads[i]) * prior[i] / p_x;
  t.note("coins with P(heads) = 0.2, 0.5, 0.9, picked with p(theta) = 0.5, 0.3, 0.2;");
  t.note("x = 'two heads in three flips', p(x|theta) = 3 h^2 (1 - h)");
  t.note("total probability p(x) = sum_i p(x|theta_i) p(theta_i) = {:.6f}", p_x);
  t.note("Bayes: p(theta|x) = ({:.6f}, {:.6f}, {:.6f})", posterior[0], posterior[1], posterior[2]);
  // Simulation: pick a coin, flip it three times; count.
  long hits = 0;
  std::vector<long> coin_given_x(3, 0);
  // excerpt: importance_weights
  for (int s = 0; s < samples; ++s) {
    const double u = rng.uniform();
    const int coin = u < prior[0] ? 0 : (u < prior[0] + prior[1] ? 1 : 2);
    int h = 0;
    for (int f = 0; f < 3; ++f) h += rng.uniform() < heads[coin];
    if (h == 2) ++hits, ++coin_given_x[coin];
  }
  // end excerpt: importance_weights
  const double freq = static_cast<double>(hits) / samples;
  t.check_within_se("L02", "p(x): frequency in simulation vs total probability (4 SE)", freq,
                    std::sqrt(freq * (1 - freq) / samples), p_x, n_se);
  for (int i = 0; i < 3; ++i) {
    const double f = static_cast<double>(coin_given_x[i]) / hits;
    t.check_within_se("L02", fmt::format("p(theta_{}|x): frequency among x vs Bayes (4 SE)", i + 1),
                      f, std::sqrt(f * (1 - f) / hits), posterior[i], n_se);
  }
  t.check_close("L02", "posterior sums to 1", posterior[0] + posterior[1] + posterior[2], 1.0,
                1e-15);
  t.note(
      "The slides (000) and note 004 write these sums from i = 0 to n over theta_1 ... theta_n:");
  t.note("n + 1 terms; the sum runs over i = 1..n, here the 3 coins. (The theorem needs the");
  t.note("theta_i to be mutually exclusive and to cover every case, as the three coins do.)");
  // 001 (as converted) writes p(h|x) = p(x|h) / p(x), without the prior p(h).
  double without_prior = 0;
  for (int i = 0; i < 3; ++i) without_prior += likelihood(heads[i]) / p_x;
  t.check_true("L02", "notes' slip (001): p(x|theta)/p(x) without the prior is no distribution",
               std::abs(without_prior - 1) > 1e-3,
               fmt::format("it sums to {:.4f} over the coins, not 1", without_prior));
  t.note("(001 has Bayes' theorem right a few lines earlier, P(h|x) = P(x|h) P(h) / P(x); the");
  t.note(" later p_theta(h|x) = p_theta(x|h) / p_theta(x) lost the factor p_theta(h), perhaps in");
  t.note(" the conversion of the handwriting.)");
}

// ---------------------------------------------------------------- L03
void biased_coin(tut::Tutorial& t, ad::Rng& rng, bool quick) {
  t.section("L03", "Monte Carlo: the biased coin, E[X] ~ (1/n) sum x_i, error ~ 1/sqrt(n)");
  const double p = 0.3;
  t.note("X = 1 for heads, 0 for tails, P(X = 1) = p = {}: a Bernoulli variable, which is the",
         p);
  t.note("Binomial(1, p) the slides call it. The slides write E[X] = (1 + 0 + 1 + ... + 0) / n");
  t.note("with '=': the average is an estimate of E[X] ('~'), off by about sqrt(p (1 - p) / n),");
  t.note("which is what this section measures.");
  const int reps = quick ? 100 : 400;
  const int max_exp = quick ? 4 : 5;  // n up to 10^max_exp
  std::vector<double> ns, rmse, theory, one_run;
  for (int e2 = 2; e2 <= 2 * max_exp; ++e2) {  // n = 10, 31, 100, ... (half decades)
    const long n = std::lround(std::pow(10.0, e2 / 2.0));
    double sum_sq = 0, first = 0;
    for (int r = 0; r < reps; ++r) {
      long h = 0;
      for (long i = 0; i < n; ++i) h += rng.uniform() < p;
      const double err = static_cast<double>(h) / n - p;
      sum_sq += err * err;
      if (r == 0) first = std::abs(err);
    }
    ns.push_back(n);
    rmse.push_back(std::sqrt(sum_sq / reps));
    theory.push_back(std::sqrt(p * (1 - p) / n));
    one_run.push_back(first);
  }
  // One estimate, with its standard error from the samples.
  {
    const long n = 10000;
    vae::RunningMean s;
    for (long i = 0; i < n; ++i) s.add(rng.uniform() < p);
    t.check_within_se("L03", fmt::format("E[X] from n = {} flips vs p = {} (4 SE)", n, p), s.mean(),
                      s.se(), p, n_se);
  }
  // Least-squares slope of log RMSE against log n, with its standard error from the
  // residuals (t-distribution ignored: 4 SE is generous for 7-9 points at 0.01% level).
  const int m = static_cast<int>(ns.size());
  double mx = 0, my = 0;
  for (int i = 0; i < m; ++i) mx += std::log(ns[i]) / m, my += std::log(rmse[i]) / m;
  double sxx = 0, sxy = 0;
  for (int i = 0; i < m; ++i) {
    sxx += std::pow(std::log(ns[i]) - mx, 2);
    sxy += (std::log(ns[i]) - mx) * (std::log(rmse[i]) - my);
  }
  const double slope = sxy / sxx, intercept = my - slope * mx;
  double rss = 0;
  for (int i = 0; i < m; ++i)
    rss += std::pow(std::log(rmse[i]) - intercept - slope * std::log(ns[i]), 2);
  const double slope_se = std::sqrt(rss / (m - 2) / sxx);
  t.note(
      "RMS error over {} repetitions at each n = 10 ... 10^{}; fitted log-log slope {:.4f} +- "
      "{:.4f}",
      reps, max_exp, slope, slope_se);
  t.check_within_se("L03", "fitted slope of log RMS error vs log n against -1/2 (4 SE of the fit)",
                    slope, slope_se, -0.5, n_se);
  t.check_within_se(
      "L03",
      fmt::format("RMS error at n = {:.0f} vs sqrt(p(1-p)/n) (4 SE, SE ~ rms/sqrt(2R))", ns.back()),
      rmse.back(), rmse.back() / std::sqrt(2.0 * reps), theory.back(), n_se);
  tut::Plot plot("coin_error_vs_n", "Biased coin (p = 0.3): Monte Carlo error against n");
  plot.xlabel("number of flips n").ylabel("|estimate - p|").log_x().log_y();
  plot.line("sqrt(p(1-p)/n)", ns, theory, tut::LineStyle::dashed);
  plot.points(fmt::format("RMS error over {} runs (slope {:.3f})", reps, slope), ns, rmse);
  plot.points("one run", ns, one_run);
  t.save_figure(plot);
}

// ---------------------------------------------------------------- L06
void evidence_integral(tut::Tutorial& t, ad::Rng& rng, int samples) {
  t.section("L06", "p(x) = int p(x|z) p(z) dz: closed form vs quadrature vs Monte Carlo");
  ad::Rng example_rng(t.seed() + 106);  // the model and x: the same whatever --samples is
  const LinearGaussian model = LinearGaussian::random(2, 1, 0.6, example_rng);
  const std::vector<double> x = model.sample_x(example_rng);
  t.note("z ~ N(0, 1), x|z ~ N(W z + b, 0.6^2 I_2), W = ({:.4f}, {:.4f}), x = ({:.4f}, {:.4f})",
         model.w(0, 0), model.w(1, 0), x[0], x[1]);
  const double exact = std::exp(model.log_evidence(x));
  auto integrand = [&](double z) { return std::exp(model.log_joint(x, {z})); };
  const double quad = vae::integrate(integrand, -12, 12);
  t.check_close("L06", "p(x): closed form N(x; b, W W^T + sigma^2 I) vs Simpson quadrature", exact,
                quad, 1e-9);
  // 001 (as converted) first writes p(x) = int p(x|h) dh, then int p(x|h) p(h) dh.
  const double without_prior =
      vae::integrate([&](double z) { return std::exp(model.log_likelihood(x, {z})); }, -12, 12);
  t.check_true("L06", "notes' slip (001): int p(x|z) dz without p(z) is not p(x)",
               std::abs(without_prior - exact) > 1e-3 * exact,
               fmt::format("{:.6f} vs p(x) = {:.6f}", without_prior, exact));
  t.note("(z is continuous with p(z) = N(0, 1), so p(x) is an integral over z. Note 003's eq. (5)");
  t.note(" sums over z in {{0,1}}^k although its prior is N(0, I): for a Gaussian z it is this");
  t.note(" integral; a sum over binary z belongs to a model with binary latents, such as an RBM.)");
  const Gaussian post = model.posterior(x);
  const double post_mean_quad =
      vae::integrate([&](double z) { return z * integrand(z); }, -12, 12) / quad;
  t.check_close("L06", "posterior mean: closed form vs quadrature of z p(x,z) / p(x)", post.mean[0],
                post_mean_quad, 1e-9, 1e-12);
  vae::RunningMean naive;
  for (int s = 0; s < samples; ++s) naive.add(std::exp(model.log_likelihood(x, {rng.normal()})));
  t.check_within_se("L06",
                    "p(x): naive Monte Carlo mean of p(x|z), z ~ p(z), vs closed form (4 SE)",
                    naive.mean(), naive.se(), exact, n_se);
  t.note("(note 002 writes this estimate as P(X) ~ sum_z P(X|z): the mean (1/n) sum_i P(X|z_i),");
  t.note(" z_i ~ P(z), is meant; the plain sum grows with n.)");
}

// ---------------------------------------------------------------- L19
struct Estimate {
  double relative_error;  // |p_hat / p - 1|
  double relative_se;     // estimated standard error of p_hat / p
  double ess_fraction;    // (sum w)^2 / sum w^2, as a fraction of n
  double ratio;           // p_hat / p
  double log10_ratio;     // log10(p_hat / p), finite even when p_hat / p underflows
};

// Importance-sampling estimate of p(x) with proposal `proposal` (the prior for naive MC).
// Weights are kept relative to p(x) (log w - log p(x)) so nothing underflows.
Estimate estimate_evidence(const LinearGaussian& model, const std::vector<double>& x,
                           const Gaussian& proposal, bool from_prior, int samples, ad::Rng& rng) {
  const double log_px = model.log_evidence(x);
  std::vector<double> log_w(samples);
  for (int s = 0; s < samples; ++s) {
    const std::vector<double> z = vae::sample(proposal, rng);
    log_w[s] = from_prior ? model.log_likelihood(x, z)
                          : model.log_joint(x, z) - vae::gaussian_log_density(z, proposal);
    log_w[s] -= log_px;
  }
  const double top = *std::max_element(log_w.begin(), log_w.end());
  double s1 = 0, s2 = 0;  // sums of w e^-top and w^2 e^-2top
  for (double lw : log_w) {
    const double w = std::exp(lw - top);
    s1 += w;
    s2 += w * w;
  }
  const double ratio = std::exp(top) * s1 / samples;
  const double mean_sq = std::exp(2 * top) * s2 / samples;
  const double var = std::max(0.0, mean_sq - ratio * ratio) * samples / (samples - 1.0);
  return {std::abs(ratio - 1), std::sqrt(var / samples), s1 * s1 / s2 / samples, ratio,
          (top + std::log(s1 / samples)) / std::log(10.0)};
}

void naive_vs_proposal(tut::Tutorial& t, ad::Rng& rng, bool quick) {
  t.section("L19", "Naive Monte Carlo from the prior fails in high dimension; q fixes it");
  const int samples = quick ? 2000 : 20000;
  const std::vector<int> dims =
      quick ? std::vector<int>{1, 2, 4, 8, 16} : std::vector<int>{1, 2, 4, 8, 16, 32};
  const double c = 1.2;  // q = N(posterior mean, c * posterior covariance)
  t.note("model with d = k, sigma = 0.5; {} samples per dimension; q = N(posterior mean,", samples);
  t.note("{} x posterior covariance): close to, not equal to, the posterior.", c);
  t.note("The relative variance of the weights is known in closed form:");
  t.note(
      "  prior:  E_p(z)[p(x|z)^2] / p(x)^2 = (4 pi sigma^2)^(-d/2) N(x; b, W W^T + sigma^2/2 I) / "
      "p(x)^2");
  t.note("  q:      E_q[w^2] / p(x)^2 = (c / sqrt(2c - 1))^k");
  t.note("  so the expected relative error is sqrt((that - 1) / n).");
  std::vector<double> ks, naive_err, naive_pred, naive_ess, q_err, q_pred, q_ess;
  for (int k : dims) {
    // The model of dimension k and its x come from their own stream: the same in a --quick
    // run (which stops at k = 16) and a full one.
    ad::Rng example_rng(t.seed() + 1000 + k);
    const LinearGaussian model = LinearGaussian::random(k, k, 0.5, example_rng);
    const std::vector<double> x = model.sample_x(example_rng);
    const double log_px = model.log_evidence(x);
    const Gaussian prior{std::vector<double>(k, 0.0), Matrix::identity(k)};
    Gaussian q = model.posterior(x);
    q.cov = c * q.cov;
    const Estimate naive = estimate_evidence(model, x, prior, true, samples, rng);
    const Estimate is = estimate_evidence(model, x, q, false, samples, rng);
    // closed-form second moments
    Gaussian half = model.marginal();
    for (int i = 0; i < k; ++i) half.cov(i, i) -= 0.5 * model.sigma * model.sigma;
    const double log_m2_naive = -0.5 * k * std::log(4 * M_PI * model.sigma * model.sigma) +
                                vae::gaussian_log_density(x, half) - 2 * log_px;
    const double naive_relvar = std::expm1(log_m2_naive);
    const double q_relvar = std::pow(c / std::sqrt(2 * c - 1), k) - 1;
    ks.push_back(k);
    naive_err.push_back(naive.relative_error);
    naive_pred.push_back(std::sqrt(naive_relvar / samples));
    naive_ess.push_back(naive.ess_fraction);
    q_err.push_back(is.relative_error);
    q_pred.push_back(std::sqrt(q_relvar / samples));
    q_ess.push_back(is.ess_fraction);
    t.note(
        "k = {:2}: prior: log10(p_hat/p) = {:<8.3f} ESS/n = {:<9.3g} predicted rel. error {:<9.3g} "
        "| "
        "q: p_hat/p = {:.4f}, ESS/n = {:.3f}",
        k, naive.log10_ratio, naive.ess_fraction, naive_pred.back(), is.ratio, is.ess_fraction);
    t.check_within_se("L19",
                      fmt::format("k = {:2}: importance sampling from q, p_hat/p vs 1 (4 SE)", k),
                      is.ratio, is.relative_se, 1.0, n_se);
    if (k == 1)
      t.check_within_se("L19", "k =  1: naive Monte Carlo from the prior, p_hat/p vs 1 (4 SE)",
                        naive.ratio, naive.relative_se, 1.0, n_se);
  }
  t.check_less(
      "L19",
      fmt::format("naive ESS/n at k = {} (a handful of samples carry all the weight)", dims.back()),
      naive_ess.back(), 0.01);
  t.check_less("L19",
               fmt::format("predicted naive relative error at k = {} vs that of q", dims.back()),
               q_pred.back(), naive_pred.back());
  t.note("At large k the naive estimate's own standard error is no longer trustworthy: the");
  t.note("weights are so heavy-tailed that the sample variance misses the rare huge ones.");
  t.note("notes' slip (002): 'sampling from P(z)' before eq. (11), and again in the sentence");
  t.note("after it, means sampling from Q(z|X): sampling from P(z) is what fails above.");

  tut::Plot err("evidence_relative_error",
                "Estimating p(x): relative error against latent dimension\n"
                "lines predicted, dots measured; at 1 the estimate is ≈ 0 (no sample near the "
                "posterior)");
  err.xlabel("latent dimension k (= d)").ylabel("relative error |p̂(x) / p(x) − 1|").log_x().log_y();
  err.x_range(0.8, 40).x_tics(ks).legend(tut::LegendPlace::bottom_right);
  err.line("naive, z from p(z)", ks, naive_pred, tut::LineStyle::dashed)
      .check_points(ks, naive_err);
  err.line("z from q(z|x)", ks, q_pred, tut::LineStyle::dashed).check_points(ks, q_err);
  t.save_figure(err);
  tut::Plot ess("evidence_ess", "Effective sample size (sum w)^2 / sum w^2, as a fraction of n");
  ess.xlabel("latent dimension k (= d)").ylabel("ESS / n").log_x().log_y();
  ess.x_range(0.8, 40).x_tics(ks).legend(tut::LegendPlace::bottom_left);
  ess.line("naive, from p(z)", ks, naive_ess).line("from q", ks, q_ess);
  t.save_figure(ess);
}

// ---------------------------------------------------------------- L20
void nats_and_bits(tut::Tutorial& t, ad::Rng& rng, int samples) {
  t.section("L20", "The terms in nats and bits (note 002, section 2.4.2)");
  const int k = 2;
  ad::Rng example_rng(t.seed() + 120);  // the model and x: the same whatever --samples is
  const LinearGaussian model = LinearGaussian::random(4, k, 0.7, example_rng);
  const std::vector<double> x = model.sample_x(example_rng);
  const Gaussian post = model.posterior(x);
  std::vector<double> m(post.mean), sd(k);
  for (int i = 0; i < k; ++i) m[i] += 0.25, sd[i] = std::sqrt(post.cov(i, i));
  const Gaussian q = Gaussian::diagonal(m, sd);  // ignores the posterior's correlation
  const double ln2 = std::log(2.0);
  const double kl_prior =
      vae::kl_gaussian(q.mean, q.cov, std::vector<double>(k, 0.0), Matrix::identity(k));
  const double recon = -vae::expected_log_likelihood(model, x, q);
  const double neg_log_px = -model.log_evidence(x);
  const double gap = vae::kl_to_posterior(model, x, q);
  t.note("{:<52} {:>10} {:>10}", "(*): note 002 writes it differently, see below", "nats", "bits");
  auto row = [&](const char* what, double nats) {
    t.note("{:<52} {:>10.4f} {:>10.4f}", what, nats, nats / ln2);
  };
  row("KL(q(z|x) || p(z)): bits to construct z", kl_prior);
  row("-E_q[log p(x|z)]: bits to reconstruct x from z (*)", recon);
  row("sum = -ELBO", kl_prior + recon);
  row("-log p(x): bits for x under the model", neg_log_px);
  row("KL(q || p(z|x)): the price of a sub-optimal q (*)", gap);
  t.check_close("L20", "-ELBO in bits vs (-log p(x) + KL(q||p(z|x))) in bits",
                (kl_prior + recon) / ln2, (neg_log_px + gap) / ln2, 1e-12);
  t.note("(*) Note 002 writes the reconstruction's code length as P(X|z) ('minimize P(X|z)');");
  t.note("it is -log P(X|z), to be minimised (P(X|z) maximised). It calls KL(Q(z|X) || P(z)) the");
  t.note("'price' for Q being a sub-optimal encoding; the price of a sub-optimal q is the excess");
  t.note("of -ELBO over -log p(x), KL(q || p(z|x)), as in the table: it vanishes at the best q,");
  t.note("the posterior, where KL(q || p(z)) does not:");
  {
    const double gap_at_post = vae::kl_to_posterior(model, x, post);
    const double kl_prior_at_post =
        vae::kl_gaussian(post.mean, post.cov, std::vector<double>(k, 0.0), Matrix::identity(k));
    t.check_close("L20", "at q = p(z|x): the price KL(q || p(z|x)) = 0", gap_at_post, 0.0, 0,
                  1e-10);
    t.check_true("L20", "... while KL(q || p(z)) is not 0 there (bits still spent on z)",
                 kl_prior_at_post > 1e-3,
                 fmt::format("KL(p(z|x) || p(z)) = {:.4f} nats", kl_prior_at_post));
  }
  vae::RunningMean kl_bits, recon_bits;
  const Gaussian prior{std::vector<double>(k, 0.0), Matrix::identity(k)};
  for (int s = 0; s < samples; ++s) {
    const std::vector<double> z = vae::sample(q, rng);
    kl_bits.add((vae::gaussian_log_density(z, q) - vae::gaussian_log_density(z, prior)) / ln2);
    recon_bits.add(-model.log_likelihood(x, z) / ln2);
  }
  t.check_within_se("L20",
                    "KL(q||p(z)) in bits: Monte Carlo of log2 q - log2 p vs closed form (4 SE)",
                    kl_bits.mean(), kl_bits.se(), kl_prior / ln2, n_se);
  t.check_within_se("L20",
                    "reconstruction in bits: Monte Carlo of -log2 p(x|z) vs closed form (4 SE)",
                    recon_bits.mean(), recon_bits.se(), recon / ln2, n_se);
  t.check_close("L20", "one fair coin flip: -log2(1/2) = 1 bit = ln 2 nats / ln 2", -std::log2(0.5),
                std::log(2.0) / ln2, 1e-15);
  t.note("1 nat = 1/ln 2 = {:.4f} bits. For a density (x continuous) -log p(x) is a code length",
         1 / ln2);
  t.note("only up to the precision x is coded to; differences such as the KL terms are exact.");
}

}  // namespace

static int run(int argc, char** argv) {
  tut::Tutorial t("03_probability_and_monte_carlo",
                  "Probability and Monte Carlo: Bayes' rule, 1/sqrt(n), evidence, dimension, bits");
  int samples = 200000;
  t.flags()
      .add_option("--samples", samples, "Monte Carlo samples (--quick: 20000)")
      ->check(CLI::Range(100, 100000000));
  if (auto exit_code = t.parse(argc, argv)) return *exit_code;
  if (t.quick() && !t.given("--samples")) samples = 20000;
  ad::Rng rng(t.seed());

  bayes_rule(t, rng, samples);
  biased_coin(t, rng, t.quick());
  evidence_integral(t, rng, samples);
  naive_vs_proposal(t, rng, t.quick());
  nats_and_bits(t, rng, samples);
  return t.finish();
}

// Any error after the flags are read ends the program with one line and exit status 1.
int main(int argc, char** argv) {
  return tut::report_errors("03_probability_and_monte_carlo", [&] { return run(argc, argv); });
}
