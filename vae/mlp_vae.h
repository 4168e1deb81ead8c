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
//   vae::ElboTerms terms = vae::negative_elbo(model, batch.x, rng);  // L = 1, beta = 1
//   ad::backward(terms.loss);                       // gradients reach phi through z
//   ad::Tensor images = vae::sample(model, 64, rng);  // decode z ~ N(0, I)
// (the -ELBO, sampling and reconstruction are written once for every model: latent_model.h)
#pragma once
#include <cstdint>
#include <vector>

#include "autodiff/rng.h"
#include "autodiff/tensor.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "vae/distributions.h"
#include "vae/encoder_decoder.h"
#include "vae/latent_model.h"

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

class Vae : public EncoderDecoder<VaeConfig> {
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
};

}  // namespace vae
