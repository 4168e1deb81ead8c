// A VAE whose posterior has a full covariance (notes 003, footnote 4: the "full-variance
// Gaussian posterior" through a Cholesky factor; L29 on a real model, tutorial 12).
//
//   q_phi(z|x) = N(mu, Sigma),  Sigma = L L^T,  L lower triangular with a positive diagonal
//   encoder_phi(x) = [mu (k) | d (k) | l (k(k-1)/2)]:  L_ii = exp(d_i),  L_ij = l_(ij) for i > j
//   z = mu + L eps,  eps ~ N(0, I)                          (reparameterization, eq. 28)
//   log q(z|x) = log N(eps; 0, I) - sum_i log L_ii          (change of variables, eq. 44:
//                                                           |det dz/deps| = prod_i L_ii)
//   KL(q || N(0, I)) = 1/2 [tr(Sigma) + mu^T mu - k - log det Sigma]
//                    = 1/2 [sum_ij L_ij^2 + mu^T mu - k] - sum_i d_i
// The diagonal VAE (vae::Vae) is the special case l = 0, with d = logvar / 2.
//
//   vae::FullCovVae model({.latent_dim = 10}, rng);
//   ad::Tensor loss = vae::negative_elbo(model, x, rng).loss;   // recorded; L = 1
// (a ReparameterizedModel of latent_model.h: the -ELBO and IWAE bound are the shared ones)
#pragma once
#include <cstdint>
#include <vector>

#include "autodiff/rng.h"
#include "autodiff/tensor.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "vae/encoder_decoder.h"
#include "vae/latent_model.h"

namespace vae {

// A batch of N(mu_i, L_i L_i^T): mu [n, k], L [n, k, k], log_diagonal = log L_ii [n, k].
struct CholeskyGaussian {
  ad::Tensor mu, L, log_diagonal;

  int64_t dim() const { return mu.dim(1); }
  // z = mu + L eps for eps [n, k], recorded.
  ad::Tensor rsample_from(const ad::Tensor& eps) const;
  // KL(q || N(0, I)) of each row, [n], recorded.
  ad::Tensor kl_to_standard() const;
  // log q(z) of z = mu + L eps from its eps: log N(eps; 0, I) - sum_i log L_ii, [n].
  ad::Tensor log_prob_from_eps(const ad::Tensor& eps) const;
  // Sigma = L L^T, [n, k, k].
  ad::Tensor covariance() const;
};

struct FullCovVaeConfig {
  int64_t input_dim = 784;
  std::vector<int64_t> hidden = {256, 64};  // encoder widths; the decoder mirrors them
  int64_t latent_dim = 10;
  ad::DType dtype = ad::f32;
};

class FullCovVae : public EncoderDecoder<FullCovVaeConfig> {
 public:
  FullCovVae(const FullCovVaeConfig& config, ad::Rng& rng);

  CholeskyGaussian encode(const ad::Tensor& x);
  // The logits l of p_theta(x|z) (Bernoulli decoder), [n, input_dim].
  ad::Tensor decode(const ad::Tensor& z) { return decoder(z); }
  // E[x|z] = sigmoid(l).
  ad::Tensor decode_mean(const ad::Tensor& z);
  // -log p_theta(x|z) of each row from the logits, [n].
  ad::Tensor negative_log_likelihood(const ad::Tensor& logits, const ad::Tensor& x) const;


 private:
  std::vector<int64_t> lower_index_;  // gather index placing l into a k x k matrix
};

}  // namespace vae
