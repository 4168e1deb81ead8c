#include "vae/iwae.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "autodiff/ops.h"
#include "autodiff/shape.h"

namespace vae {

ad::Tensor iwae_log_weights(const DiagGaussian& q, const NegativeLogLikelihood& nll,
                            const std::vector<ad::Tensor>& eps) {
  if (eps.empty()) throw ad::Error("iwae_log_weights: no noise given (K = 0)");
  const int64_t batch = q.mu.dim(0);
  const double k = static_cast<double>(q.mu.dim(1));
  std::vector<ad::Tensor> columns;
  for (const ad::Tensor& e : eps) {
    ad::Tensor z = q.rsample_from(e);  // z_k = mu + sigma * eps_k
    // log N(z; 0, I) = -1/2 |z|^2 - k/2 log(2 pi)
    ad::Tensor log_prior = ad::sum(z * z, -1) * -0.5 - 0.5 * k * kLog2Pi;
    ad::Tensor log_w = -nll(z) + log_prior - q.log_prob(z);  // [batch]
    columns.push_back(ad::reshape(log_w, {batch, 1}));
  }
  return columns.size() == 1 ? columns[0] : ad::concat(columns, 1);
}

ad::Tensor iwae_log_weights(Vae& model, const DiagGaussian& q, const ad::Tensor& x,
                            const std::vector<ad::Tensor>& eps) {
  return iwae_log_weights(
      q, [&](const ad::Tensor& z) { return model.negative_log_likelihood(model.decode(z), x); },
      eps);
}

namespace {
// logsumexp_k(log w_k) - log K: one estimate of L_K per example.
ad::Tensor bound_from_log_weights(const ad::Tensor& log_w) {
  // EXERCISE E05.4: the IWAE bound
  return ad::logsumexp(log_w, 1) - std::log(static_cast<double>(log_w.dim(1)));
  // END EXERCISE E05.4
}

std::vector<ad::Tensor> draw_eps(int64_t batch, int64_t latent_dim, ad::DType dtype, ad::Rng& rng,
                                 int K) {
  if (K < 1) throw ad::Error(fmt::format("iwae_bound: K must be at least 1, got {}", K));
  std::vector<ad::Tensor> eps;
  for (int k = 0; k < K; ++k) eps.push_back(rng.normal({batch, latent_dim}, dtype));
  return eps;
}
}  // namespace

ad::Tensor iwae_bound_from_eps(Vae& model, const ad::Tensor& x,
                               const std::vector<ad::Tensor>& eps) {
  return bound_from_log_weights(iwae_log_weights(model, model.encode(x), x, eps));
}

ad::Tensor iwae_bound(Vae& model, const ad::Tensor& x, ad::Rng& rng, int K) {
  return iwae_bound_from_eps(model, x,
                             draw_eps(x.dim(0), model.config().latent_dim, x.dtype(), rng, K));
}

ad::Tensor iwae_loss(Vae& model, const ad::Tensor& x, ad::Rng& rng, int K) {
  return -ad::mean(iwae_bound(model, x, rng, K));
}

ad::Tensor iwae_bound_from_eps(Cvae& model, const ad::Tensor& x,
                               const std::vector<int64_t>& labels,
                               const std::vector<ad::Tensor>& eps) {
  const DiagGaussian q = model.encode(x, labels);
  return bound_from_log_weights(iwae_log_weights(
      q,
      [&](const ad::Tensor& z) {
        return model.negative_log_likelihood(model.decode(z, labels), x);
      },
      eps));
}

ad::Tensor iwae_bound(Cvae& model, const ad::Tensor& x, const std::vector<int64_t>& labels,
                      ad::Rng& rng, int K) {
  return iwae_bound_from_eps(model, x, labels,
                             draw_eps(x.dim(0), model.config().latent_dim, x.dtype(), rng, K));
}

double log_mean_exp(const std::vector<double>& a) {
  if (a.empty()) throw ad::Error("log_mean_exp: empty");
  const double m = *std::max_element(a.begin(), a.end());
  if (!std::isfinite(m)) return m;
  double s = 0;
  for (double v : a) s += std::exp(v - m);
  return m + std::log(s / static_cast<double>(a.size()));
}

std::vector<double> iwae_log_weights(const LinearGaussian& model, const std::vector<double>& x,
                                     const Gaussian& q, int K, ad::Rng& rng) {
  if (K < 1) throw ad::Error("iwae_log_weights: K must be at least 1");
  std::vector<double> log_w(K);
  for (int k = 0; k < K; ++k) {
    const std::vector<double> z = sample(q, rng);
    log_w[k] = model.log_joint(x, z) - gaussian_log_density(z, q);
  }
  return log_w;
}

double iwae_bound(const LinearGaussian& model, const std::vector<double>& x, const Gaussian& q,
                  int K, ad::Rng& rng) {
  return log_mean_exp(iwae_log_weights(model, x, q, K, rng));
}

}  // namespace vae
