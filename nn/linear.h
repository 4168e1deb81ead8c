// Linear layers, activation functions and Sequential: the pieces of an MLP.
//
// Example (the encoder of a VAE for 28x28 images):
//
//   ad::Rng rng(42);
//   nn::Sequential encoder;
//   encoder.add<nn::Flatten>();             // [N, 1, 28, 28] -> [N, 784]
//   encoder.add<nn::Linear>(784, 400, rng);  // parameters "0.weight" [784x400], "0.bias" [400]
//   encoder.add<nn::ReLU>();
//   encoder.add<nn::Linear>(400, 2 * 20, rng);
//   ad::Tensor h = encoder(images);          // [N, 40]: mu and log-variance side by side
//
// Linear computes y = x W + b with W stored as [in, out] (PyTorch stores [out, in] and
// computes x W^T). Why this layout: a batch x is [N, in], one example per row, and x W is
// then a plain row-major matrix product, the way the lecture writes it, with no hidden
// transpose; row i of W holds everything input i feeds into. The backward pass needs
// x^T G and G W^T, which gemm's transpose flags give without copying.
#pragma once
#include <memory>
#include <utility>
#include <vector>

#include "autodiff/ops.h"
#include "autodiff/rng.h"
#include "nn/module.h"

namespace nn {

// A module with one input tensor and one output tensor: what Sequential chains.
class Layer : public Module {
 public:
  virtual ad::Tensor forward(const ad::Tensor& x) = 0;
  ad::Tensor operator()(const ad::Tensor& x) { return forward(x); }
};

// y = x W + b. x is [N, in] or [B, N, in]; y is [N, out] or [B, N, out].
// W starts Kaiming-uniform with fan_in = in (suits a following ReLU), b starts at zero;
// re-draw them with nn::init for other activations.
class Linear : public Layer {
 public:
  Linear(int64_t in_features, int64_t out_features, ad::Rng& rng, bool bias = true,
         ad::DType dtype = ad::f32);
  ad::Tensor forward(const ad::Tensor& x) override;

  const int64_t in_features, out_features;
  ad::Tensor weight;  // [in, out]
  ad::Tensor bias;    // [out]; undefined when constructed with bias = false
};

// ---- activation functions: the ad:: ops, and a module for each so Sequential can hold it ----
using ad::relu;
using ad::sigmoid;
using ad::softplus;
using ad::tanh;
// x for x > 0, slope * x otherwise; written as relu(x) - slope * relu(-x).
ad::Tensor leaky_relu(const ad::Tensor& x, double slope = 0.01);

class ReLU : public Layer {
 public:
  ad::Tensor forward(const ad::Tensor& x) override { return ad::relu(x); }
};
class LeakyReLU : public Layer {
 public:
  explicit LeakyReLU(double slope = 0.01) : slope(slope) {}
  ad::Tensor forward(const ad::Tensor& x) override { return leaky_relu(x, slope); }
  const double slope;
};
class Tanh : public Layer {
 public:
  ad::Tensor forward(const ad::Tensor& x) override { return ad::tanh(x); }
};
class Sigmoid : public Layer {
 public:
  ad::Tensor forward(const ad::Tensor& x) override { return ad::sigmoid(x); }
};
class Softplus : public Layer {
 public:
  ad::Tensor forward(const ad::Tensor& x) override { return ad::softplus(x); }
};

// ---- reshaping layers (between convolutional and linear parts of a network) ----
// [N, d1, d2, ...] -> [N, d1 * d2 * ...]
class Flatten : public Layer {
 public:
  ad::Tensor forward(const ad::Tensor& x) override;
};
// To a fixed shape; one dimension may be -1 (usually the batch): Reshape({-1, 32, 7, 7}).
class Reshape : public Layer {
 public:
  explicit Reshape(ad::Shape shape) : shape(std::move(shape)) {}
  ad::Tensor forward(const ad::Tensor& x) override { return ad::reshape(x, shape); }
  const ad::Shape shape;
};

// Applies its layers in order. They are registered as "0", "1", ..., so the parameters
// of the first Linear above are "0.weight" and "0.bias" (those of a Sequential named
// "decoder" inside a model: "decoder.0.weight").
class Sequential : public Layer {
 public:
  Sequential() = default;

  // Constructs a layer in place at the end and returns it: seq.add<nn::Linear>(4, 2, rng).
  template <class L, class... Args>
  L& add(Args&&... args) {
    auto layer = std::make_unique<L>(std::forward<Args>(args)...);
    L& ref = *layer;
    append(std::move(layer));
    return ref;
  }
  Layer& append(std::unique_ptr<Layer> layer);

  ad::Tensor forward(const ad::Tensor& x) override;
  size_t size() const { return layers_.size(); }
  Layer& operator[](size_t i) { return *layers_.at(i); }

 private:
  std::vector<std::unique_ptr<Layer>> layers_;
};

// Appends an MLP to `net`: a Linear layer from each width to the next, with a ReLU
// between them (none after the last), e.g. widths {784, 256, 64, 4} gives
// Linear(784, 256), ReLU, Linear(256, 64), ReLU, Linear(64, 4).
void add_mlp(Sequential& net, const std::vector<int64_t>& widths, ad::Rng& rng,
             ad::DType dtype = ad::f32);

}  // namespace nn
