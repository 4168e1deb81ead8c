#include "vae/iwae.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "autodiff/ops.h"

namespace vae {

ad::Tensor iwae_log_weights(Vae& model, const DiagGaussian& q, const ad::Tensor& x,
                            const std::vector<ad::Tensor>& eps) {
  if (eps.empty()) throw std::invalid_argument("iwae_log_weights: no noise given (K = 0)");
  const int64_t batch = x.dim(0);
  const double k = static_cast<double>(q.mu.dim(1));
  std::vector<ad::Tensor> columns;
  for (const ad::Tensor& e : eps) {
    ad::Tensor z = q.rsample_from(e);  // z_k = mu + sigma * eps_k
    ad::Tensor log_likelihood = -model.negative_log_likelihood(model.decode(z), x);
    // log N(z; 0, I) = -1/2 |z|^2 - k/2 log(2 pi)
    ad::Tensor log_prior = ad::sum(z * z, -1) * -0.5 - 0.5 * k * kLog2Pi;
    ad::Tensor log_w = log_likelihood + log_prior - q.log_prob(z);  // [batch]
    columns.push_back(ad::reshape(log_w, {batch, 1}));
  }
  return columns.size() == 1 ? columns[0] : ad::concat(columns, 1);
}

ad::Tensor iwae_bound_from_eps(Vae& model, const ad::Tensor& x,
                               const std::vector<ad::Tensor>& eps) {
  ad::Tensor log_w = iwae_log_weights(model, model.encode(x), x, eps);
  return ad::logsumexp(log_w, 1) - std::log(static_cast<double>(eps.size()));
}

ad::Tensor iwae_bound(Vae& model, const ad::Tensor& x, ad::Rng& rng, int K) {
  if (K < 1) throw std::invalid_argument("iwae_bound: K must be at least 1");
  std::vector<ad::Tensor> eps;
  for (int k = 0; k < K; ++k)
    eps.push_back(rng.normal({x.dim(0), model.config().latent_dim}, x.dtype()));
  return iwae_bound_from_eps(model, x, eps);
}

ad::Tensor iwae_loss(Vae& model, const ad::Tensor& x, ad::Rng& rng, int K) {
  return -ad::mean(iwae_bound(model, x, rng, K));
}

double log_mean_exp(const std::vector<double>& a) {
  if (a.empty()) throw std::invalid_argument("log_mean_exp: empty");
  const double m = *std::max_element(a.begin(), a.end());
  if (!std::isfinite(m)) return m;
  double s = 0;
  for (double v : a) s += std::exp(v - m);
  return m + std::log(s / static_cast<double>(a.size()));
}

std::vector<double> iwae_log_weights(const LinearGaussian& model, const std::vector<double>& x,
                                     const Gaussian& q, int K, ad::Rng& rng) {
  if (K < 1) throw std::invalid_argument("iwae_log_weights: K must be at least 1");
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
