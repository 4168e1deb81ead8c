// KL divergences: discrete, between two Gaussians with full covariances (closed form),
// and the VAE's diagonal Gaussian against the standard normal prior (on the tape).
//
//   KL(p || q) = E_p[log p(x) - log q(x)] >= 0, with equality only when p = q.
#pragma once
#include <vector>

#include "autodiff/tensor.h"
#include "vae/linalg.h"

namespace vae {

// sum_i p_i log(p_i / q_i), in nats; terms with p_i = 0 contribute 0. Throws when the
// lengths differ, a probability is negative, or q_i = 0 where p_i > 0 (KL is infinite).
double kl_discrete(const std::vector<double>& p, const std::vector<double>& q);

// KL(N(mu1, S1) || N(mu2, S2)) for k-dimensional Gaussians:
//   1/2 [ tr(S2^-1 S1) + (mu2 - mu1)^T S2^-1 (mu2 - mu1) - k + log(|S2| / |S1|) ]
double kl_gaussian(const std::vector<double>& mu1, const Matrix& s1, const std::vector<double>& mu2,
                   const Matrix& s2);

// KL(N(mu, diag(exp(logvar))) || N(0, I)) = 1/2 sum(exp(logvar) + mu^2 - 1 - logvar),
// summed over the last axis: mu, logvar [batch, k] -> [batch]. Recorded on the tape,
// so gradients flow to mu and logvar (the encoder). Written with the log-variance so
// that sigma^2 = exp(logvar) is always positive.
ad::Tensor kl_diag_gaussian_to_standard(const ad::Tensor& mu, const ad::Tensor& logvar);

}  // namespace vae
