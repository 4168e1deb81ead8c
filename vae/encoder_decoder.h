// What every model of vae/ is made of: an encoder network (phi) and a decoder network
// (theta), registered as "encoder" and "decoder" (the names of their parameters in a
// checkpoint), and the model's configuration. The MLP models build both networks with
// add_mirrored_mlps: the encoder's hidden widths, and the same widths reversed for the
// decoder.
#pragma once
#include <cstdint>
#include <vector>

#include "autodiff/rng.h"
#include "autodiff/tensor.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace vae {

template <class Config>
class EncoderDecoder : public nn::Module {
 public:
  const Config& config() const { return config_; }
  int64_t latent_dim() const { return config_.latent_dim; }
  ad::DType dtype() const { return config_.dtype; }

  nn::Sequential encoder, decoder;

 protected:
  explicit EncoderDecoder(const Config& config) : config_(config) {
    register_module("encoder", encoder);
    register_module("decoder", decoder);
  }

  // encoder: encoder_in -> hidden... -> encoder_out; decoder: decoder_in -> the hidden
  // widths reversed -> decoder_out (ReLU between layers, none after the last). The
  // encoder's weights are drawn from rng first.
  void add_mirrored_mlps(int64_t encoder_in, int64_t encoder_out, int64_t decoder_in,
                         int64_t decoder_out, ad::Rng& rng) {
    std::vector<int64_t> widths = {encoder_in};
    widths.insert(widths.end(), config_.hidden.begin(), config_.hidden.end());
    widths.push_back(encoder_out);
    nn::add_mlp(encoder, widths, rng, config_.dtype);
    widths = {decoder_in};
    widths.insert(widths.end(), config_.hidden.rbegin(), config_.hidden.rend());
    widths.push_back(decoder_out);
    nn::add_mlp(decoder, widths, rng, config_.dtype);
  }

  Config config_;
};

}  // namespace vae
