// Optimisers: SGD with momentum and Adam, and gradient-norm clipping.
//
// Example (one training step):
//
//   nn::Adam adam(model.named_parameters(), {.lr = 1e-3});
//   for (...) {
//     adam.zero_grad();                          // gradients accumulate otherwise
//     ad::Tensor loss = compute_loss(model, batch);
//     ad::backward(loss);
//     nn::clip_grad_norm(model.named_parameters(), 10.0);  // optional
//     adam.step();                               // updates the parameters in place
//   }
//
// An optimiser holds handles to the parameters (sharing their values with the model)
// and writes the updates straight into their buffers: nothing is recorded on the tape.
// A parameter whose grad() is undefined (no backward reached it) is left alone.
//
// State for checkpoints. Besides its options, an optimiser's memory is a step count and
// one or two buffers per parameter, listed by state() under names
//   "<kind>/step"                       [] float64, the number of steps taken
//   "<kind>/<buffer>/<parameter name>"  shaped like the parameter
// e.g. "adam/step", "adam/m/encoder.fc1.weight", "adam/v/encoder.fc1.weight". A '/' never
// occurs in a parameter name, so these cannot collide with the model's own tensors.
#pragma once
#include <string>
#include <vector>

#include "nn/module.h"

namespace nn {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual void step() = 0;  // one update from the parameters' current gradients
  void zero_grad();         // clears every parameter's gradient

  int64_t steps() const { return steps_; }  // updates made so far (t in the formulas)
  const std::vector<NamedTensor>& parameters() const { return params_; }
  const std::string& kind() const { return kind_; }  // "sgd", "adam"

  // The step count and copies of all buffers, named as above.
  std::vector<NamedTensor> state() const;
  // Restores what state() returned: every name must be present with the same dtype and
  // shape, and nothing else. Everything is checked first; on a mismatch an ad::Error
  // names the tensor and nothing is changed.
  void load_state(const std::vector<NamedTensor>& state);
  // A buffer itself (not a copy), by its name in state(): adam.buffer("adam/m/fc.weight").
  ad::Tensor buffer(const std::string& name) const;

 protected:
  Optimizer(std::string kind, const std::vector<NamedTensor>& parameters);
  // Adds a zero buffer shaped like each parameter, named "<kind>/<buffer>/<parameter>",
  // and returns them in parameter order.
  std::vector<ad::Tensor> add_buffers(const std::string& buffer);

  std::vector<NamedTensor> params_;
  int64_t steps_ = 0;

 private:
  std::string kind_;
  std::vector<NamedTensor> buffers_;
};

struct SGDOptions {
  double lr = 0.01;
  double momentum = 0.0;      // 0: plain gradient descent
  double weight_decay = 0.0;  // adds weight_decay * p to the gradient (L2 penalty)
};

// With g = grad + weight_decay * p (for each parameter p, elementwise):
//   momentum == 0:  p <- p - lr g
//   momentum  > 0:  b <- momentum b + g  (b starts at 0, so b = g after the first step)
//                   p <- p - lr b
// (PyTorch's form: the learning rate multiplies the velocity, not each gradient.)
class SGD : public Optimizer {
 public:
  SGD(const std::vector<NamedTensor>& parameters, const SGDOptions& options = {});
  SGD(const Module& model, const SGDOptions& options = {})
      : SGD(model.named_parameters(), options) {}
  void step() override;

  SGDOptions options;  // may be changed between steps (a learning-rate schedule)

 private:
  std::vector<ad::Tensor> velocity_;  // "sgd/velocity/<name>", only with momentum
};

struct AdamStep;  // optim_kernels.h

struct AdamOptions {
  double lr = 1e-3;  // alpha
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};

// Kingma & Ba 2015, Algorithm 1. At step t = 1, 2, ... with gradient g:
//   m <- beta1 m + (1 - beta1) g          first moment  ("adam/m/<name>", starts at 0)
//   v <- beta2 v + (1 - beta2) g^2        second moment ("adam/v/<name>", starts at 0)
//   m_hat = m / (1 - beta1^t)             bias corrections: m and v start at 0, so early
//   v_hat = v / (1 - beta2^t)               averages are too small by exactly these factors
//   p <- p - lr m_hat / (sqrt(v_hat) + eps)
// The step t is shared by all parameters. The code folds the corrections into two
// constants per step (nn/optim_kernels.h): the same update, one division per element.
class Adam : public Optimizer {
 public:
  Adam(const std::vector<NamedTensor>& parameters, const AdamOptions& options = {});
  Adam(const Module& model, const AdamOptions& options = {})
      : Adam(model.named_parameters(), options) {}
  void step() override;

  AdamOptions options;  // may be changed between steps

 private:
  void update_float_parameters(const AdamStep& s);
  std::vector<ad::Tensor> m_, v_;
};

// Scales all gradients together so that their joint L2 norm
//   sqrt(sum over every parameter and element of grad^2)
// is at most max_norm (multiplying by max_norm / norm when norm > max_norm; the direction
// is kept). Returns the norm before clipping, worth logging: spikes show instability.
// If the norm is inf or NaN the gradients are left unchanged (skip that step).
double clip_grad_norm(const std::vector<NamedTensor>& parameters, double max_norm);
double clip_grad_norm(const Module& model, double max_norm);

}  // namespace nn
