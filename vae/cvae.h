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
//   vae::ElboTerms terms = vae::negative_elbo(vae::Conditioned{model, batch.y}, batch.x, rng);
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
#include "vae/encoder_decoder.h"
#include "vae/latent_model.h"

namespace vae {

struct CvaeConfig {
  int64_t input_dim = 784;
  int num_classes = 10;
  std::vector<int64_t> hidden = {256, 64};  // encoder widths; the decoder mirrors them
  int64_t latent_dim = 2;
  ad::DType dtype = ad::f32;
};

class Cvae : public EncoderDecoder<CvaeConfig> {
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

  // n images of class `label`: E[x|z,c] for z ~ N(0, I), [n, input_dim].
  ad::Tensor generate(int64_t label, int64_t n, ad::Rng& rng);

};

// The conditional VAE with the labels c of one batch fixed: q_phi(z|x,c) and p_theta(x|z,c)
// as functions of x and z alone, so the view is a ReparameterizedModel (latent_model.h) and
// the -ELBO, the IWAE bound and sampling written for every model serve the conditional
// one too: negative_elbo(Conditioned{cvae, c}, x, rng) is the negative conditional ELBO
//   1/L sum_l -log p_theta(x|z^[l],c) + KL(q_phi(z|x,c) || N(0, I)).
// The view holds references: the model and the labels must outlive it.
struct Conditioned {
  Cvae& model;
  const std::vector<int64_t>& labels;

  DiagGaussian encode(const ad::Tensor& x) { return model.encode(x, labels); }
  ad::Tensor decode(const ad::Tensor& z) { return model.decode(z, labels); }
  ad::Tensor decode_mean(const ad::Tensor& z) { return model.decode_mean(z, labels); }
  ad::Tensor negative_log_likelihood(const ad::Tensor& logits, const ad::Tensor& x) const {
    return model.negative_log_likelihood(logits, x);
  }
  int64_t latent_dim() const { return model.latent_dim(); }
  ad::DType dtype() const { return model.dtype(); }
};

}  // namespace vae
