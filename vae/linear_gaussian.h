// The linear-Gaussian (PPCA-like) latent variable model, where everything the VAE has to
// approximate is available in closed form (note 003 introduces the VAE as nonlinear PPCA):
//
//   z ~ p(z) = N(0, I_k),   x | z ~ p(x|z) = N(W z + b, sigma^2 I_d),   W: d x k.
//
// Evidence. x = W z + b + sigma e with z, e independent standard normals, so x is Gaussian
// with mean b and covariance C = W W^T + sigma^2 I_d:
//   log p(x) = log N(x; b, W W^T + sigma^2 I_d).
//
// Posterior. log p(z|x) = log p(x|z) + log p(z) - log p(x) is quadratic in z:
//   -1/2 z^T (I + W^T W / sigma^2) z + z^T W^T (x - b) / sigma^2 + const,
// so with the precision M = I_k + W^T W / sigma^2,
//   p(z|x) = N(z; M^-1 W^T (x - b) / sigma^2, M^-1).
//
// ELBO of a Gaussian q(z|x) = N(m, S) (note 003, eqs. 18-25, written out for full S):
//   E_q[log p(z)]   = -k/2 log(2 pi) - 1/2 (m^T m + tr S)                 (eq. 22)
//   E_q[log q(z|x)] = -k/2 log(2 pi) - 1/2 log|S| - k/2                   (eq. 25 corrected:
//                     the notes print -D/2 sum(1 + log sigma_d^2), which drops the
//                     -k/2 log(2 pi) term and has D/2 where 1/2 belongs)
//   E_q[log p(x|z)] = -d/2 log(2 pi sigma^2)
//                     - 1/(2 sigma^2) (|x - W m - b|^2 + tr(W S W^T))
//   ELBO = E_q[log p(x|z)] + E_q[log p(z)] - E_q[log q(z|x)],
// and log p(x) = ELBO + KL(q || p(z|x)) holds exactly for every q.
#pragma once
#include <vector>

#include "autodiff/rng.h"
#include "vae/linalg.h"

namespace vae {

// A Gaussian N(mean, cov) with a full covariance.
struct Gaussian {
  std::vector<double> mean;
  Matrix cov;

  int dim() const { return static_cast<int>(mean.size()); }
  // A diagonal Gaussian from per-coordinate standard deviations.
  static Gaussian diagonal(const std::vector<double>& mean, const std::vector<double>& stddev);
};

// log N(x; mean, cov) = -k/2 log(2 pi) - 1/2 log|cov| - 1/2 (x-mean)^T cov^-1 (x-mean).
double gaussian_log_density(const std::vector<double>& x, const Gaussian& g);
// One draw mean + L eps with L the Cholesky factor of cov (eps standard normal).
std::vector<double> sample(const Gaussian& g, ad::Rng& rng);

struct LinearGaussian {
  Matrix w;               // d x k
  std::vector<double> b;  // d
  double sigma = 1.0;     // decoder noise standard deviation

  int latent_dim() const { return w.cols; }
  int data_dim() const { return w.rows; }

  // W with standard normal entries times w_scale, b standard normal.
  static LinearGaussian random(int d, int k, double sigma, ad::Rng& rng, double w_scale = 1.0);

  double log_prior(const std::vector<double>& z) const;  // log N(z; 0, I_k)
  double log_likelihood(const std::vector<double>& x,
                        const std::vector<double>& z) const;  // log N(x; W z + b, sigma^2 I)
  double log_joint(const std::vector<double>& x, const std::vector<double>& z) const;

  Gaussian marginal() const;                                // N(b, W W^T + sigma^2 I)
  double log_evidence(const std::vector<double>& x) const;  // log p(x)
  Gaussian posterior(const std::vector<double>& x) const;   // p(z|x)
  std::vector<double> sample_x(ad::Rng& rng) const;         // z ~ p(z), x ~ p(x|z)
};

// The pieces of the ELBO for q = N(m, S), in closed form (see the top of this file).
double expected_log_prior(const Gaussian& q);  // E_q[log p(z)], p(z) = N(0, I)
double expected_log_q(const Gaussian& q);      // E_q[log q(z)] = -entropy of q
double expected_log_likelihood(const LinearGaussian& model, const std::vector<double>& x,
                               const Gaussian& q);  // E_q[log p(x|z)]
double elbo(const LinearGaussian& model, const std::vector<double>& x, const Gaussian& q);
// KL(q || p(z|x)), with kl_gaussian.
double kl_to_posterior(const LinearGaussian& model, const std::vector<double>& x,
                       const Gaussian& q);

}  // namespace vae
