// Tutorial 06: the reparameterization trick.
//
// The VAE needs grad_phi E_{q_phi(z|x)}[f(z)]. The notes (003, eqs. 27-45; 000 and 001)
// go in steps, and so does this program:
//   1. the wrong gradient: sample z, treat it as a constant, differentiate  (L12)
//   2. z = mu + sigma * eps on the tape: unbiased, checked in closed form   (L13, L17)
//   3. the log-variance form z = mu + exp(logvar / 2) * eps                (L26)
//   4. change of variables: log q(z) = log p(eps) - sum_i log sigma_i     (L27)
//   5. full covariance: z = mu + L eps, log|det| = sum_i log L_ii         (L29)
//   6. other distributions by the inverse CDF: exponential, logistic, Gumbel (L30)
//   7. where it does not apply directly: Uniform(0, phi)                   (L25)
//
// Every Monte Carlo check allows 4 standard errors, estimated from the samples (for a
// variance, from their fourth moment), at the fixed seed.
//
//   build/release/tutorials/06_reparameterization [--samples 100000] [--seed 42] [--out DIR]
//   [--quick]
#include <fmt/format.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autodiff/autodiff.h"
#include "tutorials/common/plot.h"
#include "tutorials/common/tutorial.h"
#include "vae/distributions.h"
#include "vae/per_sample_gradients.h"
#include "vae/linalg.h"
#include "vae/quadrature.h"

using ad::Tensor;

