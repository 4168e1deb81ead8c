#include "vae/mlp_vae.h"

#include "autodiff/ops.h"
#include "autodiff/shape.h"
#include "autodiff/tape.h"
#include "nn/loss.h"

namespace vae {

Vae::Vae(const VaeConfig& config, ad::Rng& rng) : EncoderDecoder(config) {
  if (config.latent_dim < 1 || config.input_dim < 1)
    throw ad::Error("Vae: input_dim and latent_dim must be positive");
  // encoder: input -> hidden... -> 2 * latent (mu and logvar side by side);
  // decoder: the same widths reversed, from the latent code back to the input
  add_mirrored_mlps(config.input_dim, 2 * config.latent_dim, config.latent_dim, config.input_dim,
                    rng);
}

// excerpt: encode
// [mu, logvar] = E_phi(x): the first latent_dim columns are mu, the rest logvar.
DiagGaussian Vae::encode(const ad::Tensor& x) {
  ad::Tensor h = encoder(x);
  const int64_t k = config_.latent_dim;
  return {ad::slice(h, 1, 0, k), ad::slice(h, 1, k, 2 * k)};
}
// end excerpt: encode

ad::Tensor Vae::decode(const ad::Tensor& z) { return decoder(z); }

ad::Tensor Vae::decode_mean(const ad::Tensor& z) {
  ad::Tensor out = decode(z);
  return config_.likelihood == Likelihood::bernoulli ? ad::sigmoid(out) : out;
}

// Bernoulli: -sum_i [x_i log theta_i + (1 - x_i) log(1 - theta_i)], theta = sigmoid(l).
// Gaussian:  sum_i [(x_i - mu_theta,i)^2 / (2 sigma^2) + log sigma + log(2 pi) / 2].
ad::Tensor Vae::negative_log_likelihood(const ad::Tensor& decoded, const ad::Tensor& x) const {
  if (config_.likelihood == Likelihood::bernoulli) return nn::bce_with_logits_row_sums(decoded, x);
  return ad::sum(nn::gaussian_nll(decoded, x, config_.sigma, nn::Reduction::none), -1);
}

}  // namespace vae
