// The tape: a Wengert list of every recorded operation, walked in reverse by backward.
//
// Each op whose inputs include a tensor with requires_grad appends one Entry:
// its name, its inputs, its output and a backward function that maps the output's
// gradient (the adjoint, v-bar in the lecture) to one gradient per input. Because
// entries are appended in execution order, walking the list backwards visits every
// node after all the nodes that use it: no graph search and no recursion.
//
//   Tensor x = Tensor::from({1, 2}, {2}).requires_grad_().named("x");
//   Tensor y = ad::sum(ad::exp(x));
//   fmt::print("{}", ad::tape().str());
//     v1 = x                [2]   (leaf, requires grad)
//     v2 = exp(v1)          [2]
//     v3 = sum(v2)          []
//   ad::backward(y);        // x.grad() = exp(x); the tape is now empty again
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/tensor.h"

namespace ad {

using Grads = std::vector<Tensor>;  // one per input; undefined = no gradient
using BackwardFn = std::function<Grads(const Tensor& grad_output)>;

struct Entry {
  std::string op;     // "mul", "matmul", ...
  std::string attrs;  // non-tensor arguments, printed after the inputs ("axis=1")
  std::vector<std::shared_ptr<Node>> inputs;
  std::shared_ptr<Node> output;
  BackwardFn backward;  // captures what it needs from the forward pass
};

struct PrintOptions {
  bool values = false;     // print each value (first few elements)
  bool gradients = false;  // print each adjoint after backward(keep_tape)
};

class Tape {
 public:
  // Called by every op after its forward computation; appends an entry when
  // gradients are enabled and some input requires grad, and marks `output`.
  void record(std::string op, const std::vector<Tensor>& inputs, const Tensor& output,
              BackwardFn backward, std::string attrs = {});

  const std::vector<Entry>& entries() const { return entries_; }
  const std::vector<std::shared_ptr<Node>>& leaves() const { return leaves_; }
  bool holds(const Node& node) const;            // is this node numbered on the current tape?
  void clear();                                  // frees every intermediate the tape holds
  std::string var_name(const Node& node) const;  // "v3", or "?" when not on the tape

  std::string str(const PrintOptions& options = {}) const;  // the numbered Wengert list
  // Graphviz DOT of the recorded graph: one box per node with op and shape, optionally
  // its value and gradient; leaves that require grad are drawn in a different colour.
  std::string to_dot(const PrintOptions& options = {}) const;

 private:
  void number(const std::shared_ptr<Node>& node);  // a leaf's v-number, on first sight
  std::vector<Entry> entries_;
  std::vector<std::shared_ptr<Node>> leaves_;  // inputs that no entry produced
  uint64_t generation_ = 1;                    // bumped by clear()
  int next_id_ = 1;
};

// The tape ops record on (one per thread).
Tape& tape();

// While a NoGrad object lives, ops record nothing and outputs do not require grad.
class NoGrad {
 public:
  NoGrad();
  ~NoGrad();
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool previous_;
};
bool grad_enabled();

struct BackwardOptions {
  Tensor seed;             // d loss / d loss; required when the loss is not a scalar
  bool keep_tape = false;  // keep entries (and intermediate adjoints) for another look
  // Called for each entry visited, after its backward ran (tutorial 00 prints the sweep).
  std::function<void(const Entry&, const Grads&)> on_entry;
};

// Seeds d loss / d loss (1 for a scalar), walks the tape from the loss's entry back to
// the first one, and adds each entry's input gradients into those inputs' grad().
// Leaves accumulate across calls until zero_grad(); intermediate adjoints start from
// zero at every call. Afterwards the tape is cleared unless keep_tape is set.
void backward(const Tensor& loss, const BackwardOptions& options = {});

}  // namespace ad
