// Gradient estimators for grad_phi E_{q_phi(z)}[f(z)], and the statistics to compare them.
//
// The two estimators of the notes (003, eqs. 27-41), for samples r = 1..n:
//
//   score function (log-derivative trick, eq. 27, 37):
//     g_r = (f(z_r) - b) grad_phi log q_phi(z_r),    z_r ~ q_phi,  b a constant baseline
//   reparameterization (pathwise, eq. 28, 41):
//     g_r = grad_phi f(g_phi(eps_r)),                eps_r ~ p(eps),  z_r = g_phi(eps_r)
//
// Both are unbiased (the baseline too, because E_q[grad_phi log q_phi] = 0); their
// variances differ, which is what tutorial 07 measures. The n-sample estimate is the
// mean of the g_r.
//
// Per-sample gradients in one backward pass: every parameter is replicated into one row
// per sample (phi_rows[j] is [n, k_j], all rows equal). Sample r touches only row r, so
// after backward the gradient's row r is g_r: the gradient of the sum over samples
// splits by row.
//
//   vae::Family q = vae::gaussian_location_family(1.0);   // q_phi = N(phi, 1)
//   auto f = [](const ad::Tensor& z) { return ad::sum(z * z, -1); };   // f(x) = x^2
//   phi = {ad::Tensor::from({1.5}, {1}, ad::f64)};
//   vae::GradientSamples g = vae::score_function_gradients(q, phi, 1000, f, rng);
//   vae::Summary s = vae::summarize(g.column(0));   // s.mean ~ 2 phi = 3
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "autodiff/rng.h"
#include "autodiff/tensor.h"
#include "vae/statistics.h"

namespace vae {

// A family of distributions q_phi, written for phi with one row per sample:
// phi[j] is [n, k_j] and row r parameterizes the distribution sample r is drawn from.
struct Family {
  std::string name;
  // z ~ q_phi, nothing recorded: [n, d].
  std::function<ad::Tensor(const std::vector<ad::Tensor>& phi, ad::Rng& rng)> sample;
  // log q_phi(z) per row, [n], recorded wrt phi (the score-function estimator needs it).
  std::function<ad::Tensor(const std::vector<ad::Tensor>& phi, const ad::Tensor& z)> log_prob;
  // z = g_phi(eps), eps ~ p(eps), recorded wrt phi (the reparameterization estimator).
  std::function<ad::Tensor(const std::vector<ad::Tensor>& phi, ad::Rng& rng)> rsample;
};

// q_phi = N(mu, diag(exp(logvar))) with phi = {mu, logvar}, via vae::DiagGaussian.
Family diag_gaussian_family();
// q_phi = N(phi, stddev^2 I) with phi = {mu} only: the notes' Example 1.5 (stddev = 1).
Family gaussian_location_family(double stddev = 1.0);

// f(z) per row, [n, d] -> [n]; it may also depend on phi (e.g. f = log q_phi(z) - log p(z)).
using Integrand =
    std::function<ad::Tensor(const ad::Tensor& z, const std::vector<ad::Tensor>& phi)>;
// The common case: f depends on z only.
Integrand of_z(std::function<ad::Tensor(const ad::Tensor& z)> f);

// n per-sample gradient estimates of P parameters (P = sum of the parameters' sizes),
// row-major [n, P]: element (r, p) is parameter p's gradient from sample r.
struct GradientSamples {
  int64_t n = 0, p = 0;
  std::vector<double> values;
  std::vector<double> f_values;  // f(z_r), the integrand at each sample

  double at(int64_t r, int64_t j) const { return values[r * p + j]; }
  std::vector<double> column(int64_t j) const;  // parameter j over the samples
  std::vector<double> mean() const;             // the n-sample estimate, [P]
};

// Score function: g_r = (f(z_r) - baseline) grad_phi log q_phi(z_r) [+ grad_phi f_phi(z_r)
// when f depends on phi], with z_r ~ q_phi drawn without gradient. phi: one value per
// parameter, each [k] (or [1, k]); f64 recommended.
GradientSamples score_function_gradients(const Family& q, const std::vector<ad::Tensor>& phi,
                                         int64_t n, const Integrand& f, ad::Rng& rng,
                                         double baseline = 0.0);

// Reparameterization: g_r = grad_phi f(g_phi(eps_r)) with eps_r ~ p(eps).
GradientSamples reparameterization_gradients(const Family& q, const std::vector<ad::Tensor>& phi,
                                             int64_t n, const Integrand& f, ad::Rng& rng);

// The same two estimators with the per-sample parameters given: phi_rows[j] is a leaf
// [n, k_j] that requires grad, row r the parameters of sample r (rows may differ, e.g.
// one parameter value per independent optimisation run).
GradientSamples score_function_gradients_rows(const Family& q,
                                              const std::vector<ad::Tensor>& phi_rows,
                                              const Integrand& f, ad::Rng& rng,
                                              double baseline = 0.0);
GradientSamples reparameterization_gradients_rows(const Family& q,
                                                  const std::vector<ad::Tensor>& phi_rows,
                                                  const Integrand& f, ad::Rng& rng);

// Each phi[j] ([k] or [1, k]) replicated into a fresh leaf [n, k] that requires grad.
std::vector<ad::Tensor> per_sample_leaves(const std::vector<ad::Tensor>& phi, int64_t n);

// ---- statistics over repeated estimates ----

// `repeats` independent N-sample estimates of parameter j, each the mean of N per-sample
// gradients. draw(n) returns n fresh per-sample gradients; it is called with at most
// max_rows rows at a time so memory stays bounded for N up to 10^5 and beyond.
std::vector<double> repeated_estimates(const std::function<GradientSamples(int64_t n)>& draw,
                                       int64_t N, int64_t repeats, int64_t j = 0,
                                       int64_t max_rows = 16384);

}  // namespace vae
