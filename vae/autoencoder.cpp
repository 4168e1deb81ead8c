#include "vae/autoencoder.h"

#include <fmt/format.h>

#include <algorithm>

#include "autodiff/ops.h"
#include "autodiff/shape.h"
#include "autodiff/tape.h"
#include "nn/loss.h"

namespace vae {

Autoencoder::Autoencoder(const std::vector<int64_t>& sizes, ad::Rng& rng, ad::DType dtype)
    : sizes_(sizes) {
  if (sizes.size() < 2)
    throw ad::Error(fmt::format(
        "Autoencoder: sizes needs an input and a code width at least, got {} sizes", sizes.size()));
  for (int64_t width : sizes)
    if (width < 1)
      throw ad::Error(fmt::format("Autoencoder: every size must be positive, got {}", width));
  nn::add_mlp(encoder, sizes, rng, dtype);  // g_phi: input -> ... -> code
  const std::vector<int64_t> mirrored(sizes.rbegin(), sizes.rend());
  nn::add_mlp(decoder, mirrored, rng, dtype);  // f_theta: code -> ... -> input (logits)
  register_module("encoder", encoder);
  register_module("decoder", decoder);
}

ad::Tensor Autoencoder::encode(const ad::Tensor& x) { return encoder(x); }

ad::Tensor Autoencoder::decode(const ad::Tensor& z) { return ad::sigmoid(decoder(z)); }

ad::Tensor Autoencoder::reconstruct(const ad::Tensor& x) { return decode(encode(x)); }

// excerpt: autoencoder_cost
ad::Tensor Autoencoder::cost(const ad::Tensor& input, const ad::Tensor& target) {
  // The sum over pixels and images, then 1/n: a mean over pixels would scale the cost
  // (and its gradient) by 1/784 and change what the learning rate means.
  return nn::mse(reconstruct(input), target, nn::Reduction::sum) /
         static_cast<double>(input.dim(0));
}
// end excerpt: autoencoder_cost

std::vector<double> Autoencoder::squared_errors(const ad::Tensor& input,
                                                const ad::Tensor& target) {
  ad::NoGrad plain;
  constexpr int64_t chunk = 1000;
  std::vector<double> errors;
  for (int64_t start = 0; start < input.dim(0); start += chunk) {
    const int64_t end = std::min(input.dim(0), start + chunk);
    ad::Tensor diff =
        reconstruct(ad::slice(input, 0, start, end)) - ad::slice(target, 0, start, end);
    for (double e : ad::sum(diff * diff, 1).to_vector()) errors.push_back(e);
  }
  return errors;
}

std::vector<nn::Linear*> Autoencoder::linear_layers() {
  std::vector<nn::Linear*> layers;
  for (nn::Sequential* net : {&encoder, &decoder})
    for (size_t i = 0; i < net->size(); ++i)
      if (auto* linear = dynamic_cast<nn::Linear*>(&(*net)[i])) layers.push_back(linear);
  return layers;
}

// excerpt: corrupt
ad::Tensor corrupt(const ad::Tensor& x, double noise, ad::Rng& rng) {
  ad::NoGrad plain;
  return ad::clamp(x + rng.normal(x.shape(), x.dtype()) * noise, 0.0, 1.0);
}
// end excerpt: corrupt

}  // namespace vae
