// Module: a named collection of parameters and child modules.
//
// Every layer, and every model built from layers, is a Module. A module registers its
// trainable tensors and its sub-modules under short names in its constructor; the full
// name of a parameter is the path of names down to it, joined with dots. Optimisers take
// the list of named parameters, and checkpoints save and load tensors by those names.
//
// Example:
//
//   struct Encoder : nn::Module {
//     nn::Linear fc1, fc2;
//     Encoder(ad::Rng& rng) : fc1(784, 400, rng), fc2(400, 20, rng) {
//       register_module("fc1", fc1);
//       register_module("fc2", fc2);
//     }
//     ad::Tensor forward(const ad::Tensor& x) { return fc2(ad::relu(fc1(x))); }
//   };
//   struct Model : nn::Module {
//     Encoder encoder;
//     Model(ad::Rng& rng) : encoder(rng) { register_module("encoder", encoder); }
//   };
//
//   Model model(rng);
//   for (auto& [name, tensor] : model.named_parameters())
//     fmt::print("{} {}\n", name, ad::to_string(tensor.shape()));
//   // encoder.fc1.weight [784x400]
//   // encoder.fc1.bias   [400]
//   // encoder.fc2.weight [400x20]
//   // encoder.fc2.bias   [20]
//
// The order is the registration order, depth first: it is stable from run to run, so
// two models built by the same code list their parameters identically.
//
// A module stores the addresses of its registered members, so modules can be neither
// copied nor moved (the compiler refuses). Build them in place, as members or with
// std::make_unique.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/tensor.h"

namespace nn {

// A tensor with its dotted name, as listed by Module::named_parameters().
// The tensor is a handle: it shares its values with the module's member.
struct NamedTensor {
  std::string name;
  ad::Tensor tensor;
};

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;  // children are registered by address (see above)
  Module& operator=(const Module&) = delete;

  // Every parameter of this module and its children, in registration order.
  std::vector<NamedTensor> named_parameters() const;
  std::vector<ad::Tensor> parameters() const;
  int64_t parameter_count() const;  // total number of scalars, e.g. 784*400 + 400 + ...

  // Clears the gradient of every parameter. Gradients accumulate across backward calls,
  // so call this (or Optimizer::zero_grad) once per training step.
  void zero_grad();

  // Training or evaluation mode, set on this module and all its children. Layers whose
  // behaviour differs between the two (dropout, batch statistics) read training().
  void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }

  // One line per parameter: "encoder.fc1.weight  [784x400]  float32", and the total.
  std::string summary() const;

 protected:
  // Registers a member tensor as a trainable parameter (sets requires_grad). The name
  // must be non-empty, contain no '.', and be unique within this module.
  ad::Tensor& register_parameter(const std::string& name, ad::Tensor& tensor);
  // Registers a member module; its parameters appear as "<name>.<their name>".
  Module& register_module(const std::string& name, Module& child);

 private:
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, std::vector<NamedTensor>& out) const;

  // One registered item: exactly one of the two pointers is set.
  struct Entry {
    std::string name;
    ad::Tensor* parameter = nullptr;
    Module* child = nullptr;
  };
  std::vector<Entry> entries_;
  bool training_ = true;
};

}  // namespace nn
