// The stacked and the denoising autoencoder of the slides (note 000, "Stacked AutoEncoders
// for image reconstruction"): the deterministic baseline the VAE is compared against.
//
//   encoder g_phi:   x -> sizes[1] -> ... -> z         (ReLU between layers, a linear code z)
//   decoder f_theta: z -> ... -> sizes[1] -> x_rec     (the mirror image, sigmoid at the end
//                                                       so that every pixel lies in (0, 1))
//
// Cost of a batch of n images, (.)^2 the squared Euclidean norm over the pixels:
//   stacked AE:    L(theta, phi) = 1/n sum_i (x^(i) - f_theta(g_phi(x^(i))))^2
//   denoising AE:  L(theta, phi) = 1/n sum_i (x^(i) - f_theta(g_phi(x^^(i))))^2
// where the encoder of the denoising AE sees a corrupted copy x^^(i) = corrupt(x^(i)) and
// the cost still compares with the clean image. The two share this class: train on
// cost(x, x) for the stacked AE, on cost(corrupt(x, noise, rng), x) for the denoising one.
//
// Parameter names (as saved in a checkpoint): encoder.0.weight, encoder.0.bias,
// encoder.2.weight, ..., decoder.4.bias (the odd indices are the ReLUs). The initial
// weights are drawn from rng layer by layer, the encoder's first, so a seed fixes them.
//
// Example:
//   ad::Rng rng(42);
//   vae::Autoencoder ae({784, 256, 64, 2}, rng);      // 784-256-64-2-64-256-784
//   ad::Tensor loss = ae.cost(batch.x, batch.x);       // stacked AE, a scalar
//   ad::backward(loss);
//   ad::Tensor z = ae.encode(images);                  // codes, [n, 2]
//   nn::load_checkpoint("out/01_autoencoder/autoencoder.ckpt", ae);  // tutorial 01's
#pragma once
#include <cstdint>
#include <vector>

#include "autodiff/rng.h"
#include "autodiff/tensor.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace vae {

class Autoencoder : public nn::Module {
 public:
  // sizes = {input, hidden..., code}: at least an input and a code width, all positive
  // (throws ad::Error otherwise).
  Autoencoder(const std::vector<int64_t>& sizes, ad::Rng& rng, ad::DType dtype = ad::f32);

  // z = g_phi(x), [n, code].
  ad::Tensor encode(const ad::Tensor& x);
  // f_theta(z) = sigmoid(decoder(z)), [n, input].
  ad::Tensor decode(const ad::Tensor& z);
  // f_theta(g_phi(x)).
  ad::Tensor reconstruct(const ad::Tensor& x);

  // The notes' cost 1/n sum_i ||target_i - f_theta(g_phi(input_i))||^2, recorded: the
  // stacked AE with input = target, the denoising AE with input a corrupted target.
  ad::Tensor cost(const ad::Tensor& input, const ad::Tensor& target);

  // ||target_i - f_theta(g_phi(input_i))||^2 of every row i, not recorded (in chunks of
  // 1000 rows, so a whole test set fits in memory).
  std::vector<double> squared_errors(const ad::Tensor& input, const ad::Tensor& target);

  // The Linear layers in the order of named_parameters() (weight, bias, weight, ...).
  std::vector<nn::Linear*> linear_layers();

  const std::vector<int64_t>& sizes() const { return sizes_; }

  nn::Sequential encoder, decoder;

 private:
  std::vector<int64_t> sizes_;
};

// The denoising AE's corruption x^ = clamp(x + noise * eps, 0, 1), eps ~ N(0, I), drawn
// from rng (not recorded).
ad::Tensor corrupt(const ad::Tensor& x, double noise, ad::Rng& rng);

}  // namespace vae
