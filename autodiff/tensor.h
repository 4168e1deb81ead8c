// Tensor: a cheap handle to a node holding a dense, contiguous, row-major buffer.
//
// Example (what a student types first):
//
//   ad::Tensor phi = ad::Tensor::scalar(1.0).requires_grad_().named("phi");
//   ad::Tensor eps = ad::Tensor::scalar(0.5).named("eps");
//   ad::Tensor f = ad::pow(phi + eps, 2);      // f(phi) = (phi + eps)^2
//   std::cout << ad::tape().str();             // v1 = phi  v2 = eps  v3 = add(v1, v2) ...
//   ad::backward(f);                           // walks the tape in reverse
//   phi.grad().item();                         // 2 (phi + eps) = 3
//
// Copying a Tensor copies the handle, not the data: both see the same node.
// Values are float32 (training) or float64 (gradient checks); every op runs on
// both, and mixing them in one op is an error (convert with .to(ad::f64)).
#pragma once
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/shape.h"
#include "autodiff/storage.h"

namespace ad {

// Node::tape_entry for a value no entry computed (made by hand, or under NoGrad), and for
// one whose entry was freed by Tape::clear (its history is gone).
inline constexpr int kLeaf = -1;
inline constexpr int kHistoryFreed = -2;

// The node behind a Tensor. Ops and the tape hold shared pointers to nodes.
struct Node {
  Shape shape;
  std::shared_ptr<Storage> storage;  // the values; shared with views of the same numbers
  bool requires_grad = false;
  std::shared_ptr<Node> grad;  // d loss / d this node, same shape; null until backward
  std::string name;            // optional label shown by the tape printer
  // Its place on the tape (tape.h explains both): the v-number it prints as (0 when it
  // is not on the tape) and the entry that computed it.
  int tape_id = 0;
  int tape_entry = kLeaf;
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (no node)
  explicit Tensor(std::shared_ptr<Node> node) : node_(std::move(node)) {}

  // ---- creation ----
  static Tensor zeros(const Shape& shape, DType dtype = f32);
  // Values left uninitialised: for code that writes every element before reading any
  // (ops use it for their outputs, so no time goes to zeroing what is overwritten).
  static Tensor empty(const Shape& shape, DType dtype = f32);
  static Tensor ones(const Shape& shape, DType dtype = f32);
  static Tensor full(const Shape& shape, double value, DType dtype = f32);
  static Tensor scalar(double value, DType dtype = f32);
  // From values in row-major order; values.size() must equal the shape's element count.
  static Tensor from(const std::vector<double>& values, const Shape& shape, DType dtype = f32);
  static Tensor arange(int64_t n, DType dtype = f32);  // 0, 1, ..., n-1

  // ---- what it is ----
  bool defined() const { return node_ != nullptr; }
  const Shape& shape() const;
  int rank() const { return static_cast<int>(shape().size()); }
  int64_t dim(int axis) const;  // negative axes count from the end
  int64_t numel() const { return ad::numel(shape()); }
  DType dtype() const;

  // ---- values ----
  template <class T>
  T* data();
  template <class T>
  const T* data() const;
  double item() const;                 // the value of a one-element tensor
  double flat(int64_t i) const;        // element i in row-major order, as double
  void set_flat(int64_t i, double v);  // (used by gradcheck and tests)
  std::vector<double> to_vector() const;
  Tensor to(DType dtype) const;  // converted copy (recorded: gradients flow back)
  Tensor clone() const;          // deep copy of the values, not recorded
  std::string str() const;       // values, for printing small tensors

  // ---- gradients ----
  bool requires_grad() const;
  Tensor& requires_grad_(bool on = true);
  Tensor grad() const;    // undefined until a backward reached this tensor
  void zero_grad();       // gradients accumulate across backward calls until this
  Tensor detach() const;  // same values, cut from the tape (a copy)
  Tensor& named(std::string name);
  const std::string& name() const;

  Node* node() const { return node_.get(); }
  const std::shared_ptr<Node>& node_ptr() const { return node_; }

 private:
  Node& checked() const;
  std::shared_ptr<Node> node_;
};

// Calls f(float{}) or f(double{}) so that one generic lambda serves both dtypes:
//   dispatch(t.dtype(), [&](auto zero) { using T = decltype(zero); ... });
template <class F>
decltype(auto) dispatch(DType dtype, F&& f) {
  if (dtype == DType::f32) return f(float{});
  return f(double{});
}

// Throws naming `op` unless both tensors have the same dtype.
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b);

}  // namespace ad
