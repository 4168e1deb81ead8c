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
//
// How a value knows its history. Every node carries two numbers (tensor.h): tape_id, the
// v-number it has on the tape (0 when it is not on it), and tape_entry, the index of the
// entry that computed it (kLeaf for a tensor made by hand or under NoGrad). clear() walks
// its entries before freeing them, zeroes every v-number and marks each output's
// tape_entry kHistoryFreed. So a value is on the tape exactly when tape_id > 0, and its
// history is gone exactly when tape_entry == kHistoryFreed; such a value may still be
// used (it is numbered as an input of the new tape, printed "history freed"), but a
// backward whose gradient reaches it throws, rather than silently stopping there.
//
// Derivatives of derivatives: with create_graph, backward runs the backward functions
// with recording on, so the gradients it returns are themselves values on the tape and
// can be differentiated again (ad::grad below; a Hessian-vector product is
//   g = ad::grad(f, {x}, {.create_graph = true})[0];  hv = ad::grad(ad::sum(g * v), {x})[0]).
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
  std::vector<Tensor> inputs;
  Tensor output;
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
  void record(std::string op, std::vector<Tensor> inputs, const Tensor& output,
              BackwardFn backward, std::string attrs = {});

  const std::vector<Entry>& entries() const { return entries_; }
  const std::vector<Tensor>& leaves() const { return leaves_; }  // inputs no entry computed
  int size() const { return next_id_ - 1; }  // v-numbers in use: leaves plus entries
  void clear();  // frees every intermediate the tape holds (see "history" above)
  std::string var_name(const Tensor& t) const;  // "v3", or "?" when not on the tape

  std::string str(const PrintOptions& options = {}) const;  // the numbered Wengert list
  // Graphviz DOT of the recorded graph: one box per node with op and shape, optionally
  // its value and gradient; leaves that require grad are drawn in a different colour.
  std::string to_dot(const PrintOptions& options = {}) const;

 private:
  void number(const Tensor& input);  // an input's v-number, on first sight
  std::vector<Entry> entries_;
  std::vector<Tensor> leaves_;
  int next_id_ = 1;
};

// The tape ops record on (one per thread).
Tape& tape();

// Sets whether ops record, for as long as it lives (then restores what was before).
class GradMode {
 public:
  explicit GradMode(bool enabled);
  ~GradMode();
  GradMode(const GradMode&) = delete;
  GradMode& operator=(const GradMode&) = delete;

 private:
  bool previous_;
};
// While a NoGrad object lives, ops record nothing and outputs do not require grad.
struct NoGrad : GradMode {
  NoGrad() : GradMode(false) {}
};
// The opposite, for code that must record even when called under NoGrad (gradgradcheck
// differentiates a function that itself calls ad::grad).
struct EnableGrad : GradMode {
  EnableGrad() : GradMode(true) {}
};
bool grad_enabled();

// Inside a backward function: true when backward runs with create_graph, so the gradient
// must be computed with recorded ops. Every op writes its backward with ops, which works
// either way. The few whose fused kernel is measurably faster on the training step keep
// it as a second form (a kernel records nothing) and take it only when this is false:
//   if (differentiable_backward()) return {g * out * (1.0 - out)};  // the one in ops
//   return {fused_sigmoid_backward(g, out)};                       // the same numbers
// docs/architecture.md lists them; tests/test_ops_gradcheck.cpp checks both forms agree.
inline bool differentiable_backward() { return grad_enabled(); }

struct BackwardOptions {
  Tensor seed = {};        // d loss / d loss; required when the loss is not a scalar
  bool keep_tape = false;  // keep entries (and intermediate adjoints) for another look
  // Record the backward pass itself on the tape, so that the gradients can be
  // differentiated again. Implies keep_tape (the gradients' history is the tape).
  bool create_graph = false;
  // Called for each entry visited, after its backward ran, with the adjoint of its output
  // and the gradients it passes to its inputs (tutorial 00 prints the sweep).
  std::function<void(const Entry&, const Tensor& adjoint, const Grads&)> on_entry = {};
};

// Seeds d loss / d loss (1 for a scalar), walks the tape from the loss's entry back to
// the first one, and adds each leaf's gradient into its grad(). Leaves accumulate across
// calls until zero_grad(). Afterwards the tape is cleared unless keep_tape (or
// create_graph) is set; with keep_tape each intermediate's grad() holds its adjoint.
// If anything throws on the way, the tape is cleared and no grad() has changed.
void backward(const Tensor& loss, const BackwardOptions& options = {});

// d output / d input for each input, as new tensors (zeros where output does not depend
// on it); no grad() is touched. Inputs must require grad (leaves or intermediates on the
// tape). With {.create_graph = true} the results are on the tape and can be
// differentiated again.
std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs,
                         const BackwardOptions& options = {});

}  // namespace ad
