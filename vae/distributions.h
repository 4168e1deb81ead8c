// Probability distributions for the VAE, written on the tape so that gradients flow to
// their parameters (the encoder's outputs phi, or the decoder's outputs theta).
//
// Every distribution holds a batch of independent distributions, one per row: the
// parameters are [batch, k] and log_prob(z) sums over the last axis, giving [batch].
//
//   vae::DiagGaussian q{mu, logvar};        // q_phi(z|x) = N(mu, diag(exp(logvar)))
//   ad::Tensor z = q.rsample(rng);          // z = mu + exp(logvar / 2) * eps, on the tape
//   ad::Tensor log_q = q.log_prob(z);       // [batch]
//   ad::Tensor kl = q.kl_to_standard();     // KL(q || N(0, I)), [batch]
//
// rsample ("reparameterized sample") draws the noise eps ~ N(0, I) from the Rng and
// builds z from it with recorded ops, so d z / d mu and d z / d logvar exist (the
// reparameterization trick). sample() draws the same way but records nothing: z is a
// constant, and no gradient can reach the parameters through it.
#pragma once
#include <cstdint>
#include <vector>

#include "autodiff/rng.h"
#include "autodiff/tensor.h"
#include "vae/kl.h"

namespace vae {

// log(2 pi), the constant of every Gaussian log density.
inline constexpr double kLog2Pi = 1.8378770664093454836;

// N(mu, diag(sigma^2)) with sigma^2 = exp(logvar); mu and logvar are [batch, k].
struct DiagGaussian {
  ad::Tensor mu, logvar;

  ad::Tensor stddev() const;  // sigma = exp(logvar / 2), [batch, k]

  // z = mu + sigma * eps, eps ~ N(0, I) from rng; recorded, [batch, k].
  ad::Tensor rsample(ad::Rng& rng) const;
  // The same transformation for a given eps (e.g. to reuse the noise).
  ad::Tensor rsample_from(const ad::Tensor& eps) const;
  // z ~ q with no gradient: a constant, [batch, k].
  ad::Tensor sample(ad::Rng& rng) const;

  // log q(z) = sum_i [ -1/2 log(2 pi) - 1/2 logvar_i - (z_i - mu_i)^2 / (2 sigma_i^2) ], [batch].
  ad::Tensor log_prob(const ad::Tensor& z) const;
  // H[q] = -E_q[log q] = sum_i 1/2 (log(2 pi) + 1 + logvar_i), [batch].
  ad::Tensor entropy() const;
  // KL(q || N(0, I)) = 1/2 sum_i (sigma_i^2 + mu_i^2 - 1 - logvar_i), [batch]
  // (computed by vae::kl_diag_gaussian_to_standard, tutorial 04).
  ad::Tensor kl_to_standard() const { return kl_diag_gaussian_to_standard(mu, logvar); }
};

// N(mu, Sigma) with Sigma = L L^T given by its lower-triangular Cholesky factor L, whose
// diagonal must be positive. mu is [batch, k] and L is [k, k], shared by the batch (only
// its lower triangle is read by log_prob; rsample uses L as given).
struct FullGaussian {
  ad::Tensor mu, L;

  // z = mu + L eps, eps ~ N(0, I): row by row z^T = mu^T + eps^T L^T, [batch, k].
  ad::Tensor rsample(ad::Rng& rng) const;
  ad::Tensor rsample_from(const ad::Tensor& eps) const;
  ad::Tensor sample(ad::Rng& rng) const;

  // log q(z) = -k/2 log(2 pi) - sum_i log L_ii - 1/2 |eps|^2 with eps = L^-1 (z - mu)
  // (forward substitution, recorded), [batch]. log |det Sigma| = 2 sum_i log L_ii.
  ad::Tensor log_prob(const ad::Tensor& z) const;
  // H[q] = k/2 (log(2 pi) + 1) + sum_i log L_ii, a scalar tensor.
  ad::Tensor entropy() const;
  // The diagonal of L as [k], recorded.
  ad::Tensor diagonal() const;
};

// Independent Bernoulli variables with P(x_i = 1) = sigmoid(logits_i); logits [batch, d].
struct Bernoulli {
  ad::Tensor logits;

  // log p(x) = sum_i [ x_i log sigmoid(l_i) + (1 - x_i) log sigmoid(-l_i) ], [batch];
  // log sigmoid is evaluated stably (never log of 0), and x may be any value in [0, 1].
  ad::Tensor log_prob(const ad::Tensor& x) const;
  ad::Tensor probs() const;  // sigmoid(logits)
  // x_i = 1 if u_i < sigmoid(l_i), u_i ~ Uniform(0, 1); no gradient.
  ad::Tensor sample(ad::Rng& rng) const;
  // H = sum_i -[p_i log p_i + (1 - p_i) log(1 - p_i)], [batch].
  ad::Tensor entropy() const;
};

// One categorical variable per row, P(y = c) = softmax(logits)_c; logits [batch, C].
struct Categorical {
  ad::Tensor logits;

  // log p(y) = log_softmax(logits)[y]: one class index per row, [batch].
  ad::Tensor log_prob(const std::vector<int64_t>& y) const;
  ad::Tensor probs() const;  // softmax(logits), [batch, C]
  // One class per row by inverting the cumulative distribution at u ~ Uniform(0, 1).
  std::vector<int64_t> sample(ad::Rng& rng) const;
  // H = -sum_c p_c log p_c, [batch].
  ad::Tensor entropy() const;
};

}  // namespace vae
