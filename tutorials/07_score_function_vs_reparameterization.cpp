// Tutorial 07: the score-function (log-derivative) estimator against the
// reparameterization (pathwise) estimator.
//
// The notes' Example 1.5 (document 003, eqs. 33-41): minimise E_{x ~ N(phi, 1)}[x^2].
//   score function:      grad_phi E[x^2] = E_q[x^2 (x - phi)]          (eq. 38)
//   reparameterization:  grad_phi E[x^2] = E_eps[2 (phi + eps)]        (eq. 41)
// Both are unbiased for 2 phi. Their per-sample variances are
//   Var[x^2 (x - phi)] = phi^4 + 14 phi^2 + 15,    Var[2 (phi + eps)] = 4,
// so the N-sample estimates have variances (phi^4 + 14 phi^2 + 15) / N and 4 / N: the
// notes' Figure 6, reproduced with those closed-form lines. Then baselines, other test
// functions, gradient descent with each estimator, and the KL term estimated in closed
// form vs by Monte Carlo (L28).
//
// Every Monte Carlo check allows 4 standard errors, estimated from the samples (for a
// variance, from their fourth moment), at the fixed seed.
//
//   build/release/tutorials/07_score_function_vs_reparameterization [--phi 1.5]
//       [--f square|shifted|gauss|cos] [--k 1] [--N 1000] [--estimator both|score|reparam]
//       [--baseline 0] [--repeats 200] [--seed 42] [--out DIR] [--quick]
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "autodiff/autodiff.h"
#include "tutorials/common/plot.h"
#include "tutorials/common/tutorial.h"
#include "vae/distributions.h"
#include "vae/per_sample_gradients.h"
#include "vae/quadrature.h"

using ad::Tensor;

