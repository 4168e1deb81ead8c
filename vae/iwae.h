// The importance-weighted autoencoder bound (IWAE; note 003, "Importance weighted
// autoencoders"): with K samples z_k ~ q(z|x),
//
//   L_K(x) = E[ log 1/K sum_k w_k ],   w_k = p(x, z_k) / q(z_k|x) = p(x|z_k) p(z) / q(z_k|x).
//
// L_1 is the ELBO; L_K <= L_{K+1} <= log p(x) (Jensen on the average of K weights, and a
// K-average is an average of (K-1)-averages), and L_K -> log p(x) as K -> infinity
// (the average of the weights tends to E_q[w] = p(x)).
//
// The weights are far below the smallest double (log w ~ -250 nats for an image), so
// everything is done on log w: log 1/K sum_k w_k = logsumexp_k(log w_k) - log K, recorded
// on the tape with ad::logsumexp (max-shifted), so the bound can be trained.
//
// Example:
//   vae::Vae model({.input_dim = 784, .hidden = {256, 64}, .latent_dim = 2}, rng);
//   ad::Tensor bound = vae::iwae_bound(model, x, rng, 50);   // [batch], one estimate each
//   ad::Tensor loss = vae::iwae_loss(model, x, rng, 50);     // -mean(bound), a scalar
//   ad::backward(loss);
//   vae::Conditioned given_labels{cvae, labels};
//   ad::Tensor conditional = vae::iwae_bound(given_labels, x, rng, 50);  // log p(x|c), [batch]
#pragma once
#include <string>
#include <vector>

#include "autodiff/rng.h"
#include "autodiff/tensor.h"
#include "vae/distributions.h"
#include "vae/linear_gaussian.h"
#include "vae/latent_model.h"

namespace vae {

// log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x), z_k = mu + exp(logvar/2) * eps[k],
// for a diagonal Gaussian q = q_phi(z|x) of the batch and the prior N(0, I): nll(z) =
// -log p_theta(x|z) of each example ([batch]), eps K tensors [batch, latent_dim].
// Returns [batch, K], recorded.
ad::Tensor iwae_log_weights(const DiagGaussian& q, const NegativeLogLikelihood& nll,
                            const std::vector<ad::Tensor>& eps);
// The same for a model (latent_model.h) whose q_phi(z|x) is diagonal Gaussian, with the
// given q (normally model.encode(x)).
template <ReparameterizedModel M>
ad::Tensor iwae_log_weights(M& model, const DiagGaussian& q, const ad::Tensor& x,
                            const std::vector<ad::Tensor>& eps) {
  return iwae_log_weights(
      q, [&](const ad::Tensor& z) { return negative_log_likelihood(model, x, z); }, eps);
}

// logsumexp_k(log w_k) - log K of log weights [batch, K]: one estimate of L_K per example.
ad::Tensor bound_from_log_weights(const ad::Tensor& log_w);

// One estimate of L_K per example: logsumexp_k(log w_k) - log K, [batch], recorded.
// For the conditional VAE's bound on log p(x|c), pass vae::Conditioned{cvae, labels}.
template <ReparameterizedModel M>
ad::Tensor iwae_bound_from_eps(M& model, const ad::Tensor& x, const std::vector<ad::Tensor>& eps) {
  return bound_from_log_weights(iwae_log_weights(model, model.encode(x), x, eps));
}
// The same with K fresh eps drawn from rng.
template <ReparameterizedModel M>
ad::Tensor iwae_bound(M& model, const ad::Tensor& x, ad::Rng& rng, int K) {
  if (K < 1) throw ad::Error("iwae_bound: K must be at least 1, got " + std::to_string(K));
  return iwae_bound_from_eps(model, x, draw_noise(model, x, rng, K));
}
// The training loss: -mean over the batch of the K-sample bound, a scalar.
template <ReparameterizedModel M>
ad::Tensor iwae_loss(M& model, const ad::Tensor& x, ad::Rng& rng, int K) {
  return -ad::mean(iwae_bound(model, x, rng, K));
}

// log 1/K sum_k exp(a_k), max-shifted, in plain double (a must not be empty).
double log_mean_exp(const std::vector<double>& a);

// The linear-Gaussian model (vae/linear_gaussian.h), where log p(x) is exact: the log
// weights log p(x, z_k) - log q(z_k) of K draws z_k ~ q (plain double), and one
// estimate of L_K = log_mean_exp of them.
std::vector<double> iwae_log_weights(const LinearGaussian& model, const std::vector<double>& x,
                                     const Gaussian& q, int K, ad::Rng& rng);
double iwae_bound(const LinearGaussian& model, const std::vector<double>& x, const Gaussian& q,
                  int K, ad::Rng& rng);

}  // namespace vae
