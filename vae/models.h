// The variational autoencoder of the notes (003, Corollary 1.3: the AEVB algorithm) as an
// MLP: an encoder q_phi(z|x) = N(mu, diag(exp(logvar))) and a decoder p_theta(x|z).
//
//   encoder (phi):   x -> h -> [mu, logvar]                (one Linear gives both, split)
//   decoder (theta): z -> h -> logits l,  theta = sigmoid(l)  (Bernoulli, eq. of Example 1.2)
//                    or z -> h -> mean mu_theta(z)           (Gaussian with a fixed sigma)
//
// The loss is the negative ELBO of note 000, per example, estimated with L samples:
//   -ELBO(x) ~= 1/L sum_l -log p_theta(x | z^[l]) + KL(q_phi(z|x) || N(0, I)),
//   z^[l] = mu + exp(logvar / 2) * eps^[l],  eps^[l] ~ N(0, I)   (reparameterization)
//   Bernoulli: -log p_theta(x|z) = -sum_i [x_i log theta_i + (1 - x_i) log(1 - theta_i)]
//   KL = 1/2 sum_k (exp(logvar_k) + mu_k^2 - 1 - logvar_k)          (closed form)
// Every term is summed over pixels and latent dimensions and averaged over the batch
// (nn::Reduction::sum / batch size: never a mean over pixels, see nn/loss.h).
//
// Example:
//   ad::Rng rng(42);
//   vae::Vae model({.input_dim = 784, .hidden = {256, 64}, .latent_dim = 2}, rng);
//   vae::ElboTerms terms = model.elbo(batch.x, rng);   // L = 1, beta = 1
//   ad::backward(terms.loss);                          // gradients reach phi through z
//   ad::Tensor images = model.sample(64, rng);         // decode z ~ N(0, I)
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "autodiff/rng.h"
#include "autodiff/tensor.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "vae/distributions.h"

namespace vae {

enum class Likelihood { bernoulli, gaussian };

struct VaeConfig {
  int64_t input_dim = 784;
  std::vector<int64_t> hidden = {256, 64};  // encoder widths; the decoder mirrors them
  int64_t latent_dim = 2;
  Likelihood likelihood = Likelihood::bernoulli;
  double sigma = 1.0;  // the fixed standard deviation of the Gaussian decoder
  ad::DType dtype = ad::f32;
};

// The negative ELBO and its two parts, each a scalar: the mean over the batch of
// per-example sums. loss = reconstruction + beta * kl.
struct ElboTerms {
  ad::Tensor loss;            // -ELBO (for beta = 1)
  ad::Tensor reconstruction;  // 1/L sum_l -log p_theta(x | z^[l])
  ad::Tensor kl;              // KL(q_phi(z|x) || N(0, I)), analytic
};

// The -ELBO of each example separately, as plain numbers, for evaluations that look at
// the spread over a test set (standard errors, paired differences between models).
// append() takes one batch: -log p_theta(x|z) [batch] for one z ~ q per example, and
// KL(q || N(0, I)) [batch]; loss = reconstruction + kl for each example.
struct PerExampleElbo {
  std::vector<double> reconstruction, kl, loss;
  void append(const ad::Tensor& nll, const ad::Tensor& kl_to_prior);
};

// The -ELBO estimate every VAE with a diagonal Gaussian encoder shares (vae::Vae,
// vae::ConvVae): given q = q_phi(z|x) for a batch, a function `nll` mapping a latent
// batch z [batch, k] to -log p_theta(x | z) of each example ([batch]: it decodes z and
// scores x), and L noise tensors eps [batch, k],
//   reconstruction = 1/(L batch) sum_l sum_i nll(mu + exp(logvar/2) * eps^[l])_i
//   kl             = 1/batch sum_i KL(q_phi(z|x_i) || N(0, I))   (analytic)
//   loss           = reconstruction + beta * kl
// all recorded on the tape. Throws when eps is empty.
using NegativeLogLikelihood = std::function<ad::Tensor(const ad::Tensor& z)>;
ElboTerms negative_elbo(const DiagGaussian& q, const NegativeLogLikelihood& nll,
                        const std::vector<ad::Tensor>& eps, double beta = 1.0);

class Vae : public nn::Module {
 public:
  Vae(const VaeConfig& config, ad::Rng& rng);

  // q_phi(z|x): mu and logvar, each [batch, latent_dim].
  DiagGaussian encode(const ad::Tensor& x);
  // The decoder's raw output for z: the logits l (Bernoulli) or the mean (Gaussian), [batch, d].
  ad::Tensor decode(const ad::Tensor& z);
  // E[x|z]: theta = sigmoid(l) (Bernoulli) or the mean (Gaussian), [batch, d].
  ad::Tensor decode_mean(const ad::Tensor& z);
  // -log p_theta(x|z) of each example from the decoder's output, [batch]
  // (Bernoulli: through nn::bce_with_logits; Gaussian: nn::gaussian_nll with sigma).
  ad::Tensor negative_log_likelihood(const ad::Tensor& decoded, const ad::Tensor& x) const;
  // The decoder's mean at the posterior mean: decode_mean(mu(x)).
  ad::Tensor reconstruct(const ad::Tensor& x);
  // n images decoded from z ~ N(0, I): their means E[x|z], [n, d].
  ad::Tensor sample(int64_t n, ad::Rng& rng);

  // -ELBO with L samples z^[l] = mu + exp(logvar/2) eps^[l] drawn from rng, recorded.
  ElboTerms elbo(const ad::Tensor& x, ad::Rng& rng, int L = 1, double beta = 1.0);
  // The same with the noise given: eps holds L tensors [batch, latent_dim].
  ElboTerms elbo_from_eps(const ad::Tensor& x, const std::vector<ad::Tensor>& eps,
                          double beta = 1.0);

  const VaeConfig& config() const { return config_; }

  nn::Sequential encoder, decoder;

 private:
  VaeConfig config_;
};

}  // namespace vae