namespace {

constexpr double kNse = 4.0;  // Monte Carlo checks: |estimate - exact| <= 4 standard errors

// A test function f(x; k) for x ~ N(phi, 1): on the tape, in double, its derivative, and
// the exact gradient d/dphi E[f(x)] in closed form.
struct TestFunction {
  std::string key, name;
  std::function<Tensor(const Tensor& z, double k)> tape;
  std::function<double(double x, double k)> f, df;
  std::function<double(double phi, double k)> exact_gradient;
};

std::vector<TestFunction> test_functions() {
  return {
      {"shifted", "(x - k)^2",
       [](const Tensor& z, double k) { return ad::sum(ad::pow(z - k, 2), -1); },
       [](double x, double k) { return (x - k) * (x - k); },
       [](double x, double k) { return 2 * (x - k); },
       // E = (phi - k)^2 + 1
       [](double phi, double k) { return 2 * (phi - k); }},
      {"gauss", "exp(-k x^2)",
       [](const Tensor& z, double k) { return ad::sum(ad::exp(-k * z * z), -1); },
       [](double x, double k) { return std::exp(-k * x * x); },
       [](double x, double k) { return -2 * k * x * std::exp(-k * x * x); },
       // E = exp(-k phi^2 / (1 + 2k)) / sqrt(1 + 2k)
       [](double phi, double k) {
         const double a = 1 + 2 * k;
         return -2 * k * phi / a * std::exp(-k * phi * phi / a) / std::sqrt(a);
       }},
      {"cos", "cos(k x)", [](const Tensor& z, double k) { return ad::sum(ad::cos(k * z), -1); },
       [](double x, double k) { return std::cos(k * x); },
       [](double x, double k) { return -k * std::sin(k * x); },
       // E = cos(k phi) exp(-k^2 / 2)
       [](double phi, double k) { return -k * std::sin(k * phi) * std::exp(-k * k / 2); }},
  };
}

TestFunction square_function() {
  TestFunction sq = test_functions()[0];
  sq.key = "square";
  sq.name = "x^2";
  return sq;
}

// Exact per-sample variances by quadrature (x ~ N(phi, 1)):
//   score:   Var[(f(x) - b)(x - phi)] = E[(f(x) - b)^2 (x - phi)^2] - g^2
//   reparam: Var[f'(x)]               = E[f'(x)^2] - g^2
// with g = d/dphi E[f] computed by quadrature as E[f'(x)] (and checked in closed form).
double quad_gradient(const TestFunction& tf, double phi, double k) {
  return vae::gaussian_expectation([&](double x) { return tf.df(x, k); }, phi, 1.0);
}
double score_variance(const TestFunction& tf, double phi, double k, double b = 0) {
  const double g = quad_gradient(tf, phi, k);
  return vae::gaussian_expectation(
             [&](double x) {
               const double w = (tf.f(x, k) - b) * (x - phi);
               return w * w;
             },
             phi, 1.0) -
         g * g;
}
double reparam_variance(const TestFunction& tf, double phi, double k) {
  const double g = quad_gradient(tf, phi, k);
  return vae::gaussian_expectation([&](double x) { return tf.df(x, k) * tf.df(x, k); }, phi, 1.0) -
         g * g;
}

vae::Integrand integrand(const TestFunction& tf, double k) {
  return vae::of_z([tf, k](const Tensor& z) { return tf.tape(z, k); });
}

std::vector<Tensor> phi_param(double phi) { return {Tensor::from({phi}, {1}, ad::f64)}; }

vae::Summary score_summary(const TestFunction& tf, double phi, double k, int64_t n, ad::Rng& rng,
                           double b = 0) {
  return vae::summarize(vae::score_function_gradients(vae::gaussian_location_family(1.0),
                                                      phi_param(phi), n, integrand(tf, k), rng, b)
                            .column(0));
}
vae::Summary reparam_summary(const TestFunction& tf, double phi, double k, int64_t n,
                             ad::Rng& rng) {
  return vae::summarize(vae::reparameterization_gradients(vae::gaussian_location_family(1.0),
                                                          phi_param(phi), n, integrand(tf, k), rng)
                            .column(0));
}

double example_score_variance(double phi) {
  const double p2 = phi * phi;
  return p2 * p2 + 14 * p2 + 15;
}

// ---------------------------------------------------------------- Example 1.5

void example_1_5(tut::Tutorial& t, double phi, ad::Rng& rng) {
  t.section("L24", "Example 1.5: grad_phi E_{N(phi,1)}[x^2] by both estimators");
  const int64_t n = t.quick() ? 20000 : 200000;
  const TestFunction sq = square_function();
  t.note("phi = {}, {} per-sample gradients from each estimator", phi, n);
  t.note("score function (eq. 38): g = x^2 (x - phi), x ~ N(phi, 1)");
  t.note("reparameterization (eq. 41): g = 2 (phi + eps), eps ~ N(0, 1)");
  vae::Summary score = score_summary(sq, phi, 0, n, rng);
  vae::Summary reparam = reparam_summary(sq, phi, 0, n, rng);
  t.check_within_se("L24", "score-function mean vs 2 phi", score.mean, score.se_mean, 2 * phi,
                    kNse);
  t.check_within_se("L24", "reparameterization mean vs 2 phi", reparam.mean, reparam.se_mean,
                    2 * phi, kNse);

  // The closed forms, derived by expanding in eps (E eps^2 = 1, E eps^4 = 3, E eps^6 = 15):
  //   E[g^2] = E[(phi + eps)^4 eps^2] = phi^4 + 18 phi^2 + 15, minus (2 phi)^2.
  const double closed = example_score_variance(phi);
  t.check_close("L24", "Var[x^2 (x - phi)]: quadrature vs phi^4 + 14 phi^2 + 15",
                score_variance(sq, phi, 0), closed, 1e-8);
  t.check_close("L24", "Var[2 (phi + eps)]: quadrature vs 4", reparam_variance(sq, phi, 0), 4.0,
                1e-8);
  t.check_within_se("L24", "score-function per-sample variance vs phi^4 + 14 phi^2 + 15",
                    score.variance, score.se_variance, closed, kNse);
  t.check_within_se("L24", "reparameterization per-sample variance vs 4", reparam.variance,
                    reparam.se_variance, 4.0, kNse);
  t.note(
      "ratio of the variances at phi = {}: {:.1f} (the notes: 'an order of magnitude'; at "
      "phi = 0 the ratio is 15/4 = 3.75, at phi = 1.5 it is {:.1f})",
      phi, closed / 4, example_score_variance(1.5) / 4);
}

// The notes' Figure 6: the variance of the N-sample estimate against N.
void figure_6(tut::Tutorial& t, double phi, ad::Rng& rng) {
  t.section("L24", "The notes' Figure 6: variance of the N-sample estimate, N = 10 ... 100000");
  const int64_t repeats = 100;
  std::vector<int64_t> sizes = {10, 100, 1000, 10000, 100000};
  if (t.quick()) sizes.pop_back();
  const vae::Family q = vae::gaussian_location_family(1.0);
  const vae::Integrand f = integrand(square_function(), 0);
  auto draw_score = [&](int64_t n) {
    return vae::score_function_gradients(q, phi_param(phi), n, f, rng);
  };
  auto draw_reparam = [&](int64_t n) {
    return vae::reparameterization_gradients(q, phi_param(phi), n, f, rng);
  };
  t.note("phi = {}; each point: the variance of {} independent N-sample estimates", phi, repeats);
  std::vector<double> ns, score_var, reparam_var;
  std::string csv =
      "N,score_variance,score_se,score_exact,reparam_variance,reparam_se,reparam_exact\n";
  for (int64_t N : sizes) {
    vae::Summary s = vae::summarize(vae::repeated_estimates(draw_score, N, repeats));
    vae::Summary r = vae::summarize(vae::repeated_estimates(draw_reparam, N, repeats));
    const double s_exact = example_score_variance(phi) / N, r_exact = 4.0 / N;
    t.check_within_se("L24",
                      fmt::format("N = {:>6}: Var of score estimate vs (phi^4+14phi^2+15)/N", N),
                      s.variance, s.se_variance, s_exact, kNse);
    t.check_within_se("L24", fmt::format("N = {:>6}: Var of reparam estimate vs 4/N", N),
                      r.variance, r.se_variance, r_exact, kNse);
    ns.push_back(static_cast<double>(N));
    score_var.push_back(s.variance);
    reparam_var.push_back(r.variance);
    csv += fmt::format("{},{},{},{},{},{},{}\n", N, s.variance, s.se_variance, s_exact, r.variance,
                       r.se_variance, r_exact);
  }
  t.save_text("figure6_variance_vs_N_table.csv", csv);
  std::vector<double> grid, s_line, r_line;
  for (double e = 1; e <= 5.0001; e += 0.05) {
    grid.push_back(std::pow(10.0, e));
    s_line.push_back(example_score_variance(phi) / grid.back());
    r_line.push_back(4.0 / grid.back());
  }
  tut::Plot p("figure6_variance_vs_N",
              fmt::format("Example 1.5 (φ = {}): variance of the N-sample gradient estimate\n"
                          "lines exact, dots measured",
                          phi));
  p.xlabel("N (samples per estimate)").ylabel("variance of the estimate").log_x().log_y();
  p.line("score function: (φ⁴ + 14φ² + 15) / N", grid, s_line).check_points(ns, score_var);
  p.line("reparameterization: 4 / N", grid, r_line).check_points(ns, reparam_var);
  p.legend(tut::LegendPlace::top_right);
  t.save_figure(p);
}

// ---------------------------------------------------------------- baselines

void baselines(tut::Tutorial& t, double phi, ad::Rng& rng) {
  t.section("L24", "Score function with a baseline (control variate): g = (x^2 - b)(x - phi)");
  t.note("E[(x - phi)] = 0, so any constant b keeps the estimator unbiased. Its variance is");
  t.note("  phi^4 + 14 phi^2 + 15 - 2 b (phi^2 + 3) + b^2   (E[x^2 (x-phi)^2] = phi^2 + 3),");
  t.note(
      "smallest at b* = phi^2 + 3; the mean baseline b = E[x^2] = phi^2 + 1 is the usual choice.");
  const TestFunction sq = square_function();
  const int64_t n = t.quick() ? 20000 : 200000;
  const double p2 = phi * phi;
  struct Case {
    std::string name;
    double b, closed;
    std::string closed_text;
  };
  const std::vector<Case> cases = {
      {"mean baseline b = phi^2 + 1", p2 + 1, 8 * p2 + 10, "8 phi^2 + 10"},
      {"optimal b* = phi^2 + 3", p2 + 3, 8 * p2 + 6, "8 phi^2 + 6"}};
  // b* minimises E[(f - b)^2 s^2]: b* = E[f s^2] / E[s^2] with s = x - phi, by quadrature.
  const double b_star =
      vae::gaussian_expectation([&](double x) { return x * x * (x - phi) * (x - phi); }, phi, 1.0);
  t.check_close("L24", "optimal b* = E[x^2 (x-phi)^2] / E[(x-phi)^2] by quadrature vs phi^2 + 3",
                b_star, p2 + 3, 1e-9);
  for (const Case& c : cases) {
    t.check_close("L24", fmt::format("{}: variance by quadrature vs {}", c.name, c.closed_text),
                  score_variance(sq, phi, 0, c.b), c.closed, 1e-8);
    vae::Summary s = score_summary(sq, phi, 0, n, rng, c.b);
    t.check_within_se("L24", fmt::format("{}: mean vs 2 phi", c.name), s.mean, s.se_mean, 2 * phi,
                      kNse);
    t.check_within_se("L24", fmt::format("{}: per-sample variance vs {}", c.name, c.closed_text),
                      s.variance, s.se_variance, c.closed, kNse);
  }
  t.note("Both closed forms (8 phi^2 + 10 and 8 phi^2 + 6) are checked above, by quadrature and");
  t.note("by sampling.");
  t.note("Still larger than the reparameterization's 4 for every phi: the baseline removes");
  t.note("the phi^4 growth but not the 8 phi^2 term.");

  // Figure: variance against phi, closed-form lines and measured points.
  std::vector<double> grid, none, mean_b, opt_b, rep;
  for (double x = -3; x <= 3.0001; x += 0.05) {
    grid.push_back(x);
    none.push_back(example_score_variance(x));
    mean_b.push_back(8 * x * x + 10);
    opt_b.push_back(8 * x * x + 6);
    rep.push_back(4);
  }
  std::vector<double> pts, m_none, m_mean, m_opt, m_rep;
  const int64_t m = t.quick() ? 5000 : 40000;
  for (double x : {-2.5, -1.5, -0.5, 0.5, 1.5, 2.5}) {
    pts.push_back(x);
    m_none.push_back(score_summary(sq, x, 0, m, rng).variance);
    m_mean.push_back(score_summary(sq, x, 0, m, rng, x * x + 1).variance);
    m_opt.push_back(score_summary(sq, x, 0, m, rng, x * x + 3).variance);
    m_rep.push_back(reparam_summary(sq, x, 0, m, rng).variance);
  }
  tut::Plot p("baselines",
              "Per-sample variance of the gradient estimators for E[x^2], x ~ N(phi, 1)");
  p.xlabel("phi").ylabel("per-sample variance").log_y();
  p.line("score, no baseline", grid, none);
  p.line("score, b = phi^2 + 1", grid, mean_b);
  p.line("score, b = phi^2 + 3 (optimal)", grid, opt_b);
  p.line("reparameterization", grid, rep);
  p.points("measured (no baseline)", pts, m_none);
  p.points("measured (b = phi^2 + 1)", pts, m_mean);
  p.points("measured (b = phi^2 + 3)", pts, m_opt);
  p.points("measured (reparameterization)", pts, m_rep);
  p.legend(tut::LegendPlace::outside).size(1000, 560);
  t.save_figure(p);
}

// ---------------------------------------------------------------- other test functions

void other_functions(tut::Tutorial& t, double phi, ad::Rng& rng) {
  t.section("L24", "Other test functions: where the pathwise estimator wins and where it loses");
  t.note("x ~ N(phi, 1), phi = {}. Exact variances by quadrature; a few k checked by Monte Carlo.",
         phi);
  const int64_t n = t.quick() ? 10000 : 100000;
  const std::map<std::string, std::vector<double>> check_k = {
      {"shifted", {0.0, 3.0}}, {"gauss", {0.2, 5.0}}, {"cos", {0.5, 4.0}}};
  for (const TestFunction& tf : test_functions()) {
    std::vector<double> ks;
    if (tf.key == "shifted")
      for (double k = -4; k <= 4.0001; k += 0.1) ks.push_back(k);
    else
      for (double e = -1.5; e <= 1.5001; e += 0.05) ks.push_back(std::pow(10.0, e));
    std::vector<double> sv, rv;
    for (double k : ks) {
      sv.push_back(score_variance(tf, phi, k));
      rv.push_back(reparam_variance(tf, phi, k));
    }
    std::vector<double> mk, ms, mr;
    for (double k : check_k.at(tf.key)) {
      t.check_close(
          "L24",
          fmt::format("f = {}, k = {}: E[f'(x)] by quadrature vs closed-form gradient", tf.name, k),
          quad_gradient(tf, phi, k), tf.exact_gradient(phi, k), 1e-8, 1e-12);
      vae::Summary s = score_summary(tf, phi, k, n, rng);
      vae::Summary r = reparam_summary(tf, phi, k, n, rng);
      t.check_within_se("L24",
                        fmt::format("f = {}, k = {}: score mean vs exact gradient", tf.name, k),
                        s.mean, s.se_mean, tf.exact_gradient(phi, k), kNse);
      t.check_within_se("L24",
                        fmt::format("f = {}, k = {}: reparam mean vs exact gradient", tf.name, k),
                        r.mean, r.se_mean, tf.exact_gradient(phi, k), kNse);
      t.check_within_se("L24",
                        fmt::format("f = {}, k = {}: score variance vs quadrature", tf.name, k),
                        s.variance, s.se_variance, score_variance(tf, phi, k), kNse);
      t.check_within_se("L24",
                        fmt::format("f = {}, k = {}: reparam variance vs quadrature", tf.name, k),
                        r.variance, r.se_variance, reparam_variance(tf, phi, k), kNse);
      t.note("f = {}, k = {}: variance score {:.4g}, reparameterization {:.4g}: {} wins", tf.name,
             k, s.variance, r.variance, s.variance < r.variance ? "score function" : "pathwise");
      mk.push_back(k);
      ms.push_back(s.variance);
      mr.push_back(r.variance);
    }
    tut::Plot p(
        "test_function_" + tf.key,
        fmt::format("f(x) = {}, x ~ N({}, 1): per-sample variance against k", tf.name, phi));
    p.xlabel("k").ylabel("per-sample variance").log_y();
    if (tf.key != "shifted") p.log_x();
    p.line("score function (quadrature)", ks, sv);
    p.line("reparameterization (quadrature)", ks, rv, tut::LineStyle::dashed);
    p.points("score function (Monte Carlo)", mk, ms);
    p.points("reparameterization (Monte Carlo)", mk, mr);
    t.save_figure(p);
  }
  t.note("(x - k)^2: the score variance grows like (phi - k)^4, the pathwise one stays 4.");
  t.note("exp(-k x^2) and cos(k x) for large k: f' is large (k times f) while f stays bounded,");
  t.note("so the pathwise estimator, which differentiates f, loses; the score function does not.");
}

// ---------------------------------------------------------------- gradient descent

void gradient_descent(tut::Tutorial& t, ad::Rng& rng) {
  t.section("L24", "Gradient descent on phi with each estimator: min_phi E[x^2] (eq. 33)");
  const int chains = t.quick() ? 100 : 400, steps = 100, N = 10;
  const double lr = 0.05, phi0 = 3.0;
  t.note("{} independent runs per estimator, {} steps, N = {} samples per step, lr = {}, phi0 = {}",
         chains, steps, N, lr, phi0);
  t.note("The exact gradient 2 phi is linear and both estimators are unbiased, so the mean");
  t.note("path is the exact one: E[phi_t] = (1 - 2 lr)^t phi0 for both.");
  const vae::Family q = vae::gaussian_location_family(1.0);
  const vae::Integrand f = integrand(square_function(), 0);
  std::map<std::string, std::vector<std::vector<double>>> paths;  // [estimator][chain][step]
  for (const std::string est : {"score", "reparam"}) {
    std::vector<double> phi(chains, phi0);
    auto& path = paths[est];
    path.assign(chains, std::vector<double>{phi0});
    for (int s = 0; s < steps; ++s) {
      std::vector<double> rows(chains * N);
      for (int c = 0; c < chains; ++c)
        for (int i = 0; i < N; ++i) rows[c * N + i] = phi[c];
      Tensor leaf = Tensor::from(rows, {chains * N, 1}, ad::f64);
      leaf.requires_grad_();
      vae::GradientSamples g = est == "score"
                                   ? vae::score_function_gradients_rows(q, {leaf}, f, rng)
                                   : vae::reparameterization_gradients_rows(q, {leaf}, f, rng);
      std::vector<double> grads = vae::group_means(g.column(0), N);
      for (int c = 0; c < chains; ++c) {
        phi[c] -= lr * grads[c];
        path[c].push_back(phi[c]);
      }
    }
  }
  const double a = 1 - 2 * lr;
  const double mean_exact = std::pow(a, steps) * phi0;
  // Reparameterization: phi_{t+1} = a phi_t - 2 lr epsbar_t with Var[epsbar] = 1/N, so
  // Var[phi_T] = (4 lr^2 / N) (1 - a^(2T)) / (1 - a^2).
  const double var_exact = 4 * lr * lr / N * (1 - std::pow(a, 2 * steps)) / (1 - a * a);
  std::map<std::string, vae::Summary> last;
  for (const auto& [est, path] : paths) {
    std::vector<double> final_phi;
    for (const auto& p : path) final_phi.push_back(p.back());
    last[est] = vae::summarize(final_phi);
    t.check_within_se("L24",
                      fmt::format("{}: mean of phi after {} steps vs (1-2lr)^T phi0", est, steps),
                      last[est].mean, last[est].se_mean, mean_exact, kNse);
  }
  t.check_within_se("L24", "reparam: variance of phi after 100 steps vs (4lr^2/N)(1-a^2T)/(1-a^2)",
                    last["reparam"].variance, last["reparam"].se_variance, var_exact, kNse);
  t.check_less("L24", "spread of phi_T: reparam stddev < score-function stddev",
               last["reparam"].stddev(), last["score"].stddev());

  tut::Plot p("gradient_descent",
              "Gradient descent on phi: two runs per estimator and the mean of all");
  p.xlabel("step").ylabel("phi");
  std::vector<double> steps_x, exact;
  for (int s = 0; s <= steps; ++s) {
    steps_x.push_back(s);
    exact.push_back(std::pow(a, s) * phi0);
  }
  for (const auto& [est, path] : paths) {
    const std::string label = est == "score" ? "score function" : "reparameterization";
    for (int c = 0; c < 2; ++c)
      p.line(c == 0 ? label + " (2 runs)" : "", steps_x, path[c],
             est == "score" ? tut::LineStyle::solid : tut::LineStyle::dashed);
    std::vector<double> mean(steps + 1, 0.0);
    for (const auto& run : path)
      for (int s = 0; s <= steps; ++s) mean[s] += run[s] / chains;
    p.points(label + fmt::format(" (mean of {})", chains), steps_x, mean);
  }
  p.line("exact mean (1 - 2 lr)^t phi0", steps_x, exact);
  p.size(1100, 600);
  t.save_figure(p);
}

// ---------------------------------------------------------------- L28

// The L-sample AEVB estimate of the KL's gradient: its variance against L, measured and
// predicted (v_mu / L and v_lv / L).
void kl_gradient_variance_vs_L(tut::Tutorial& t, const vae::Family& q,
                               const vae::Integrand& kl_hat, double mu, double logvar,
                               double v_mu, double v_lv, ad::Rng& rng) {
  std::vector<double> Ls, measured_mu, measured_lv, line_mu, line_lv;
  const int64_t repeats = t.quick() ? 200 : 400;
  for (int64_t L : {1, 10, 100}) {
    auto draw = [&](int64_t rows) {
      return vae::reparameterization_gradients(
          q, {Tensor::from({mu}, {1}, ad::f64), Tensor::from({logvar}, {1}, ad::f64)}, rows, kl_hat,
          rng);
    };
    vae::Summary em = vae::summarize(vae::repeated_estimates(draw, L, repeats, 0));
    vae::Summary el = vae::summarize(vae::repeated_estimates(draw, L, repeats, 1));
    t.check_within_se(
        "L28",
        fmt::format("L = {:>3}: variance of the L-sample MC-KL gradient (logvar) vs closed/L", L),
        el.variance, el.se_variance, v_lv / L, kNse);
    Ls.push_back(L);
    measured_mu.push_back(em.variance);
    measured_lv.push_back(el.variance);
  }
  std::vector<double> grid;
  for (double e = 0; e <= 2.0001; e += 0.05) {
    grid.push_back(std::pow(10.0, e));
    line_mu.push_back(v_mu / grid.back());
    line_lv.push_back(v_lv / grid.back());
  }
  tut::Plot p("kl_gradient_variance",
              "Monte Carlo KL: variance of the L-sample gradient (the analytic KL has none)");
  p.xlabel("L (samples)").ylabel("variance").log_x().log_y();
  p.line("wrt mu: sigma^2 / L", grid, line_mu);
  p.line("wrt logvar: sigma^2 (mu^2 + 2 sigma^2) / (4L)", grid, line_lv, tut::LineStyle::dashed);
  p.points("wrt mu, measured", Ls, measured_mu);
  p.points("wrt logvar, measured", Ls, measured_lv);
  t.save_figure(p);
}

void kl_estimators(tut::Tutorial& t, ad::Rng& rng) {
  t.section("L28", "AEVB: the KL term in closed form vs by Monte Carlo, gradient variance");
  const double mu = 0.8, logvar = -0.6;
  const double s2 = std::exp(logvar);
  t.note(
      "q = N(mu, sigma^2), mu = {}, logvar = {}; prior N(0, 1). Two estimators of grad KL(q||p):",
      mu, logvar);
  t.note(
      "  analytic: grad of 1/2 (sigma^2 + mu^2 - 1 - logvar) (L09): (mu, (sigma^2 - 1)/2), exact");
  t.note("  Monte Carlo: grad of log q(z) - log p(z) at z = mu + sigma eps (reparameterized)");
  // Analytic, on the tape through DiagGaussian::kl_to_standard.
  Tensor m = Tensor::from({mu}, {1, 1}, ad::f64).requires_grad_();
  Tensor lv = Tensor::from({logvar}, {1, 1}, ad::f64).requires_grad_();
  ad::backward(ad::sum(vae::DiagGaussian{m, lv}.kl_to_standard()));
  const double g_mu = m.grad().item(), g_lv = lv.grad().item();
  t.check_close("L28", "analytic KL gradient wrt mu (tape) vs mu", g_mu, mu, 1e-12);
  t.check_close("L28", "analytic KL gradient wrt logvar (tape) vs (sigma^2 - 1)/2", g_lv,
                (s2 - 1) / 2, 1e-12);

  const vae::Family q = vae::diag_gaussian_family();
  const vae::Integrand kl_hat = [](const Tensor& z, const std::vector<Tensor>& phi) {
    const vae::DiagGaussian prior{Tensor::zeros(z.shape(), z.dtype()),
                                  Tensor::zeros(z.shape(), z.dtype())};
    return vae::DiagGaussian{phi[0], phi[1]}.log_prob(z) - prior.log_prob(z);
  };
  const int64_t n = t.quick() ? 20000 : 200000;
  vae::GradientSamples g = vae::reparameterization_gradients(
      q, {Tensor::from({mu}, {1}, ad::f64), Tensor::from({logvar}, {1}, ad::f64)}, n, kl_hat, rng);
  vae::Summary kl_value = vae::summarize(g.f_values);
  t.check_within_se("L28", "Monte Carlo KL value vs closed form", kl_value.mean, kl_value.se_mean,
                    0.5 * (s2 + mu * mu - 1 - logvar), kNse);
  vae::Summary smu = vae::summarize(g.column(0)), slv = vae::summarize(g.column(1));
  t.check_within_se("L28", "MC-KL gradient wrt mu: mean vs analytic", smu.mean, smu.se_mean, g_mu,
                    kNse);
  t.check_within_se("L28", "MC-KL gradient wrt logvar: mean vs analytic", slv.mean, slv.se_mean,
                    g_lv, kNse);
  // d/dmu [-log sigma - eps^2/2 + (mu + sigma eps)^2 / 2] = mu + sigma eps: variance sigma^2.
  // d/dlogvar = -1/2 + (mu + sigma eps) sigma eps / 2: variance sigma^2 (mu^2 + 2 sigma^2) / 4.
  const double v_mu = s2, v_lv = s2 * (mu * mu + 2 * s2) / 4;
  t.check_within_se("L28", "MC-KL gradient wrt mu: per-sample variance vs sigma^2", smu.variance,
                    smu.se_variance, v_mu, kNse);
  t.check_within_se("L28", "MC-KL gradient wrt logvar: variance vs sigma^2 (mu^2 + 2 sigma^2)/4",
                    slv.variance, slv.se_variance, v_lv, kNse);
  t.note("The analytic KL gradient has variance 0; with L samples the Monte Carlo one has");
  t.note("variance {:.4g} / L (mu) and {:.4g} / L (logvar): the closed form is free accuracy.",
         v_mu, v_lv);

  kl_gradient_variance_vs_L(t, q, kl_hat, mu, logvar, v_mu, v_lv, rng);
}

// ---------------------------------------------------------------- your comparison

void your_comparison(tut::Tutorial& t, const std::string& f_key, double k, double phi, int64_t N,
                     const std::string& estimator, double baseline, int64_t repeats, ad::Rng& rng) {
  t.section("L24", "Your comparison (flags --f --k --phi --N --estimator --baseline --repeats)");
  TestFunction tf = square_function();
  for (const TestFunction& candidate : test_functions())
    if (candidate.key == f_key) tf = candidate;
  if (f_key == "square") k = 0;
  const double exact = tf.exact_gradient(phi, k);
  t.note(
      "f(x) = {} with k = {}, x ~ N({}, 1); {} estimates of N = {} samples each; exact gradient "
      "{:.6g}",
      tf.name, k, phi, repeats, N, exact);
  const vae::Family q = vae::gaussian_location_family(1.0);
  const vae::Integrand f = integrand(tf, k);
  for (const std::string est : {"score", "reparam"}) {
    if (estimator != "both" && estimator != est) continue;
    auto draw = [&](int64_t rows) {
      return est == "score"
                 ? vae::score_function_gradients(q, phi_param(phi), rows, f, rng, baseline)
                 : vae::reparameterization_gradients(q, phi_param(phi), rows, f, rng);
    };
    vae::Summary s = vae::summarize(vae::repeated_estimates(draw, N, repeats));
    const double per_sample =
        est == "score" ? score_variance(tf, phi, k, baseline) : reparam_variance(tf, phi, k);
    const std::string name = est == "score" ? fmt::format("score (b = {})", baseline) : "reparam";
    t.check_within_se("L24", fmt::format("{}: mean of the N-sample estimates vs exact", name),
                      s.mean, s.se_mean, exact, kNse);
    t.check_within_se("L24", fmt::format("{}: their variance vs quadrature / N", name), s.variance,
                      s.se_variance, per_sample / N, kNse);
  }
}

}  // namespace

