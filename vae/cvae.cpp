#include "vae/cvae.h"

#include <fmt/format.h>

#include "autodiff/ops.h"
#include "autodiff/shape.h"
#include "nn/loss.h"

namespace vae {

Cvae::Cvae(const CvaeConfig& config, ad::Rng& rng) : EncoderDecoder(config) {
  if (config.latent_dim < 1 || config.input_dim < 1 || config.num_classes < 1)
    throw ad::Error("Cvae: input_dim, num_classes and latent_dim must be positive");
  // encoder: input + classes -> hidden... -> 2 * latent (mu and logvar side by side);
  // decoder: latent + classes -> the same widths reversed -> input
  add_mirrored_mlps(config.input_dim + config.num_classes, 2 * config.latent_dim,
                    config.latent_dim + config.num_classes, config.input_dim, rng);
}

ad::Tensor Cvae::one_hot(const std::vector<int64_t>& labels) const {
  const int64_t n = static_cast<int64_t>(labels.size()), C = config_.num_classes;
  std::vector<double> v(static_cast<size_t>(n * C), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    if (labels[i] < 0 || labels[i] >= C)
      throw ad::Error(
          fmt::format("Cvae: label {} outside [0, {})", labels[i], config_.num_classes));
    v[static_cast<size_t>(i * C + labels[i])] = 1.0;
  }
  return ad::Tensor::from(v, {n, C}, config_.dtype);
}

// excerpt: cvae_encode_decode
DiagGaussian Cvae::encode(const ad::Tensor& x, const std::vector<int64_t>& labels) {
  if (static_cast<int64_t>(labels.size()) != x.dim(0))
    throw ad::Error("Cvae::encode: one label per example needed");
  ad::Tensor h = encoder(ad::concat({x, one_hot(labels).to(x.dtype())}, 1));
  const int64_t k = config_.latent_dim;
  return {ad::slice(h, 1, 0, k), ad::slice(h, 1, k, 2 * k)};
}

ad::Tensor Cvae::decode(const ad::Tensor& z, const std::vector<int64_t>& labels) {
  if (static_cast<int64_t>(labels.size()) != z.dim(0))
    throw ad::Error("Cvae::decode: one label per example needed");
  return decoder(ad::concat({z, one_hot(labels).to(z.dtype())}, 1));
// end excerpt: cvae_encode_decode
}

ad::Tensor Cvae::decode_mean(const ad::Tensor& z, const std::vector<int64_t>& labels) {
  return ad::sigmoid(decode(z, labels));
}

ad::Tensor Cvae::negative_log_likelihood(const ad::Tensor& logits, const ad::Tensor& x) const {
  return nn::bce_with_logits_row_sums(logits, x);
}

ad::Tensor Cvae::generate(int64_t label, int64_t n, ad::Rng& rng) {
  const std::vector<int64_t> labels(static_cast<size_t>(n), label);
  Conditioned given_labels{*this, labels};
  return sample(given_labels, n, rng);  // E[x|z,c], z ~ p(z) = N(0, I)
}

}  // namespace vae
