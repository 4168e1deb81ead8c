// Explicit-loop reference computations for MLP models, shared by the VAE test suites:
// the library's answer is checked against these plain loops in double.
#pragma once
#include <algorithm>
#include <vector>

#include "nn/linear.h"

namespace test_helpers {

// The Linear layers of an encoder and a decoder, in the order of named_parameters().
inline std::vector<nn::Linear*> linear_layers(nn::Sequential& encoder, nn::Sequential& decoder) {
  std::vector<nn::Linear*> layers;
  for (nn::Sequential* s : {&encoder, &decoder})
    for (size_t i = 0; i < s->size(); ++i)
      if (auto* linear = dynamic_cast<nn::Linear*>(&(*s)[i])) layers.push_back(linear);
  return layers;
}

// y = x W + b for one example, with an optional ReLU, by explicit loops.
inline std::vector<double> dense(const std::vector<double>& x, const nn::Linear& layer, bool relu) {
  const std::vector<double> w = layer.weight.to_vector(), b = layer.bias.to_vector();
  const int64_t in = layer.in_features, out = layer.out_features;
  std::vector<double> y(out);
  for (int64_t j = 0; j < out; ++j) {
    double s = b[j];
    for (int64_t i = 0; i < in; ++i) s += x[i] * w[i * out + j];
    y[j] = relu ? std::max(s, 0.0) : s;
  }
  return y;
}

}  // namespace test_helpers
