// The conditional VAE (notes 003 "Conditional VAE" and 004 "Conditional VAE on MNIST"):
// the label c of an image is given to both networks, as a one-hot vector concatenated to
// their inputs,
//
//   encoder (phi):   [x, onehot(c)] -> h -> [mu, logvar]   q_phi(z|x,c)   = N(mu, diag(exp(logvar)))
//   decoder (theta): [z, onehot(c)] -> h -> logits l        p_theta(x|z,c) = Bernoulli(sigmoid(l))
//   prior:           p(z|c) = p(z) = N(0, I)                (the prior ignores c, as in 004)
//
// and the conditional ELBO bounds the conditional evidence:
//   log p(x|c) >= E_q(z|x,c)[log p_theta(x|z,c)] - KL(q_phi(z|x,c) || N(0, I)).
// Generating a chosen class c: draw z ~ N(0, I) and decode [z, onehot(c)].
//
// Example:
//   vae::Cvae model({.input_dim = 784, .num_classes = 10, .latent_dim = 2}, rng);
//   vae::ElboTerms terms = model.elbo(batch.x, batch.y, rng);  // -ELBO, mean over the batch
//   ad::backward(terms.loss);
//   ad::Tensor boots = model.generate(9, 8, rng);              // 8 images of class 9, [8, 784]
#pragma once
#include <cstdint>
#include <vector>

#include "autodiff/rng.h"
#include "autodiff/tensor.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "vae/distributions.h"
#include "vae/models.h"

namespace vae {

struct CvaeConfig {
  int64_t input_dim = 784;
  int num_classes = 10;
  std::vector<int64_t> hidden = {256, 64};  // encoder widths; the decoder mirrors them
  int64_t latent_dim = 2;
  ad::DType dtype = ad::f32;
};

class Cvae : public nn::Module {
 public:
  Cvae(const CvaeConfig& config, ad::Rng& rng);

  // onehot(c) of each label, [batch, num_classes] (a constant); throws on a bad label.
  ad::Tensor one_hot(const std::vector<int64_t>& labels) const;

  // q_phi(z|x,c) from encoder([x, onehot(c)]).
  DiagGaussian encode(const ad::Tensor& x, const std::vector<int64_t>& labels);
  // The logits l of p_theta(x|z,c) from decoder([z, onehot(c)]), [batch, input_dim].
  ad::Tensor decode(const ad::Tensor& z, const std::vector<int64_t>& labels);
  // E[x|z,c] = sigmoid(l).
  ad::Tensor decode_mean(const ad::Tensor& z, const std::vector<int64_t>& labels);
  // -log p_theta(x|z,c) of each example from the logits (Bernoulli), [batch].
  ad::Tensor negative_log_likelihood(const ad::Tensor& logits, const ad::Tensor& x) const;

  // The negative conditional ELBO with L samples, mean over the batch (as Vae::elbo):
  //   1/L sum_l -log p_theta(x|z^[l],c) + KL(q_phi(z|x,c) || N(0, I)).
  ElboTerms elbo(const ad::Tensor& x, const std::vector<int64_t>& labels, ad::Rng& rng, int L = 1,
                 double beta = 1.0);
  ElboTerms elbo_from_eps(const ad::Tensor& x, const std::vector<int64_t>& labels,
                          const std::vector<ad::Tensor>& eps, double beta = 1.0);

  // n images of class `label`: E[x|z,c] for z ~ N(0, I), [n, input_dim].
  ad::Tensor generate(int64_t label, int64_t n, ad::Rng& rng);

  const CvaeConfig& config() const { return config_; }

  nn::Sequential encoder, decoder;

 private:
  CvaeConfig config_;
};

}  // namespace vae
