// The linear-Gaussian model in closed form; the derivations are in linear_gaussian.h.
#include "vae/linear_gaussian.h"

#include <fmt/format.h>

#include <cmath>

#include "autodiff/shape.h"
#include "vae/kl.h"

namespace vae {

namespace {
constexpr double log_2pi = 1.8378770664093454836;  // log(2 pi)

void require_size(const char* op, const char* what, size_t got, int expected) {
  if (static_cast<int>(got) != expected)
    throw ad::Error(
        fmt::format("{}: {} has {} entries, the model needs {}", op, what, got, expected));
}
}  // namespace

Gaussian Gaussian::diagonal(const std::vector<double>& mean, const std::vector<double>& stddev) {
  require_size("Gaussian::diagonal", "stddev", stddev.size(), static_cast<int>(mean.size()));
  const int k = static_cast<int>(mean.size());
  Gaussian g{mean, Matrix(k, k)};
  for (int i = 0; i < k; ++i) g.cov(i, i) = stddev[i] * stddev[i];
  return g;
}

double gaussian_log_density(const std::vector<double>& x, const Gaussian& g) {
  require_size("gaussian_log_density", "x", x.size(), g.dim());
  std::vector<double> diff(x.size());
  for (size_t i = 0; i < x.size(); ++i) diff[i] = x[i] - g.mean[i];
  return -0.5 * g.dim() * log_2pi - 0.5 * log_det_spd(g.cov) -
         0.5 * dot(diff, solve_spd(g.cov, diff));
}

std::vector<double> sample(const Gaussian& g, ad::Rng& rng) {
  const Matrix l = cholesky(g.cov);
  const int k = g.dim();
  std::vector<double> eps(k), z(g.mean);
  for (int i = 0; i < k; ++i) eps[i] = rng.normal();
  for (int i = 0; i < k; ++i)
    for (int j = 0; j <= i; ++j) z[i] += l(i, j) * eps[j];
  return z;
}

LinearGaussian LinearGaussian::random(int d, int k, double sigma, ad::Rng& rng, double w_scale) {
  LinearGaussian m{Matrix(d, k), std::vector<double>(d), sigma};
  for (double& v : m.w.values) v = w_scale * rng.normal();
  for (double& v : m.b) v = rng.normal();
  return m;
}

double LinearGaussian::log_prior(const std::vector<double>& z) const {
  require_size("log_prior", "z", z.size(), latent_dim());
  return -0.5 * latent_dim() * log_2pi - 0.5 * dot(z, z);
}

double LinearGaussian::log_likelihood(const std::vector<double>& x,
                                      const std::vector<double>& z) const {
  require_size("log_likelihood", "x", x.size(), data_dim());
  require_size("log_likelihood", "z", z.size(), latent_dim());
  std::vector<double> wz = matvec(w, z);
  double squared_error = 0;
  for (int i = 0; i < data_dim(); ++i) {
    const double r = x[i] - wz[i] - b[i];
    squared_error += r * r;
  }
  return -0.5 * data_dim() * (log_2pi + 2 * std::log(sigma)) - squared_error / (2 * sigma * sigma);
}

double LinearGaussian::log_joint(const std::vector<double>& x, const std::vector<double>& z) const {
  return log_likelihood(x, z) + log_prior(z);
}

Gaussian LinearGaussian::marginal() const {
  Matrix c = w * transpose(w);
  for (int i = 0; i < data_dim(); ++i) c(i, i) += sigma * sigma;
  return {b, c};
}

double LinearGaussian::log_evidence(const std::vector<double>& x) const {
  return gaussian_log_density(x, marginal());
}

Gaussian LinearGaussian::posterior(const std::vector<double>& x) const {
  require_size("posterior", "x", x.size(), data_dim());
  const double s2 = sigma * sigma;
  Matrix precision = Matrix::identity(latent_dim()) + (1.0 / s2) * (transpose(w) * w);
  std::vector<double> r(data_dim());
  for (int i = 0; i < data_dim(); ++i) r[i] = (x[i] - b[i]) / s2;
  std::vector<double> mean = solve_spd(precision, matvec(transpose(w), r));
  return {mean, inverse_spd(precision)};
}

std::vector<double> LinearGaussian::sample_x(ad::Rng& rng) const {
  std::vector<double> z(latent_dim());
  for (double& v : z) v = rng.normal();
  std::vector<double> x = matvec(w, z);
  for (int i = 0; i < data_dim(); ++i) x[i] += b[i] + sigma * rng.normal();
  return x;
}

double expected_log_prior(const Gaussian& q) {
  return -0.5 * q.dim() * log_2pi - 0.5 * (dot(q.mean, q.mean) + trace(q.cov));
}

double expected_log_q(const Gaussian& q) {
  return -0.5 * q.dim() * log_2pi - 0.5 * log_det_spd(q.cov) - 0.5 * q.dim();
}

double expected_log_likelihood(const LinearGaussian& model, const std::vector<double>& x,
                               const Gaussian& q) {
  require_size("expected_log_likelihood", "x", x.size(), model.data_dim());
  require_size("expected_log_likelihood", "q's mean", q.mean.size(), model.latent_dim());
  // E_q |x - W z - b|^2 = |x - W m - b|^2 + tr(W S W^T)
  std::vector<double> wm = matvec(model.w, q.mean);
  double squared_error = 0;
  for (int i = 0; i < model.data_dim(); ++i) {
    const double r = x[i] - wm[i] - model.b[i];
    squared_error += r * r;
  }
  const double spread = trace(model.w * q.cov * transpose(model.w));
  const double s2 = model.sigma * model.sigma;
  return -0.5 * model.data_dim() * (log_2pi + std::log(s2)) - (squared_error + spread) / (2 * s2);
}

// excerpt: elbo_three_terms
double elbo(const LinearGaussian& model, const std::vector<double>& x, const Gaussian& q) {
  return expected_log_likelihood(model, x, q) + expected_log_prior(q) - expected_log_q(q);
}
// end excerpt: elbo_three_terms

double kl_to_posterior(const LinearGaussian& model, const std::vector<double>& x,
                       const Gaussian& q) {
  const Gaussian post = model.posterior(x);
  return kl_gaussian(q.mean, q.cov, post.mean, post.cov);
}

}  // namespace vae