static int run(int argc, char** argv) {
  tut::Tutorial t("07_score_function_vs_reparameterization",
                  "Score function vs reparameterization: the notes' Example 1.5 and beyond");
  double phi = 1.5, k = 1.0, baseline = 0.0;
  int64_t N = 1000, repeats = 200;
  std::string f_key = "square", estimator = "both";
  t.flags()
      .add_option("--phi", phi, "the parameter phi of q = N(phi, 1)")
      ->check(tut::finite_in(-100, 100));
  t.flags()
      .add_option("--f", f_key, "test function for your comparison")
      ->check(CLI::IsMember({"square", "shifted", "gauss", "cos"}));
  t.flags()
      .add_option("--k", k, "the k of (x-k)^2, exp(-k x^2), cos(k x)")
      ->check(tut::finite_in(-100, 100));
  t.flags()
      .add_option("--N", N, "samples per estimate in your comparison")
      ->check(CLI::Range(int64_t{1}, int64_t{10000000}));
  t.flags()
      .add_option("--estimator", estimator, "which estimator(s) in your comparison")
      ->check(CLI::IsMember({"both", "score", "reparam"}));
  t.flags()
      .add_option("--baseline", baseline, "constant baseline b for the score function")
      ->check(tut::finite_number());
  t.flags()
      .add_option("--repeats", repeats, "independent estimates in your comparison (--quick: 100)")
      ->check(CLI::Range(int64_t{3}, int64_t{1000000}));
  if (auto exit_code = t.parse(argc, argv)) return *exit_code;
  if (t.quick() && !t.given("--repeats")) repeats = 100;
  ad::Rng rng(t.seed());

  example_1_5(t, phi, rng);
  figure_6(t, phi, rng);
  baselines(t, phi, rng);
  other_functions(t, 0.5, rng);
  gradient_descent(t, rng);
  kl_estimators(t, rng);
  your_comparison(t, f_key, k, phi, N, estimator, baseline, repeats, rng);
  return t.finish();
}

// Any error after the flags are read ends the program with one line and exit status 1.
int main(int argc, char** argv) {
  return tut::report_errors("07_score_function_vs_reparameterization", [&] { return run(argc, argv); });
}
