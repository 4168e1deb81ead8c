#include "nn/optim.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "autodiff/runtime/parallel.h"
#include "nn/optim_kernels.h"

namespace nn {

// ---- Optimizer: parameters, buffers, state ----

Optimizer::Optimizer(std::string kind, const std::vector<NamedTensor>& parameters)
    : params_(parameters), kind_(std::move(kind)) {
  std::set<std::string> names;
  std::set<const ad::Node*> nodes;
  for (const NamedTensor& p : params_) {
    if (!p.tensor.defined() || !p.tensor.requires_grad())
      throw ad::Error(
          fmt::format("{}: parameter '{}' is undefined or does not require grad", kind_, p.name));
    if (!names.insert(p.name).second)
      throw ad::Error(fmt::format("{}: parameter name '{}' appears twice", kind_, p.name));
    // The same tensor twice (tied weights) would be updated twice per step.
    if (!nodes.insert(p.tensor.node()).second)
      throw ad::Error(
          fmt::format("{}: parameter '{}' is the same tensor as an earlier one; "
                      "list a shared tensor once",
                      kind_, p.name));
  }
}

std::vector<ad::Tensor> Optimizer::add_buffers(const std::string& buffer) {
  std::vector<ad::Tensor> out;
  for (const NamedTensor& p : params_) {
    out.push_back(ad::Tensor::zeros(p.tensor.shape(), p.tensor.dtype()));
    buffers_.push_back({kind_ + "/" + buffer + "/" + p.name, out.back()});
  }
  return out;
}

void Optimizer::zero_grad() {
  for (NamedTensor& p : params_) p.tensor.zero_grad();
}

std::vector<NamedTensor> Optimizer::state() const {
  std::vector<NamedTensor> out;
  out.push_back({kind_ + "/step", ad::Tensor::scalar(static_cast<double>(steps_), ad::f64)});
  for (const NamedTensor& b : buffers_) out.push_back({b.name, b.tensor.clone()});
  return out;
}

void Optimizer::load_state(const std::vector<NamedTensor>& state) {
  // Validate everything before touching anything.
  std::map<std::string, ad::Tensor> given;
  for (const NamedTensor& s : state)
    if (!given.emplace(s.name, s.tensor).second)
      throw ad::Error(fmt::format("{} load_state: tensor '{}' is given twice", kind_, s.name));
  const std::vector<NamedTensor> expected = this->state();
  for (const NamedTensor& e : expected) {
    auto found = given.find(e.name);
    if (found == given.end())
      throw ad::Error(fmt::format("{} load_state: tensor '{}' is missing", kind_, e.name));
    const ad::Tensor& t = found->second;
    if (t.dtype() != e.tensor.dtype() || t.shape() != e.tensor.shape())
      throw ad::Error(fmt::format("{} load_state: tensor '{}' is {} {}, expected {} {}", kind_,
                                  e.name, ad::to_string(t.dtype()), ad::to_string(t.shape()),
                                  ad::to_string(e.tensor.dtype()),
                                  ad::to_string(e.tensor.shape())));
    given.erase(found);
  }
  if (!given.empty())
    throw ad::Error(
        fmt::format("{} load_state: unexpected tensor '{}'", kind_, given.begin()->first));
  ad::Tensor step_tensor;
  for (const NamedTensor& s : state)
    if (s.name == kind_ + "/step") step_tensor = s.tensor;
  // The count becomes an int64 and the exponent t of the bias corrections 1 - beta^t:
  // NaN, inf or a value past 2^53 (where doubles stop holding every whole number) would
  // make that conversion undefined or the corrections meaningless, so they are refused.
  const double step = step_tensor.item();
  constexpr double kMaxStep = 9007199254740992.0;  // 2^53
  if (!(step >= 0 && step <= kMaxStep) || step != std::floor(step))
    throw ad::Error(fmt::format(
        "{} load_state: step count {:.6g} is not a whole number from 0 to 2^53", kind_, step));

  // All checks passed: copy.
  for (const NamedTensor& s : state) {
    if (s.name == kind_ + "/step") continue;
    ad::Tensor dst = buffer(s.name);
    for (int64_t i = 0; i < dst.numel(); ++i) dst.set_flat(i, s.tensor.flat(i));
  }
  steps_ = static_cast<int64_t>(step);
}

ad::Tensor Optimizer::buffer(const std::string& name) const {
  if (name == kind_ + "/step") return ad::Tensor::scalar(static_cast<double>(steps_), ad::f64);
  for (const NamedTensor& b : buffers_)
    if (b.name == name) return b.tensor;
  throw ad::Error(fmt::format("{}: no state tensor named '{}'", kind_, name));
}

// ---- SGD ----

SGD::SGD(const std::vector<NamedTensor>& parameters, const SGDOptions& options)
    : Optimizer("sgd", parameters), options(options) {
  if (options.momentum < 0 || options.momentum >= 1)
    throw ad::Error(fmt::format("SGD: momentum = {} must be in [0, 1)", options.momentum));
  if (options.momentum > 0) velocity_ = add_buffers("velocity");
}

void SGD::step() {
  ++steps_;
  for (size_t k = 0; k < params_.size(); ++k) {
    ad::Tensor p = params_[k].tensor, grad = p.grad();
    if (!grad.defined()) continue;
    ad::dispatch(p.dtype(), [&](auto zero) {
      using T = decltype(zero);
      T* w = p.data<T>();
      const T* g = grad.data<T>();
      const T lr = T(options.lr), mu = T(options.momentum), decay = T(options.weight_decay);
      T* b = velocity_.empty() ? nullptr : velocity_[k].data<T>();
      for (int64_t i = 0; i < p.numel(); ++i) {
        const T gi = g[i] + decay * w[i];
        if (b) {
          b[i] = mu * b[i] + gi;
          w[i] -= lr * b[i];
        } else {
          w[i] -= lr * gi;
        }
      }
    });
  }
}

// ---- Adam ----

Adam::Adam(const std::vector<NamedTensor>& parameters, const AdamOptions& options)
    : Optimizer("adam", parameters), options(options) {
  if (!(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1))
    throw ad::Error(fmt::format("Adam: beta1 = {} and beta2 = {} must be in [0, 1)", options.beta1,
                                options.beta2));
  m_ = add_buffers("m");
  v_ = add_buffers("v");
}

// Float parameters go through the fused kernel (optim_kernels.h), split between the
// threads: the update is elementwise, so the split changes no result, and it is worth it
// only for large parameters (a part below ~64K elements costs more to hand over than to do).
void Adam::update_float_parameters(const AdamStep& s) {
  struct Slice {
    float *w, *m, *v;
    const float* g;
    int64_t n;
  };
  std::vector<Slice> slices;
  int64_t total = 0;
  for (size_t k = 0; k < params_.size(); ++k) {
    ad::Tensor p = params_[k].tensor, grad = p.grad();
    if (!grad.defined() || p.dtype() != ad::f32) continue;
    slices.push_back({p.data<float>(), m_[k].data<float>(), v_[k].data<float>(),
                      grad.data<float>(), p.numel()});
    total += p.numel();
  }
  constexpr int64_t kMinPerPart = 1 << 16, kAlign = 16;  // whole 64-byte lines per part
  const int parts = static_cast<int>(
      std::clamp<int64_t>(total / kMinPerPart, 1, std::max(1, ad::max_threads())));
  // Part `part` updates elements [begin, end) of all the slices laid end to end.
  ad::parallel_for(parts, [&](int part) {
    const int64_t begin = total * part / parts / kAlign * kAlign;
    const int64_t end = part + 1 == parts ? total : total * (part + 1) / parts / kAlign * kAlign;
    int64_t offset = 0;  // where the current slice starts
    for (const Slice& x : slices) {
      const int64_t from = std::max(begin, offset) - offset;
      const int64_t to = std::min(end, offset + x.n) - offset;
      if (from < to)
        adam_update(x.w + from, x.m + from, x.v + from, x.g + from, to - from, s);
      offset += x.n;
    }
  });
}

void Adam::step() {
  ++steps_;
  const AdamStep s = adam_step(steps_, options);
  update_float_parameters(s);
  // float64 parameters (gradient checks): the same formula, in double.
  for (size_t k = 0; k < params_.size(); ++k) {
    ad::Tensor p = params_[k].tensor, grad = p.grad();
    if (!grad.defined() || p.dtype() != ad::f64) continue;
    adam_update(p.data<double>(), m_[k].data<double>(), v_[k].data<double>(),
                grad.data<double>(), p.numel(), steps_, options);
  }
}

// ---- clipping ----

double clip_grad_norm(const std::vector<NamedTensor>& parameters, double max_norm) {
  if (!(max_norm > 0))
    throw ad::Error(fmt::format("clip_grad_norm: max_norm = {} must be > 0", max_norm));
  double sum_squares = 0;
  for (const NamedTensor& p : parameters) {
    ad::Tensor g = p.tensor.grad();
    if (!g.defined()) continue;
    for (int64_t i = 0; i < g.numel(); ++i) sum_squares += g.flat(i) * g.flat(i);
  }
  const double norm = std::sqrt(sum_squares);
  if (!std::isfinite(norm) || norm <= max_norm) return norm;
  const double scale = max_norm / norm;
  for (const NamedTensor& p : parameters) {
    ad::Tensor g = p.tensor.grad();  // a handle: scaling it scales the parameter's gradient
    if (!g.defined()) continue;
    ad::dispatch(g.dtype(), [&](auto zero) {
      using T = decltype(zero);
      T* d = g.data<T>();
      for (int64_t i = 0; i < g.numel(); ++i) d[i] *= T(scale);
    });
  }
  return norm;
}

double clip_grad_norm(const Module& model, double max_norm) {
  return clip_grad_norm(model.named_parameters(), max_norm);
}

}  // namespace nn
