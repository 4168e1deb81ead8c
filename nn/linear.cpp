#include "nn/linear.h"

#include <fmt/format.h>

#include "nn/init.h"

namespace nn {

Linear::Linear(int64_t in_features, int64_t out_features, ad::Rng& rng, bool bias, ad::DType dtype)
    : in_features(in_features), out_features(out_features) {
  if (in_features <= 0 || out_features <= 0)
    throw ad::Error(fmt::format("Linear: sizes must be positive, got in = {}, out = {}",
                                in_features, out_features));
  weight = ad::Tensor::zeros({in_features, out_features}, dtype);
  init::kaiming_uniform_(weight, in_features, rng);
  register_parameter("weight", weight);
  if (bias) {
    this->bias = ad::Tensor::zeros({out_features}, dtype);
    register_parameter("bias", this->bias);
  }
}

ad::Tensor Linear::forward(const ad::Tensor& x) {
  if ((x.rank() != 2 && x.rank() != 3) || x.dim(-1) != in_features)
    throw ad::Error(
        fmt::format("Linear({} -> {}): input has shape {}; expected [N, {}] or "
                    "[B, N, {}]",
                    in_features, out_features, ad::to_string(x.shape()), in_features, in_features));
  // x W + b as one op (ad::affine): the same numbers as matmul(x, weight) + bias.
  return bias.defined() ? ad::affine(x, weight, bias) : ad::matmul(x, weight);
}

ad::Tensor leaky_relu(const ad::Tensor& x, double slope) {
  return ad::relu(x) - slope * ad::relu(-x);
}

ad::Tensor Flatten::forward(const ad::Tensor& x) {
  if (x.rank() < 1) throw ad::Error("Flatten: the input is a scalar; expected [N, ...]");
  return ad::reshape(x, {x.dim(0), -1});
}

Layer& Sequential::append(std::unique_ptr<Layer> layer) {
  if (!layer) throw ad::Error("Sequential: append of a null layer");
  register_module(std::to_string(layers_.size()), *layer);
  layers_.push_back(std::move(layer));
  return *layers_.back();
}

ad::Tensor Sequential::forward(const ad::Tensor& x) {
  ad::Tensor h = x;
  for (auto& layer : layers_) h = layer->forward(h);
  return h;
}

void add_mlp(Sequential& net, const std::vector<int64_t>& widths, ad::Rng& rng, ad::DType dtype) {
  if (widths.size() < 2)
    throw ad::Error(
        fmt::format("add_mlp: need at least an input and an output width, got {}", widths.size()));
  for (size_t i = 0; i + 1 < widths.size(); ++i) {
    net.add<Linear>(widths[i], widths[i + 1], rng, true, dtype);
    if (i + 2 < widths.size()) net.add<ReLU>();
  }
}

}  // namespace nn
