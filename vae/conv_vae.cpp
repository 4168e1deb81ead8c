// The convolutional VAE: the layers of the Keras VAE demo, one per line, with the Keras
// line each one stands for. See conv_vae.h for the shapes.
//
// Where our form differs from the demo's:
//   - padding: Keras's padding="same" with stride 2 pads a 28-pixel row with 0 pixels
//     at the top/left and 1 at the bottom/right (TensorFlow puts the odd pixel last);
//     PyTorch's form pads 1 on both sides. Same output sizes and parameter counts, but
//     the kernel sits one pixel up and left. For the stride-2 transposed convolutions
//     the same difference shows as padding 1 plus output_padding 1. With stride 1
//     (the last layer) "same" is padding 1 on both sides: identical.
//   - layout: NCHW (channels first), so Flatten and Reshape order the 3136 values channel
//     by channel where Keras's NHWC orders them pixel by pixel. A permutation of the
//     Linear layers' rows or columns: the same family of functions.
//   - z_mean and z_log_var are two Dense(latent_dim) layers in Keras; here one
//     Linear(16, 2 latent_dim) whose outputs are split (the same parameters, side by side).
//   - the decoder ends in logits, and the loss applies the sigmoid inside a stable BCE
//     (nn::bce_with_logits); Keras applies a sigmoid activation and then clips the
//     probabilities to [1e-7, 1 - 1e-7] in binary_crossentropy.
//   - initialisation: the project's Kaiming-uniform weights and zero biases (Keras:
//     Glorot-uniform weights, zero biases; PyTorch: Kaiming-uniform with a = sqrt(5)).
#include "vae/conv_vae.h"

#include <fmt/format.h>

#include "autodiff/ops.h"
#include "autodiff/shape.h"
#include "nn/conv.h"
#include "nn/loss.h"

namespace vae {

namespace {
constexpr int64_t kFlat = 64 * 7 * 7;  // 3136 values between the convolutions and Dense(16)
}

ConvVae::ConvVae(const ConvVaeConfig& config, ad::Rng& rng) : EncoderDecoder(config) {
  if (config.latent_dim < 1) throw ad::Error("ConvVae: latent_dim must be positive");
  const ad::DType dt = config.dtype;
  const int64_t k = config.latent_dim;
  // encoder_inputs = keras.Input(shape=(28, 28, 1))            -> x [N, 1, 28, 28]
  // Conv2D(32, 3, activation="relu", strides=2, padding="same") -> [N, 32, 14, 14]
  encoder.add<nn::Conv2d>(1, 32, 3, rng, nn::ConvOptions{.stride = 2, .padding = 1, .dtype = dt});
  encoder.add<nn::ReLU>();
  // Conv2D(64, 3, activation="relu", strides=2, padding="same") -> [N, 64, 7, 7]
  encoder.add<nn::Conv2d>(32, 64, 3, rng, nn::ConvOptions{.stride = 2, .padding = 1, .dtype = dt});
  encoder.add<nn::ReLU>();
  // Flatten()                                                   -> [N, 3136]
  encoder.add<nn::Flatten>();
  // Dense(16, activation="relu")                                -> [N, 16]
  encoder.add<nn::Linear>(kFlat, 16, rng, true, dt);
  encoder.add<nn::ReLU>();
  // Dense(latent_dim, name="z_mean") and Dense(latent_dim, name="z_log_var"), side by side
  encoder.add<nn::Linear>(16, 2 * k, rng, true, dt);  //       -> [N, 2 latent_dim]

  // latent_inputs = keras.Input(shape=(latent_dim,))            -> z [N, latent_dim]
  // Dense(7 * 7 * 64, activation="relu")                        -> [N, 3136]
  decoder.add<nn::Linear>(k, kFlat, rng, true, dt);
  decoder.add<nn::ReLU>();
  // Reshape((7, 7, 64))                                         -> [N, 64, 7, 7]
  decoder.add<nn::Reshape>(ad::Shape{-1, 64, 7, 7});
  // Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same") -> [N, 64, 14, 14]
  decoder.add<nn::ConvTranspose2d>(
      64, 64, 3, rng, nn::ConvOptions{.stride = 2, .padding = 1, .output_padding = 1, .dtype = dt});
  decoder.add<nn::ReLU>();
  // Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same") -> [N, 32, 28, 28]
  decoder.add<nn::ConvTranspose2d>(
      64, 32, 3, rng, nn::ConvOptions{.stride = 2, .padding = 1, .output_padding = 1, .dtype = dt});
  decoder.add<nn::ReLU>();
  // Conv2DTranspose(1, 3, activation="sigmoid", padding="same") -> [N, 1, 28, 28]
  // (logits: the sigmoid is applied by decode_mean and inside the loss)
  decoder.add<nn::ConvTranspose2d>(32, 1, 3, rng,
                                   nn::ConvOptions{.stride = 1, .padding = 1, .dtype = dt});
}

void ConvVae::check_images(const char* where, const ad::Tensor& x) const {
  if (x.rank() != 4 || x.dim(1) != 1 || x.dim(2) != kImageSize || x.dim(3) != kImageSize)
    throw ad::Error(fmt::format(
        "ConvVae::{}: images have shape {}; expected [N, 1, 28, 28] (draw batches with "
        "nn::BatchOptions{{.layout = nn::ImageLayout::nchw}} or use Dataset::images_nchw())",
        where, ad::to_string(x.shape())));
}

// z_mean, z_log_var = the two halves of the encoder's last layer.
DiagGaussian ConvVae::encode(const ad::Tensor& x) {
  check_images("encode", x);
  ad::Tensor h = encoder(x);
  const int64_t k = config_.latent_dim;
  return {ad::slice(h, 1, 0, k), ad::slice(h, 1, k, 2 * k)};
}

ad::Tensor ConvVae::decode(const ad::Tensor& z) {
  if (z.rank() != 2 || z.dim(1) != config_.latent_dim)
    throw ad::Error(fmt::format("ConvVae::decode: z has shape {}; expected [N, {}]",
                                            ad::to_string(z.shape()), config_.latent_dim));
  return decoder(z);
}

ad::Tensor ConvVae::decode_mean(const ad::Tensor& z) { return ad::sigmoid(decode(z)); }

// reconstruction_loss = sum over (28, 28) of binary_crossentropy(data, reconstruction):
//   -sum_i [x_i log theta_i + (1 - x_i) log(1 - theta_i)], theta = sigmoid(l), per image.
// (The demo's total_loss = reconstruction_loss + kl_loss, each a mean over the batch of
// per-image sums, is vae::negative_elbo of latent_model.h; its Sampling() draws eps there.)
ad::Tensor ConvVae::negative_log_likelihood(const ad::Tensor& logits, const ad::Tensor& x) const {
  const ad::Shape rows{x.dim(0), -1};  // [N, 1, 28, 28] as [N, 784]: a view
  return nn::bce_with_logits_row_sums(ad::reshape(logits, rows), ad::reshape(x, rows));  // [N]
}

}  // namespace vae
