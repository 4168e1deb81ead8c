#include "nn/module.h"

#include <fmt/format.h>

namespace nn {

void Module::check_new_name(const std::string& name) const {
  if (name.empty()) throw ad::Error("Module: a parameter or module name must not be empty");
  if (name.find('.') != std::string::npos)
    throw ad::Error(
        fmt::format("Module: name '{}' contains '.', which separates the parts of a "
                    "dotted name; register the child module instead",
                    name));
  for (const Entry& e : entries_)
    if (e.name == name) throw ad::Error(fmt::format("Module: name '{}' is registered twice", name));
}

ad::Tensor& Module::register_parameter(const std::string& name, ad::Tensor& tensor) {
  check_new_name(name);
  if (!tensor.defined())
    throw ad::Error(fmt::format("Module: parameter '{}' is an undefined tensor", name));
  tensor.requires_grad_();
  if (tensor.name().empty()) tensor.named(name);  // shown by the tape printer
  entries_.push_back({name, &tensor, nullptr});
  return tensor;
}

Module& Module::register_module(const std::string& name, Module& child) {
  check_new_name(name);
  if (&child == this)
    throw ad::Error(fmt::format("Module: '{}' registered as its own child", name));
  entries_.push_back({name, nullptr, &child});
  return child;
}

void Module::collect(const std::string& prefix, std::vector<NamedTensor>& out) const {
  for (const Entry& e : entries_) {
    if (e.parameter)
      out.push_back({prefix + e.name, *e.parameter});
    else
      e.child->collect(prefix + e.name + ".", out);
  }
}

std::vector<NamedTensor> Module::named_parameters() const {
  std::vector<NamedTensor> out;
  collect("", out);
  return out;
}

std::vector<ad::Tensor> Module::parameters() const {
  std::vector<ad::Tensor> out;
  for (NamedTensor& p : named_parameters()) out.push_back(p.tensor);
  return out;
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (const NamedTensor& p : named_parameters()) n += p.tensor.numel();
  return n;
}

void Module::zero_grad() {
  for (NamedTensor& p : named_parameters()) p.tensor.zero_grad();
}

void Module::train(bool on) {
  training_ = on;
  for (Entry& e : entries_)
    if (e.child) e.child->train(on);
}

std::string Module::summary() const {
  std::vector<NamedTensor> params = named_parameters();
  size_t width = 0;
  for (const NamedTensor& p : params) width = std::max(width, p.name.size());
  std::string s;
  for (const NamedTensor& p : params)
    s += fmt::format("{:<{}}  {:<12}  {}\n", p.name, width, ad::to_string(p.tensor.shape()),
                     ad::to_string(p.tensor.dtype()));
  return s + fmt::format("{} parameters in {} tensors\n", parameter_count(), params.size());
}

}  // namespace nn
