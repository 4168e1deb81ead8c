// A convolutional VAE for 28x28 one-channel images: the Keras VAE demo (keras-io,
// examples/generative/vae.py) written with PyTorch's layer forms.
//
//   encoder (phi):   x [N,1,28,28] -> conv 3x3 /2 (32) -> conv 3x3 /2 (64) -> flatten 3136
//                    -> dense 16 -> dense 2k, split into mu and logvar [N, k]
//   decoder (theta): z [N, k] -> dense 3136 -> reshape [N,64,7,7] -> conv^T 3x3 x2 (64)
//                    -> conv^T 3x3 x2 (32) -> conv^T 3x3 (1) -> logits l [N,1,28,28]
//   likelihood:      Bernoulli, theta = sigmoid(l), pixel by pixel
//
// Its loss is the same -ELBO as vae::Vae's (vae::negative_elbo, latent_model.h): BCE summed
// over the 784 pixels + analytic KL summed over the latent dimensions, averaged over the
// batch; x may be any intensity in [0, 1] (grey pixels, not only 0 or 1).
//
// Shapes through the network (the padding-1 convolutions halve 28 -> 14 -> 7, and the
// transposed ones with output_padding 1 double 7 -> 14 -> 28):
//   encoder.0 Conv2d(1, 32, 3, stride 2, padding 1)    [N,1,28,28]  -> [N,32,14,14]
//   encoder.2 Conv2d(32, 64, 3, stride 2, padding 1)   [N,32,14,14] -> [N,64,7,7]
//   encoder.5 Linear(3136, 16), encoder.7 Linear(16, 2k)
//   decoder.0 Linear(k, 3136), decoder.2 reshape       [N,3136]     -> [N,64,7,7]
//   decoder.3 ConvTranspose2d(64, 64, 3, s 2, p 1, op 1) [N,64,7,7]   -> [N,64,14,14]
//   decoder.5 ConvTranspose2d(64, 32, 3, s 2, p 1, op 1) [N,64,14,14] -> [N,32,28,28]
//   decoder.7 ConvTranspose2d(32, 1, 3, s 1, p 1)        [N,32,28,28] -> [N,1,28,28]
// (the odd indices in between are the ReLUs, index 4 of the encoder is the Flatten).
//
// Example:
//   ad::Rng rng(42);
//   vae::ConvVae model({.latent_dim = 2}, rng);
//   nn::BatchIterator batches(train, {.batch_size = 128, .layout = nn::ImageLayout::nchw});
//   vae::ElboTerms terms = vae::negative_elbo(model, batch.x, rng);  // x [128, 1, 28, 28]
//   ad::backward(terms.loss);
//   ad::Tensor images = vae::sample(model, 64, rng);   // [64, 1, 28, 28] in (0, 1)
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

struct ConvVaeConfig {
  int64_t latent_dim = 2;  // the Keras demo's latent_dim
  ad::DType dtype = ad::f32;
};

class ConvVae : public EncoderDecoder<ConvVaeConfig> {
 public:
  static constexpr int64_t kImageSize = 28;  // input and output images are 28 x 28, 1 channel

  ConvVae(const ConvVaeConfig& config, ad::Rng& rng);

  // q_phi(z|x) for x [N, 1, 28, 28]: mu and logvar, each [N, latent_dim].
  DiagGaussian encode(const ad::Tensor& x);
  // The logits l of p_theta(x|z) for z [N, latent_dim], [N, 1, 28, 28].
  ad::Tensor decode(const ad::Tensor& z);
  // E[x|z] = theta = sigmoid(l), [N, 1, 28, 28].
  ad::Tensor decode_mean(const ad::Tensor& z);
  // -log p_theta(x|z) of each example from the logits: BCE summed over the pixels, [N].
  ad::Tensor negative_log_likelihood(const ad::Tensor& logits, const ad::Tensor& x) const;

 private:
  void check_images(const char* where, const ad::Tensor& x) const;
};

}  // namespace vae
