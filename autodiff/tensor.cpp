#include "autodiff/tensor.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "autodiff/ops.h"
#include "autodiff/tape.h"

namespace ad {

namespace {

// A node of `shape` over fresh storage from the pool (uninitialised).
std::shared_ptr<Node> make_node(const Shape& shape, DType dtype) {
  if (shape.size() > kMaxRank)
    throw Error(fmt::format("tensor: shape {} has rank {}, more than the supported {}",
                            to_string(shape), shape.size(), kMaxRank));
  for (int64_t d : shape)
    if (d < 0) throw Error(fmt::format("tensor: negative dimension in shape {}", to_string(shape)));
  auto node = std::make_shared<Node>();
  node->shape = shape;
  node->storage = std::make_shared<Storage>(dtype, ad::numel(shape));
  return node;
}

}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype) { return Tensor(make_node(shape, dtype)); }

Tensor Tensor::zeros(const Shape& shape, DType dtype) { return full(shape, 0.0, dtype); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  dispatch(dtype, [&](auto zero) {
    using T = decltype(zero);
    std::fill_n(t.data<T>(), t.numel(), static_cast<T>(value));
  });
  return t;
}

Tensor Tensor::ones(const Shape& shape, DType dtype) { return full(shape, 1.0, dtype); }
Tensor Tensor::scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor Tensor::from(const std::vector<double>& values, const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  if (static_cast<int64_t>(values.size()) != t.numel())
    throw Error(fmt::format("Tensor::from: {} values given for shape {} ({} elements)",
                            values.size(), to_string(shape), t.numel()));
  dispatch(dtype, [&](auto zero) {
    using T = decltype(zero);
    std::transform(values.begin(), values.end(), t.data<T>(),
                   [](double v) { return static_cast<T>(v); });
  });
  return t;
}

Tensor Tensor::arange(int64_t n, DType dtype) {
  Tensor t = empty({n}, dtype);
  for (int64_t i = 0; i < n; ++i) t.set_flat(i, static_cast<double>(i));
  return t;
}

Node& Tensor::checked() const {
  if (!node_)
    throw Error(
        "tensor: use of an undefined tensor (default-constructed, or a grad() "
        "that no backward has reached)");
  return *node_;
}

const Shape& Tensor::shape() const { return checked().shape; }

int64_t Tensor::dim(int axis) const { return shape()[normalize_axis("dim", axis, rank())]; }

DType Tensor::dtype() const { return checked().storage->dtype(); }

template <class T>
T* Tensor::data() {
  const Storage& s = *checked().storage;
  if (s.dtype() != (sizeof(T) == 4 ? f32 : f64))
    throw Error(fmt::format("tensor: data<{}>() on a {} tensor",
                            sizeof(T) == 4 ? "float" : "double", to_string(s.dtype())));
  return s.data<T>();
}

template <class T>
const T* Tensor::data() const {
  return const_cast<Tensor*>(this)->data<T>();
}

template float* Tensor::data<float>();
template double* Tensor::data<double>();
template const float* Tensor::data<float>() const;
template const double* Tensor::data<double>() const;

double Tensor::flat(int64_t i) const {
  return dispatch(dtype(),
                  [&](auto zero) { return static_cast<double>(data<decltype(zero)>()[i]); });
}

void Tensor::set_flat(int64_t i, double v) {
  dispatch(dtype(), [&](auto zero) {
    using T = decltype(zero);
    data<T>()[i] = static_cast<T>(v);
  });
}

double Tensor::item() const {
  if (numel() != 1)
    throw Error(fmt::format("item: tensor of shape {} has {} elements, not 1", to_string(shape()),
                            numel()));
  return flat(0);
}

std::vector<double> Tensor::to_vector() const {
  return dispatch(dtype(), [&](auto zero) {
    const auto* x = data<decltype(zero)>();
    return std::vector<double>(x, x + numel());
  });
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape(), dtype());
  const size_t bytes = static_cast<size_t>(numel()) * (dtype() == f32 ? 4 : 8);
  if (bytes > 0) std::memcpy(t.node_->storage->data<void>(), checked().storage->data<void>(), bytes);
  return t;
}

std::string Tensor::str() const {
  std::string s = fmt::format("tensor{} {} ", to_string(shape()), to_string(dtype()));
  const int64_t shown = std::min<int64_t>(numel(), 12);
  s += "{";
  for (int64_t i = 0; i < shown; ++i) s += fmt::format("{}{:.6g}", i ? ", " : "", flat(i));
  if (numel() > shown) s += fmt::format(", ... ({} more)", numel() - shown);
  return s + "}";
}

bool Tensor::requires_grad() const { return checked().requires_grad; }

Tensor& Tensor::requires_grad_(bool on) {
  checked().requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return Tensor(checked().grad); }

void Tensor::zero_grad() { checked().grad.reset(); }

Tensor Tensor::detach() const { return clone(); }

Tensor& Tensor::named(std::string name) {
  checked().name = std::move(name);
  return *this;
}

const std::string& Tensor::name() const { return checked().name; }

void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    throw Error(fmt::format("{}: dtype mismatch: {} {} and {} {}; convert one with .to(ad::{})", op,
                            to_string(a.dtype()), to_string(a.shape()), to_string(b.dtype()),
                            to_string(b.shape()), a.dtype() == f32 ? "f32" : "f64"));
}

}  // namespace ad