namespace {

constexpr double kNse = 4.0;
constexpr double kPi = 3.14159265358979323846;
constexpr double kEulerGamma = 0.57721566490153286061;

Tensor row(const std::vector<double>& v) {
  return Tensor::from(v, {1, static_cast<int64_t>(v.size())}, ad::f64);
}
Tensor vec(const std::vector<double>& v) {
  return Tensor::from(v, {static_cast<int64_t>(v.size())}, ad::f64);
}

// A histogram as a density: bin centres and count / (n * width).
void histogram(const std::vector<double>& x, double lo, double hi, int bins,
               std::vector<double>& centres, std::vector<double>& density) {
  std::vector<double> counts(bins, 0.0);
  const double w = (hi - lo) / bins;
  for (double v : x)
    if (v >= lo && v < hi) counts[static_cast<int>((v - lo) / w)] += 1;
  centres.clear();
  density.clear();
  for (int b = 0; b < bins; ++b) {
    centres.push_back(lo + (b + 0.5) * w);
    density.push_back(counts[b] / (x.size() * w));
  }
}

// ---------------------------------------------------------------- 1. the wrong gradient

// The example of section 1: q_phi = N(mu, sigma^2) with phi = (mu, logvar), and a
// decoder parameter theta.
struct WrongGradientExample {
  double mu = 0.5, logvar = std::log(0.64), theta = -1.0;
};

// grad wrt theta is easy: theta is not in q, so the gradient goes inside the expectation.
void theta_gradient_inside(tut::Tutorial& t, const WrongGradientExample& e, int64_t n,
                           ad::Rng& rng) {
  const double mu = e.mu, logvar = e.logvar, theta = e.theta;
  // E_q[(z - theta)^2] = (mu - theta)^2 + sigma^2;  d/dtheta = -2 (mu - theta).
  Tensor m = Tensor::full({n, 1}, mu, ad::f64), lv = Tensor::full({n, 1}, logvar, ad::f64);
  Tensor th = Tensor::full({n, 1}, theta, ad::f64).requires_grad_();
  Tensor z = vae::DiagGaussian{m, lv}.sample(rng);
  ad::backward(ad::sum(ad::pow(z - th, 2)));
  vae::Summary s = vae::summarize(th.grad().to_vector());
  t.check_within_se("L12", "d/dtheta E_q[(z - theta)^2]: E_q[grad_theta f] vs -2 (mu - theta)",
                    s.mean, s.se_mean, -2 * (mu - theta), kNse);
}

void theta_gradient_of_loss(tut::Tutorial& t, const WrongGradientExample& e) {
  const double mu = e.mu, logvar = e.logvar, theta = e.theta;
  // The loss with a decoder p_theta(x|z) = N(x; z + theta, 1) at x = 0.7 and the KL term:
  //   L(theta, phi) = -1/L sum_l log p_theta(x|z^(l)) + KL(q_phi || N(0, 1)),
  // so grad_theta L = -1/L sum_l (x - z^(l) - theta): the KL adds nothing, the minus stays.
  const double x_obs = 0.7;
  const int64_t L = 1000;
  ad::Rng draws(t.seed() + 61);  // the same z^(l) for every line below
  const Tensor zl =
      vae::DiagGaussian{Tensor::full({L, 1}, mu, ad::f64), Tensor::full({L, 1}, logvar, ad::f64)}
          .sample(draws);
  const Tensor m1 = Tensor::full({1, 1}, mu, ad::f64),
               lv1 = Tensor::full({1, 1}, logvar, ad::f64);
  auto theta_gradient = [&](bool with_kl) {
    Tensor th = Tensor::scalar(theta, ad::f64).requires_grad_();
    Tensor r = x_obs - zl - th;  // log N(x; z + theta, 1) = -r^2/2 - log(2 pi)/2
    Tensor loss = ad::mean(0.5 * r * r + 0.5 * vae::kLog2Pi);
    if (with_kl) loss = loss + ad::sum(vae::DiagGaussian{m1, lv1}.kl_to_standard());
    ad::backward(loss);
    return th.grad().item();
  };
  const double g_with = theta_gradient(true), g_without = theta_gradient(false);
  double sum_score = 0;  // 1/L sum_l grad_theta log p_theta(x|z^(l)) = mean(x - z - theta)
  for (double z : zl.to_vector()) sum_score += (x_obs - z - theta) / L;
  t.check_close("L12", "grad_theta of the loss: with the KL term vs without it (KL has no theta)",
                g_with, g_without, 1e-14);
  t.check_close("L12", "grad_theta L on the tape vs -1/L sum_l grad_theta log p_theta(x|z^(l))",
                g_with, -sum_score, 1e-12);
  t.check_true("L12", "notes' slip (004): +1/L sum grad_theta log p has the opposite sign",
               g_with * sum_score < 0,
               fmt::format("tape {:+.4f}, 004's form {:+.4f}", g_with, sum_score));
  t.note(
      "004 writes the theta-gradient as 1/L sum_{{i=1}}^{{l}} grad_theta log P_theta(x|z^(l)):");
  t.note("the sum runs over l = 1..L and the minus of L = -E[log p] + KL is lost; a step");
  t.note("theta - lr * (that) would climb the loss. 000's slide for grad_theta ends in '= 0':");
  t.note("right for the KL term (the check 'with the KL term vs without it'). The KL it writes");
  t.note("there, 1/2 sum [sigma_phi^2(mu_phi(z)) + 1 - log(sigma_phi^2(mu_phi(z)) + 1)], is not");
  t.note(
      "the KL of the slides around it, 1/2 sum [Sigma_phi(x) + mu_phi(x)^2 - log Sigma_phi(x)");
  t.note("- 1]; probably garbled in the conversion of the slide (a guess; its theta-gradient is");
  t.note("0 either way).");
}

// The phi-gradients the wrong way (z sampled and held fixed) and the right way (z = mu +
// sigma eps on the tape); returns the per-sample d/dlogvar of each, for the figure.
std::pair<std::vector<double>, std::vector<double>> phi_gradients(tut::Tutorial& t,
                                                                  const WrongGradientExample& e,
                                                                  int64_t n, ad::Rng& rng) {
  const double mu = e.mu, logvar = e.logvar, s2 = std::exp(logvar);
  // grad wrt phi: sampling z and treating it as a constant loses the dependence of q on phi.
  // f(z) = z^2: E = mu^2 + sigma^2, so grad_mu = 2 mu, grad_logvar = sigma^2.
  Tensor m = Tensor::full({n, 1}, mu, ad::f64).requires_grad_();
  Tensor lv = Tensor::full({n, 1}, logvar, ad::f64).requires_grad_();
  Tensor z = vae::DiagGaussian{m, lv}.sample(rng);  // a constant on the tape
  Tensor f = ad::sum(z * z);
  const bool reached = f.requires_grad();
  t.check_true("L12", "z = sample(): no path from phi to f(z), the tape records nothing", !reached,
               reached ? "f requires grad" : "f(z) does not require grad: gradient 0");
  t.note(
      "so 'E_q[grad_phi f(z)]' = (0, 0), while the exact gradient is (2 mu, sigma^2) = ({}, "
      "{:.4f})",
      2 * mu, s2);

  // A phi-dependent integrand: f_phi(z) = log q_phi(z) (the entropy term of the ELBO).
  // Naive: differentiate log q_phi(z) with z fixed -> the score, whose mean is 0.
  // Exact: d/dlogvar E_q[log q] = d/dlogvar (-1/2 log(2 pi e) - logvar/2) = -1/2.
  Tensor log_q = vae::DiagGaussian{m, lv}.log_prob(z);
  ad::backward(ad::sum(log_q));
  vae::Summary naive = vae::summarize(lv.grad().to_vector());
  t.check_within_se("L12", "f = log q_phi(z), z fixed: E[d log q/d logvar] vs 0 (the score's mean)",
                    naive.mean, naive.se_mean, 0.0, kNse);
  t.check_true("L12", "... which is not the exact d/dlogvar E_q[log q] = -1/2",
               std::abs(naive.mean + 0.5) > kNse * naive.se_mean,
               fmt::format("naive {:.4f} vs exact -0.5: {:.0f} standard errors apart", naive.mean,
                           std::abs(naive.mean + 0.5) / naive.se_mean));

  // The same with z = mu + sigma eps on the tape (section 2 in general).
  Tensor m2 = Tensor::full({n, 1}, mu, ad::f64).requires_grad_();
  Tensor lv2 = Tensor::full({n, 1}, logvar, ad::f64).requires_grad_();
  vae::DiagGaussian q{m2, lv2};
  ad::backward(ad::sum(q.log_prob(q.rsample(rng))));
  vae::Summary good = vae::summarize(lv2.grad().to_vector());
  // log q(mu + sigma eps) = -1/2 log(2 pi) - logvar/2 - eps^2/2: every per-sample gradient is
  // exactly -1/2, so the estimate has no variance at all.
  t.check_close("L12", "f = log q_phi(z), z = mu + sigma eps: d/dlogvar (mean of samples) vs -1/2",
                good.mean, -0.5, 1e-12);
  t.check_close("L12", "... each sample gives exactly -1/2: their variance vs 0", good.variance,
                0.0, 0, 1e-20);

  return {lv.grad().to_vector(), lv2.grad().to_vector()};
}

void plot_wrong_gradient(tut::Tutorial& t, const std::vector<double>& a,
                         const std::vector<double>& b) {
  const int64_t n = static_cast<int64_t>(a.size());
  std::vector<double> ns, naive_run, good_run, exact;
  double sa = 0, sb = 0;
  for (int64_t i = 0; i < n; ++i) {
    sa += a[i];
    sb += b[i];
    const int64_t k = i + 1;
    if (k >= 10 && (k % std::max<int64_t>(1, k / 20) == 0)) {
      ns.push_back(k);
      naive_run.push_back(sa / k);
      good_run.push_back(sb / k);
      exact.push_back(-0.5);
    }
  }
  tut::Plot p("wrong_gradient", "d/dlogvar E_q[log q_phi(z)]: running mean of n samples");
  p.xlabel("n (samples)").ylabel("gradient estimate").log_x().y_range(-1.2, 0.6);
  p.line("exact -1/2", ns, exact, tut::LineStyle::dashed);
  p.line("z sampled, held fixed (wrong: tends to 0)", ns, naive_run);
  p.line("z = mu + sigma eps on the tape", ns, good_run);
  p.legend(tut::LegendPlace::top_right);
  t.save_figure(p);
}

void wrong_gradient(tut::Tutorial& t, int64_t n, ad::Rng& rng) {
  t.section("L12", "The wrong gradient: grad_phi E_q[f] != E_q[grad_phi f] with z held fixed");
  const WrongGradientExample e;
  t.note("q_phi = N(mu, sigma^2), phi = (mu, logvar) = ({}, {:.4f}), sigma = {}", e.mu, e.logvar,
         std::sqrt(std::exp(e.logvar)));
  theta_gradient_inside(t, e, n, rng);
  theta_gradient_of_loss(t, e);
  const auto [held_fixed, on_the_tape] = phi_gradients(t, e, n, rng);
  plot_wrong_gradient(t, held_fixed, on_the_tape);
}

// ---------------------------------------------------------------- 2, 3. reparameterization

// The example of sections 2 and 3: q = N(mu, diag(exp(logvar))) in two dimensions and
// f(z) = |z - c|^2.
const std::vector<double> kMu = {0.5, -1.0}, kLogvar = {-0.4, 0.6}, kC = {1.0, 0.0};

// 004 also writes z^(l) = mu + eps * Sigma_phi(x): the variance where its square root belongs.
void variance_where_sd_belongs(tut::Tutorial& t, int64_t n) {
  const double m0 = kMu[0], v0 = std::exp(kLogvar[0]);  // sigma^2 = 0.67
  std::vector<double> wrong(n), right(n);
  ad::Rng noise(t.seed() + 62);
  for (int64_t i = 0; i < n; ++i) {
    const double e = noise.normal();
    wrong[i] = m0 + e * v0, right[i] = m0 + e * std::sqrt(v0);
  }
  vae::Summary sw = vae::summarize(wrong), sr = vae::summarize(right);
  t.check_within_se("L13", "z = mu + eps sigma: sample variance vs sigma^2", sr.variance,
                    sr.se_variance, v0, kNse);
  t.check_within_se("L13",
                    "notes' slip (004): z = mu + eps Sigma has variance Sigma^2, not Sigma",
                    sw.variance, sw.se_variance, v0 * v0, kNse);
  t.note("(004 writes z^(l) = mu_phi(x) + eps * Sigma_phi(x); it is Sigma_phi(x)^(1/2), the");
  t.note(" standard deviation, as 004 itself has it earlier: z = mu + eps * sigma.)");
}

void reparameterization(tut::Tutorial& t, int64_t n, ad::Rng& rng) {
  t.section("L13", "z = mu + sigma * eps on the tape: unbiased, checked in closed form");
  // f(z) = sum_i (z_i - c_i)^2: E = sum (mu_i - c_i)^2 + sigma_i^2,
  // grad_mu = 2 (mu - c), grad_logvar = sigma^2; per-sample variance of 2 (z - c) is 4 sigma^2.
  const std::vector<double>&mu = kMu, &logvar = kLogvar, &c = kC;
  auto f = vae::of_z([c](const Tensor& z) { return ad::sum(ad::pow(z - row(c), 2), -1); });
  vae::GradientSamples g = vae::reparameterization_gradients(vae::diag_gaussian_family(),
                                                             {vec(mu), vec(logvar)}, n, f, rng);
  for (int i = 0; i < 2; ++i) {
    const double s2 = std::exp(logvar[i]);
    vae::Summary sm = vae::summarize(g.column(i)), sl = vae::summarize(g.column(2 + i));
    t.check_within_se("L13", fmt::format("d/dmu_{} E[|z - c|^2]: mean vs 2 (mu - c)", i + 1),
                      sm.mean, sm.se_mean, 2 * (mu[i] - c[i]), kNse);
    t.check_within_se("L13", fmt::format("d/dlogvar_{} E[|z - c|^2]: mean vs sigma^2", i + 1),
                      sl.mean, sl.se_mean, s2, kNse);
    t.check_within_se("L13", fmt::format("per-sample variance of d/dmu_{}: vs 4 sigma^2", i + 1),
                      sm.variance, sm.se_variance, 4 * s2, kNse);
  }
  t.note(
      "The slides (000) write g_phi(eps, x) = mu_phi(x) + eps * Sigma_phi(x)^(1/2) ~ N(mu_phi(z),");
  t.note("Sigma_phi(z)): the mean and covariance are functions of x, not z; later g_phi(eps, z)");
  t.note("should be g_phi(eps, x), and in their Monte Carlo sum over l, eps is eps^(l).");
  t.note("Note 001's handwritten line reads, as converted, 'mu = M_phi(x) + sigma_phi(x) eps': it");
  t.note("is z = mu_phi(x) + sigma_phi(x) eps. Most likely a misread letter of the conversion,");
  t.note("which in the same lines turns mu_phi into M_phi and N(eps; 0, 1) into N(eps, 0, 1).");
  t.note(
      "Note 004's Monte Carlo phi-gradient, -1/S sum_{{s=1}}^{{S}} log P(x|z^(l)), drops the "
      "grad_phi");
  t.note("of each term and mixes the indices s and l: it is -1/S sum_s grad_phi log P(x|z^(s)),");
  t.note("z^(s) = mu + sigma eps^(s), the kind of estimate whose mean is checked above.");
  variance_where_sd_belongs(t, n);
}

void deterministic_function_of_noise(tut::Tutorial& t) {
  const std::vector<double>&mu = kMu, &logvar = kLogvar, &c = kC;
  t.section("L17", "A deterministic function of a noise variable");
  Tensor m = row(mu).requires_grad_(), lv = row(logvar).requires_grad_();
  ad::Rng a(7), b(7);
  Tensor z1 = vae::DiagGaussian{m, lv}.rsample(a), z2 = vae::DiagGaussian{m, lv}.rsample(b);
  bool same = true;
  for (int i = 0; i < 2; ++i) same = same && z1.flat(i) == z2.flat(i);
  t.check_true("L17", "same eps (Rng re-seeded) gives the same z, bit for bit", same,
               fmt::format("z = ({:.6f}, {:.6f}) twice", z1.flat(0), z1.flat(1)));
  ad::tape().clear();
  // gradcheck of rsample with the noise fixed by re-seeding inside the function.
  auto fn = [c](const std::vector<Tensor>& x) {
    ad::Rng fixed(11);
    Tensor z = vae::DiagGaussian{x[0], x[1]}.rsample(fixed);
    return ad::sum(ad::pow(z - row(c), 2));
  };
  ad::GradcheckResult r = ad::gradcheck(fn, {row(mu), row(logvar)});
  t.note("gradcheck of f(mu + exp(logvar/2) eps) with eps fixed: {}", r.str());
  t.check_less("L17", "worst relative error, tape vs finite differences", r.worst_error, 1e-6);

}

void log_variance_form(tut::Tutorial& t) {
  const std::vector<double>&mu = kMu, &logvar = kLogvar, &c = kC;
  t.section("L26", "The log-variance form z = mu + exp(logvar / 2) * eps (eq. 43)");
  // dz/dlogvar = sigma eps / 2, on the tape vs by hand.
  ad::Rng noise(3);
  Tensor eps = noise.normal({1, 2}, ad::f64);
  Tensor m3 = row(mu).requires_grad_(), lv3 = row(logvar).requires_grad_();
  Tensor z = vae::DiagGaussian{m3, lv3}.rsample_from(eps);
  ad::backward(ad::sum(z));
  const double by_hand = std::exp(logvar[0] / 2) * eps.flat(0) / 2;
  t.check_close("L26", "dz_1/dlogvar_1 on the tape vs sigma eps / 2", lv3.grad().flat(0), by_hand,
                1e-12);
  t.check_close("L26", "dz_1/dmu_1 on the tape vs 1", m3.grad().flat(0), 1.0, 1e-12);
  // Chain rule: with sigma as the parameter, d/dsigma (z - c)^2 = 2 (z - c) eps, and
  // d/dlogvar = (sigma / 2) d/dsigma. Same eps, both parameterisations.
  Tensor sigma = row({std::exp(logvar[0] / 2), std::exp(logvar[1] / 2)}).requires_grad_();
  Tensor lv4 = row(logvar).requires_grad_();
  ad::backward(ad::sum(ad::pow(row(mu) + sigma * eps - row(c), 2)));
  ad::backward(ad::sum(ad::pow(vae::DiagGaussian{row(mu), lv4}.rsample_from(eps) - row(c), 2)));
  t.check_close("L26", "d/dlogvar_2 vs (sigma_2 / 2) d/dsigma_2 (same eps)", lv4.grad().flat(1),
                sigma.flat(1) / 2 * sigma.grad().flat(1), 1e-12);
  t.note("Any real logvar gives sigma = exp(logvar/2) > 0, so the encoder's last layer can be");
  t.note("linear; a sigma output would need a positivity constraint (the notes' footnote 2).");
  t.note("(003 says this transformation 'can be used to model p(z)': z = g_phi(x, eps) is a");
  t.note(" draw from q_phi(z|x), the encoder's distribution, not from the prior p(z).)");
}

// ---------------------------------------------------------------- 4. change of variables

void change_of_variables(tut::Tutorial& t, int64_t n, ad::Rng& rng) {
  t.section("L27", "Change of variables: log q(z) = log p(eps) - sum_i log sigma_i (eqs. 44-45)");
  t.note("(003 calls Theorem 1.3 'Change of Basis'; it is the change-of-variables formula for");
  t.note(" densities, with the Jacobian determinant of z = g_phi(eps, x).)");
  ad::Rng example_rng(t.seed() + 63);  // the 500 eps below: the same whatever --samples is
  const std::vector<double> mu = {0.3, -0.8, 1.5}, logvar = {0.5, -1.0, 0.0};
  const int batch = 500;
  std::vector<double> m(batch * 3), lv(batch * 3);
  for (int r = 0; r < batch; ++r)
    for (int i = 0; i < 3; ++i) m[3 * r + i] = mu[i], lv[3 * r + i] = logvar[i];
  vae::DiagGaussian q{Tensor::from(m, {batch, 3}, ad::f64), Tensor::from(lv, {batch, 3}, ad::f64)};
  Tensor eps = example_rng.normal({batch, 3}, ad::f64);
  Tensor z = q.rsample_from(eps);
  std::vector<double> log_q = q.log_prob(z).to_vector();
  double worst = 0, worst_jac = 0;
  double sum_log_sigma = 0;
  for (double v : logvar) sum_log_sigma += v / 2;
  for (int r = 0; r < batch; ++r) {
    double log_p_eps = 0, e2 = 0;
    for (int i = 0; i < 3; ++i) e2 += eps.flat(3 * r + i) * eps.flat(3 * r + i);
    log_p_eps = -1.5 * vae::kLog2Pi - 0.5 * e2;
    worst = std::max(worst, std::abs(log_q[r] - (log_p_eps - sum_log_sigma)));
  }
  t.check_close("L27", "max over 500 z of |log q(z) - (log p(eps) - sum log sigma)|", worst, 0.0, 0,
                1e-12);
  // The Jacobian dz/deps by finite differences: diagonal, log|det| vs sum log sigma.
  {
    const double h = 1e-6;
    Tensor e0 = example_rng.normal({1, 3}, ad::f64);
    vae::DiagGaussian q1{row(mu), row(logvar)};
    double log_det = 0;
    for (int i = 0; i < 3; ++i) {
      Tensor ep = e0.clone(), em = e0.clone();
      ep.set_flat(i, ep.flat(i) + h);
      em.set_flat(i, em.flat(i) - h);
      const double d = (q1.rsample_from(ep).flat(i) - q1.rsample_from(em).flat(i)) / (2 * h);
      log_det += std::log(std::abs(d));
      for (int j = 0; j < 3; ++j)
        if (j != i)
          worst_jac = std::max(worst_jac,
                               std::abs(q1.rsample_from(ep).flat(j) - q1.rsample_from(em).flat(j)));
    }
    t.check_close("L27", "log|det dz/deps| by finite differences vs sum_i log sigma_i", log_det,
                  sum_log_sigma, 1e-7);
    t.check_close("L27", "off-diagonal of dz/deps (finite differences) vs 0", worst_jac, 0.0, 0,
                  1e-12);
  }
  // Against the density: P(a < z_1 < b) from samples vs the integral of q's density.
  const double a = 0.0, b = 1.0, s = std::exp(logvar[0] / 2);
  vae::DiagGaussian q1{Tensor::full({n, 1}, mu[0], ad::f64),
                       Tensor::full({n, 1}, logvar[0], ad::f64)};
  std::vector<double> zs = q1.sample(rng).to_vector();
  std::vector<double> inside(n);
  for (int64_t i = 0; i < n; ++i) inside[i] = (zs[i] > a && zs[i] < b) ? 1.0 : 0.0;
  vae::Summary frac = vae::summarize(inside);
  auto density = [&](double x) {
    vae::DiagGaussian one{row({mu[0]}), row({logvar[0]})};
    return std::exp(one.log_prob(row({x})).item());
  };
  const double mass = vae::integrate(density, a, b, 2000);
  t.check_within_se("L27", "P(0 < z < 1): fraction of z = mu + sigma eps vs integral of exp(log q)",
                    frac.mean, frac.se_mean, mass, kNse);
  std::vector<double> centres, hist, dens;
  histogram(zs, mu[0] - 4 * s, mu[0] + 4 * s, 60, centres, hist);
  for (double x : centres) dens.push_back(density(x));
  tut::Plot p("change_of_variables",
              fmt::format("z = μ + σ ε (μ = {}, σ = {:.3f}): the density by change of variables\n"
                          "line exp(log p(ε) − log σ), dots a histogram of {} samples of z",
                          mu[0], s, n));
  p.xlabel("z").ylabel("density");
  p.line("q(z) = p(ε) / σ", centres, dens).check_points(centres, hist);
  t.save_figure(p);
}

// ---------------------------------------------------------------- 5. full covariance

void full_covariance(tut::Tutorial& t, int64_t n, ad::Rng& rng) {
  t.section("L29", "Full covariance: z = mu + L eps with Sigma = L L^T (Cholesky)");
  constexpr int k = 3;  // a constant: lambdas below use it without capturing it
  ad::Rng example_rng(t.seed() + 64);  // Sigma: the same whatever --samples is
  vae::Matrix sigma = vae::random_spd(k, example_rng);
  vae::Matrix l = vae::cholesky(sigma);
  const std::vector<double> mu = {0.5, -0.5, 1.0};
  Tensor L = Tensor::from(l.values, {k, k}, ad::f64);
  vae::FullGaussian q{row(mu), L};
  t.note("Sigma = {}", sigma.str());
  double sum_log_diag = 0;
  for (int i = 0; i < k; ++i) sum_log_diag += std::log(l(i, i));
  // An independent determinant: cofactor expansion along the first row.
  const double det = sigma(0, 0) * (sigma(1, 1) * sigma(2, 2) - sigma(1, 2) * sigma(2, 1)) -
                     sigma(0, 1) * (sigma(1, 0) * sigma(2, 2) - sigma(1, 2) * sigma(2, 0)) +
                     sigma(0, 2) * (sigma(1, 0) * sigma(2, 1) - sigma(1, 1) * sigma(2, 0));
  t.check_close("L29", "log|det Sigma| = 2 sum log L_ii vs log of the cofactor determinant",
                2 * sum_log_diag, std::log(det), 1e-12);
  Tensor z = row({0.1, 0.7, -0.4});
  std::vector<double> d = {0.1 - mu[0], 0.7 - mu[1], -0.4 - mu[2]};
  const double closed = -0.5 * k * vae::kLog2Pi - 0.5 * std::log(det) -
                        0.5 * vae::dot(d, vae::matvec(vae::inverse_spd(sigma), d));
  t.check_close("L29", "log q(z): forward substitution + sum log L_ii vs Sigma^-1 and cofactor det",
                q.log_prob(z).item(), closed, 1e-12);
  // Sample covariance vs Sigma, entry by entry (SE from the products' spread).
  Tensor zs = vae::FullGaussian{Tensor::zeros({n, k}, ad::f64), L}.sample(rng);
  for (auto [i, j] : {std::pair{0, 0}, std::pair{1, 0}, std::pair{2, 1}}) {
    std::vector<double> prod(n);
    for (int64_t r = 0; r < n; ++r) prod[r] = zs.flat(r * k + i) * zs.flat(r * k + j);
    vae::Summary s = vae::summarize(prod);
    t.check_within_se(
        "L29", fmt::format("E[(z - mu)_{} (z - mu)_{}] by sampling vs Sigma_{}{}", i, j, i, j),
        s.mean, s.se_mean, sigma(i, j), kNse);
  }
  // Gradient through L: E[z^T A z] = mu^T A mu + tr(A L L^T), d/dL = (A + A^T) L.
  vae::Matrix A(k, k);
  for (int i = 0; i < k; ++i)
    for (int j = 0; j < k; ++j) A(i, j) = (i == j ? 1.0 : 0.3 * (i - j));
  const vae::Matrix grad_L = (A + vae::transpose(A)) * l;
  vae::Family full;
  full.name = "N(mu, L L^T)";
  full.rsample = [](const std::vector<Tensor>& phi, ad::Rng& r) {
    const int64_t rows = phi[0].dim(0);
    Tensor Lr = ad::reshape(phi[1], {rows, k, k});
    Tensor e = r.normal({rows, 1, k}, ad::f64);
    return phi[0] + ad::reshape(ad::matmul(e, ad::transpose(Lr)), {rows, k});
  };
  Tensor At = Tensor::from(A.values, {k, k}, ad::f64);
  auto quad = vae::of_z([At](const Tensor& zz) { return ad::sum(ad::matmul(zz, At) * zz, -1); });
  vae::GradientSamples g =
      vae::reparameterization_gradients(full, {vec(mu), vec(l.values)}, n, quad, rng);
  for (auto [i, j] : {std::pair{0, 0}, std::pair{1, 0}, std::pair{2, 1}, std::pair{2, 2}}) {
    vae::Summary s = vae::summarize(g.column(k + i * k + j));
    t.check_within_se(
        "L29", fmt::format("d/dL_{}{} E[z^T A z] (pathwise) vs ((A + A^T) L)_{}{}", i, j, i, j),
        s.mean, s.se_mean, grad_L(i, j), kNse);
  }
  t.note("The notes (003, footnote 4) say 'full-variance'; they mean full-covariance.");
}

// ---------------------------------------------------------------- 6. inverse CDF

// Uniform(0, 1) noise strictly inside (0, 1): the Rng gives multiples of 2^-53 in [0, 1).
Tensor open_uniform(int64_t rows, ad::Rng& rng) {
  return rng.uniform({rows, 1}, 0.0, 1.0, ad::f64) + 0x1p-54;
}

struct InverseCdf {
  std::string name, formula;
  std::vector<double> phi;                                                   // its parameters
  std::function<Tensor(const std::vector<Tensor>& phi, const Tensor& u)> g;  // z = F^-1(u)
  double mean, variance;                                                     // known moments
  std::function<double(double)> density;
  // A gradient to check: d/dphi_j E[f(z)] = expected, f given on the tape.
  int j;
  std::function<Tensor(const Tensor& z)> f;
  double expected_gradient;
  std::string gradient_text;
};

// Exponential(lambda), Logistic(m, s) and Gumbel(m, beta), each with its inverse CDF, moments,
// density and one pathwise gradient known in closed form.
std::vector<InverseCdf> inverse_cdf_cases() {
  const double lambda = 2.0, m = 0.5, s = 0.7, gm = -0.3, beta = 0.8;
  return {
      {"Exponential",
       "z = -log(1 - u) / lambda",
       {lambda},
       [](const std::vector<Tensor>& p, const Tensor& u) { return -ad::log(1.0 - u) / p[0]; },
       1 / lambda,
       1 / (lambda * lambda),
       [lambda](double x) { return x < 0 ? 0.0 : lambda * std::exp(-lambda * x); },
       0,
       [](const Tensor& z) { return ad::sum(z, -1); },
       -1 / (lambda * lambda),
       "d/dlambda E[z] = -1/lambda^2"},
      {"Logistic",
       "z = m + s log(u / (1 - u))",
       {m, s},
       [](const std::vector<Tensor>& p, const Tensor& u) {
         return p[0] + p[1] * ad::log(u / (1.0 - u));
       },
       m,
       s * s * kPi * kPi / 3,
       [m, s](double x) {
         const double e = std::exp(-(x - m) / s);
         return e / (s * (1 + e) * (1 + e));
       },
       1,
       [](const Tensor& z) { return ad::sum(z * z, -1); },
       2 * s * kPi * kPi / 3,
       "d/ds E[z^2] = 2 s pi^2 / 3"},
      {"Gumbel",
       "z = m - beta log(-log u)",
       {gm, beta},
       [](const std::vector<Tensor>& p, const Tensor& u) {
         return p[0] - p[1] * ad::log(-ad::log(u));
       },
       gm + beta * kEulerGamma,
       kPi * kPi * beta * beta / 6,
       [gm, beta](double x) {
         const double y = (x - gm) / beta;
         return std::exp(-(y + std::exp(-y))) / beta;
       },
       1,
       [](const Tensor& z) { return ad::sum(z, -1); },
       kEulerGamma,
       "d/dbeta E[z] = Euler's gamma"},
  };
}

void inverse_cdf(tut::Tutorial& t, int64_t n, ad::Rng& rng) {
  t.section("L30", "Other distributions through the inverse CDF: z = F_phi^-1(u), u ~ U(0, 1)");
  const std::vector<InverseCdf> cases = inverse_cdf_cases();
  tut::Plot p("inverse_cdf", "Inverse-CDF samples (histograms) against the densities");
  p.xlabel("z").ylabel("density").x_range(-3, 4);
  for (const InverseCdf& c : cases) {
    t.note("{}: {}", c.name, c.formula);
    vae::Family fam;
    fam.name = c.name;
    auto g = c.g;
    fam.rsample = [g](const std::vector<Tensor>& phi, ad::Rng& r) {
      return g(phi, open_uniform(phi[0].dim(0), r));
    };
    std::vector<Tensor> params;
    for (double v : c.phi) params.push_back(vec({v}));
    vae::GradientSamples gs = vae::reparameterization_gradients(
        fam, params, n, vae::of_z([](const Tensor& z) { return ad::sum(z, -1); }), rng);
    // f_values are z itself here (f(z) = z): the samples.
    vae::Summary zs = vae::summarize(gs.f_values);
    t.check_within_se("L30", fmt::format("{}: sample mean vs {:.6g}", c.name, c.mean), zs.mean,
                      zs.se_mean, c.mean, kNse);
    t.check_within_se("L30", fmt::format("{}: sample variance vs {:.6g}", c.name, c.variance),
                      zs.variance, zs.se_variance, c.variance, kNse);
    vae::GradientSamples gf =
        vae::reparameterization_gradients(fam, params, n, vae::of_z(c.f), rng);
    vae::Summary gj = vae::summarize(gf.column(c.j));
    t.check_within_se("L30", fmt::format("{}: pathwise {}", c.name, c.gradient_text), gj.mean,
                      gj.se_mean, c.expected_gradient, kNse);
    std::vector<double> centres, hist, dens;
    histogram(gs.f_values, -3, 4, 70, centres, hist);
    for (double x : centres) dens.push_back(c.density(x));
    p.points(c.name + " samples", centres, hist);
    p.line(c.name + " density", centres, dens);
  }
  t.save_figure(p);
}

// ---------------------------------------------------------------- 7. Uniform(0, phi)

// The parameter phi of Uniform(0, phi) in the section's example.
constexpr double kUniformPhi = 2.0;

// A jump in f moves with phi too: f(z) = 1[z < c], E = c / phi, gradient -c / phi^2.
// On the tape the step is 1/2 + 1/2 (c - z) / |c - z|, whose derivative is 0 wherever it
// exists, so the pathwise estimate is 0.
void step_function(tut::Tutorial& t, int64_t n, ad::Rng& rng) {
  const double phi = kUniformPhi;
  const double c = 1.0;
  t.note("f(z) = 1[z < {}]: E = c/phi, gradient -c/phi^2 = {:.4f}. The pathwise derivative of", c,
       -c / (phi * phi));
  t.note("1[phi u < c] is 0 wherever it exists, so the pathwise estimate is 0: biased, because");
  t.note("f(g_phi(u)) jumps at u = c/phi, which moves with phi (f must be differentiable).");
  Tensor p3 = Tensor::full({n, 1}, phi, ad::f64).requires_grad_();
  Tensor d = c - p3 * open_uniform(n, rng);
  Tensor step = 0.5 + 0.5 * d / ad::abs(d);
  vae::Summary value = vae::summarize(step.to_vector());
  ad::backward(ad::sum(step));
  vae::Summary grad = vae::summarize(p3.grad().to_vector());
  t.check_within_se("L25", "step f: E[1[phi u < c]] by sampling vs c / phi", value.mean,
                    value.se_mean, c / phi, kNse);
  t.check_close("L25", "step f: pathwise gradient (mean over samples) vs 0", grad.mean, 0.0, 0,
                1e-12);
  t.check_true("L25", "... which is not the exact gradient -c / phi^2",
               std::abs(grad.mean + c / (phi * phi)) > 0.1,
               fmt::format("{:.4f} vs {:.4f}", grad.mean, -c / (phi * phi)));
}

// Estimator means against phi.
void plot_uniform_support(tut::Tutorial& t, int64_t n, ad::Rng& rng) {
  std::vector<double> phis, ex, sf, pw, mphi, msf, mpw;
  for (double x = 0.5; x <= 3.0001; x += 0.05) {
    phis.push_back(x);
    ex.push_back(2 * x / 3);
    sf.push_back(-x / 3);
  }
  const int64_t m = std::max<int64_t>(1000, n / 10);
  for (double x : {0.75, 1.5, 2.25, 3.0}) {
    double a = 0, b = 0;
    for (int64_t i = 0; i < m; ++i) {
      const double u = rng.uniform(), v = rng.uniform();
      a += -(x * u) * (x * u) / x;
      b += 2 * x * v * v;
    }
    mphi.push_back(x);
    msf.push_back(a / m);
    mpw.push_back(b / m);
  }
  tut::Plot p("uniform_support", "Uniform(0, phi), f(z) = z^2: gradient estimates against phi");
  p.xlabel("phi").ylabel("d/dphi E[z^2]");
  p.line("exact 2 phi / 3", phis, ex);
  p.line("support held fixed: -phi / 3", phis, sf, tut::LineStyle::dashed);
  p.points("pathwise z = phi u (Monte Carlo)", mphi, mpw);
  p.points("support held fixed (Monte Carlo)", mphi, msf);
  p.legend(tut::LegendPlace::top_left);
  t.save_figure(p);
}

void uniform_support(tut::Tutorial& t, int64_t n, ad::Rng& rng) {
  t.section("L25", "When the support depends on phi: z ~ Uniform(0, phi), f(z) = z^2");
  t.note("E[z^2] = phi^2 / 3, so the exact gradient is 2 phi / 3.");
  t.note("Differentiating under the integral over z with the support [0, phi] held fixed");
  t.note("(the log-derivative trick, eq. 35-37: log q = -log phi on [0, phi]) gives");
  t.note("  E[f(z) d/dphi log q] = -E[z^2] / phi = -phi / 3           (biased: wrong sign),");
  t.note("because Leibniz's rule has a boundary term the trick drops: f(phi) q(phi) = phi.");
  t.note("Reparameterizing z = phi u, u ~ U(0, 1), moves phi out of the support: the noise's");
  t.note("support [0, 1] is fixed, and E[d/dphi f(phi u)] = E[2 phi u^2] = 2 phi / 3.");
  const double phi = kUniformPhi;
  std::vector<double> naive(n), pathwise(n);
  {
    // Both on the tape: the naive one through log q_phi(z) = -log(phi), z held fixed.
    Tensor p1 = Tensor::full({n, 1}, phi, ad::f64).requires_grad_();
    Tensor u = open_uniform(n, rng);
    Tensor z = u * phi;  // a constant: built from the value of phi, not the tensor
    ad::backward(ad::sum(z * z * -ad::log(p1)));
    naive = p1.grad().to_vector();
    Tensor p2 = Tensor::full({n, 1}, phi, ad::f64).requires_grad_();
    Tensor z2 = p2 * open_uniform(n, rng);  // z = phi u on the tape
    ad::backward(ad::sum(z2 * z2));
    pathwise = p2.grad().to_vector();
  }
  vae::Summary sn = vae::summarize(naive), sp = vae::summarize(pathwise);
  const double exact = 2 * phi / 3;
  const double h = 1e-5;
  t.check_close("L25", "exact gradient: central difference of phi^2/3 vs 2 phi / 3",
                ((phi + h) * (phi + h) - (phi - h) * (phi - h)) / (3 * 2 * h), exact, 1e-9);
  t.check_within_se("L25", "support held fixed (score function): mean vs -phi/3 (its biased limit)",
                    sn.mean, sn.se_mean, -phi / 3, kNse);
  t.check_true("L25", "... far from the exact 2 phi / 3",
               std::abs(sn.mean - exact) > kNse * sn.se_mean,
               fmt::format("{:.4f} vs {:.4f}: {:.0f} standard errors apart", sn.mean, exact,
                           std::abs(sn.mean - exact) / sn.se_mean));
  t.check_within_se("L25", "score estimate + boundary term f(phi) q(phi) = phi vs 2 phi / 3",
                    sn.mean + phi, sn.se_mean, exact, kNse);
  t.check_within_se("L25", "pathwise z = phi u (noise support fixed): mean vs 2 phi / 3", sp.mean,
                    sp.se_mean, exact, kNse);
  step_function(t, n, rng);
  plot_uniform_support(t, n, rng);
}

}  // namespace

static int run(int argc, char** argv) {
  tut::Tutorial t("06_reparameterization",
                  "The reparameterization trick: wrong gradient, z = mu + sigma eps, change of "
                  "variables, full covariance, inverse CDF, and where it needs care");
  int64_t samples = 200000;
  t.flags()
      .add_option("--samples", samples, "Monte Carlo samples per check (--quick: 20000)")
      ->check(CLI::Range(int64_t{1000}, int64_t{10000000}));
  if (auto exit_code = t.parse(argc, argv)) return *exit_code;
  if (t.quick() && !t.given("--samples")) samples = 20000;
  ad::Rng rng(t.seed());

  wrong_gradient(t, samples, rng);
  reparameterization(t, samples, rng);
  deterministic_function_of_noise(t);
  log_variance_form(t);
  change_of_variables(t, samples, rng);
  full_covariance(t, samples, rng);
  inverse_cdf(t, samples, rng);
  uniform_support(t, samples, rng);
  return t.finish();
}

// Any error after the flags are read ends the program with one line and exit status 1.
int main(int argc, char** argv) {
  return tut::report_errors("06_reparameterization", [&] { return run(argc, argv); });
}
