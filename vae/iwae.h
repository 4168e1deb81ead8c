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
//   ad::Tensor conditional = vae::iwae_bound(cvae, x, labels, rng, 50);  // log p(x|c), [batch]
#pragma once
#include <vector>

#include "autodiff/rng.h"
#include "autodiff/tensor.h"
#include "vae/cvae.h"
#include "vae/distributions.h"
#include "vae/linear_gaussian.h"
#include "vae/models.h"

namespace vae {

// log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x), z_k = mu + exp(logvar/2) * eps[k],
// for any model with a diagonal Gaussian encoder and the prior N(0, I) (as
// vae::negative_elbo): q = q_phi(z|x) of the batch, nll(z) = -log p_theta(x|z) of each example ([batch]), eps
// K tensors [batch, latent_dim]. Returns [batch, K], recorded.
ad::Tensor iwae_log_weights(const DiagGaussian& q, const NegativeLogLikelihood& nll,
                            const std::vector<ad::Tensor>& eps);
// The same for a Vae, with the given q (normally model.encode(x)).
ad::Tensor iwae_log_weights(Vae& model, const DiagGaussian& q, const ad::Tensor& x,
                            const std::vector<ad::Tensor>& eps);

// One estimate of L_K per example: logsumexp_k(log w_k) - log K, [batch], recorded.
ad::Tensor iwae_bound_from_eps(Vae& model, const ad::Tensor& x, const std::vector<ad::Tensor>& eps);
// The same with K fresh eps drawn from rng.
ad::Tensor iwae_bound(Vae& model, const ad::Tensor& x, ad::Rng& rng, int K);
// The training loss: -mean over the batch of the K-sample bound, a scalar.
ad::Tensor iwae_loss(Vae& model, const ad::Tensor& x, ad::Rng& rng, int K);

// The conditional VAE's bound on log p(x|c): q_phi(z|x,c), p_theta(x|z,c), p(z|c) = N(0, I).
ad::Tensor iwae_bound_from_eps(Cvae& model, const ad::Tensor& x,
                               const std::vector<int64_t>& labels,
                               const std::vector<ad::Tensor>& eps);
ad::Tensor iwae_bound(Cvae& model, const ad::Tensor& x, const std::vector<int64_t>& labels,
                      ad::Rng& rng, int K);

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
