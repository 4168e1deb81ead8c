#include "vae/iwae.h"

#include <algorithm>
#include <cmath>

#include "autodiff/ops.h"
#include "autodiff/shape.h"

namespace vae {

// excerpt: log_weights
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
// end excerpt: log_weights

// excerpt: bound_from_log_weights
// logsumexp_k(log w_k) - log K: one estimate of L_K per example.
ad::Tensor bound_from_log_weights(const ad::Tensor& log_w) {
  // EXERCISE E05.4: the IWAE bound
  return ad::logsumexp(log_w, 1) - std::log(static_cast<double>(log_w.dim(1)));
  // END EXERCISE E05.4
}
// end excerpt: bound_from_log_weights

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
