// What the training tutorials (01, 08, 09, 10) share: the network sizes, the standard
// training flags, one loop of mini-batch Adam steps, a fixed binarisation of images and a
// stopwatch.
#pragma once
#include <cstdint>
#include <vector>

namespace tut {

// The hidden widths of every MLP in the tutorials: 784-256-64-k, as tutorial 01's
// autoencoder, so the latent spaces of the AE and the VAEs can be compared (L35).
inline const std::vector<int64_t> hidden_sizes = {256, 64};

// Tutorial 01's autoencoder widths {input, 256, 64, code}: tutorial 08 builds the same
// model to load 01's checkpoint.
inline std::vector<int64_t> autoencoder_sizes(int64_t input_dim, int64_t code_dim = 2) {
  std::vector<int64_t> sizes = {input_dim};
  sizes.insert(sizes.end(), hidden_sizes.begin(), hidden_sizes.end());
  sizes.push_back(code_dim);
  return sizes;
}

}  // namespace tut
