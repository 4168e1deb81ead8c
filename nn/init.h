// Weight initialisation: draw a layer's weights at the scale that keeps signals from
// shrinking or blowing up as they pass through many layers.
//
// Xavier / Glorot (Glorot & Bengio 2010): Var(w) = gain^2 * 2 / (fan_in + fan_out),
//   a compromise between keeping the forward activations' variance (needs 1/fan_in) and
//   the backward gradients' variance (needs 1/fan_out). For tanh, sigmoid, linear layers.
// Kaiming / He (He et al. 2015): Var(w) = gain^2 / fan_in with gain = sqrt(2) for ReLU,
//   whose output keeps only half the input's second moment; the factor 2 restores it.
//
// Each comes as a uniform U(-a, a) (variance a^2 / 3, so a = sqrt(3 Var)) or a normal
// N(0, Var) draw. fan_in / fan_out are the number of inputs feeding one output and of
// outputs fed by one input: for Linear(in, out) they are in and out; for Conv2d they are
// in_channels * k * k and out_channels * k * k. They are passed explicitly because they
// depend on what the layer computes, not only on the weight's shape.
//
// Example:
//   nn::Linear fc(784, 400, rng);                        // Kaiming uniform by default
//   nn::init::xavier_uniform_(fc.weight, 784, 400, rng);  // re-draw for a tanh layer
//   nn::init::zeros_(fc.bias);
//
// The trailing underscore says "in place": the tensor keeps its node (so modules and
// optimisers holding it see the new values) and its requires_grad flag.
#pragma once
#include <cmath>
#include <cstdint>

#include "autodiff/rng.h"
#include "autodiff/tensor.h"

namespace nn::init {

inline const double relu_gain = std::sqrt(2.0);

// The variances and uniform bounds, for use in tests and printouts.
double xavier_variance(int64_t fan_in, int64_t fan_out, double gain = 1.0);
double kaiming_variance(int64_t fan_in, double gain = relu_gain);

void xavier_uniform_(ad::Tensor& w, int64_t fan_in, int64_t fan_out, ad::Rng& rng,
                     double gain = 1.0);
void xavier_normal_(ad::Tensor& w, int64_t fan_in, int64_t fan_out, ad::Rng& rng,
                    double gain = 1.0);
void kaiming_uniform_(ad::Tensor& w, int64_t fan_in, ad::Rng& rng, double gain = relu_gain);
void kaiming_normal_(ad::Tensor& w, int64_t fan_in, ad::Rng& rng, double gain = relu_gain);

void uniform_(ad::Tensor& w, double lo, double hi, ad::Rng& rng);
void normal_(ad::Tensor& w, double mean, double stddev, ad::Rng& rng);
void constant_(ad::Tensor& w, double value);
void zeros_(ad::Tensor& w);

}  // namespace nn::init
