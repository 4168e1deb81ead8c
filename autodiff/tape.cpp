#include "autodiff/tape.h"

#include "autodiff/anomaly.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "autodiff/ops.h"

namespace ad {

namespace {

thread_local bool g_grad_enabled = true;

// "{1.5}" for small tensors, "{1.5, 2, 3, ...}" for larger ones.
std::string short_values(const Tensor& t) {
  const int64_t n = t.numel(), shown = std::min<int64_t>(n, 4);
  std::string s = "{";
  for (int64_t i = 0; i < shown; ++i) s += fmt::format("{}{:.6g}", i ? ", " : "", t.flat(i));
  return s + (n > shown ? ", ...}" : "}");
}

std::string dot_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string leaf_kind(const Tensor& leaf) {
  if (leaf.node()->tape_entry == kHistoryFreed) return "history freed";
  return leaf.requires_grad() ? "leaf, requires grad" : "constant";
}

// sum += g, elementwise, in place (the two have one shape and dtype).
void add_in_place(Tensor& sum, const Tensor& g) {
  dispatch(sum.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* dst = sum.data<T>();
    const T* src = g.data<T>();
    for (int64_t i = 0, n = sum.numel(); i < n; ++i) dst[i] += src[i];
  });
}

// Adds g into an adjoint. The first gradient to arrive is adopted as it is when nothing
// else refers to it or to its numbers (the usual case: a fresh result of a backward
// function), and copied otherwise, so that adding into it later can never write into
// the values of another tensor. Under create_graph the sum is a recorded op instead.
void accumulate(Tensor& adjoint, Tensor g, bool create_graph) {
  if (!adjoint.defined()) {  // the first path to arrive
    const bool unshared = g.node_ptr().use_count() == 1 && g.node()->storage.use_count() == 1;
    adjoint = create_graph || unshared ? std::move(g) : g.clone();
    return;
  }
  // EXERCISE E00.3: gradient accumulation for a reused value
  if (create_graph)
    adjoint = adjoint + g;
  else
    add_in_place(adjoint, g);
  // END EXERCISE E00.3
}

// ([[maybe_unused]]: its one caller is the reverse sweep, which a student copy leaves out.)
[[maybe_unused]] std::string freed_message(const Tape& t, const Tensor& value,
                                           const std::string& used_by) {
  return fmt::format(
      "backward: {}{} was computed on a tape that an earlier backward cleared, so the "
      "gradient cannot reach what it was computed from; run the forward pass again after "
      "backward, pass BackwardOptions{{.keep_tape = true}} to the first backward, or use "
      "its .detach() if it is meant as a constant",
      t.var_name(value), used_by.empty() ? "" : " (an input of " + used_by + ")");
}

// The loss as backward and grad receive it: requiring grad, with a seed of its shape.
Tensor checked_seed(const char* caller, const Tensor& loss, const BackwardOptions& options) {
  if (!loss.requires_grad())
    throw Error(fmt::format(
        "{}: the loss does not depend on any tensor with requires_grad; did you "
        "forget .requires_grad_() on a parameter, or compute the loss inside NoGrad?",
        caller));
  if (loss.node()->tape_entry == kHistoryFreed)
    throw Error(fmt::format(
        "{}: the loss is no longer on the tape (an earlier backward cleared it); "
        "pass BackwardOptions{{.keep_tape = true}} to the first backward to run it twice",
        caller));
  const Tensor& seed = options.seed;
  if (!seed.defined()) {
    if (loss.numel() != 1)
      throw Error(fmt::format(
          "{}: the loss has shape {}, not a single value; pass BackwardOptions{{.seed = ...}} "
          "with a gradient of that shape",
          caller, to_string(loss.shape())));
    return Tensor::ones(loss.shape(), loss.dtype());
  }
  if (seed.shape() != loss.shape() || seed.dtype() != loss.dtype())
    throw Error(fmt::format("{}: seed {} {} does not match the loss {} {}", caller,
                            to_string(seed.shape()), to_string(seed.dtype()),
                            to_string(loss.shape()), to_string(loss.dtype())));
  return seed;
}

// The reverse sweep shared by backward and grad: the adjoint of every value on the tape,
// indexed by v-number, from the loss's entry back to the first. Slots of intermediates
// are freed as soon as their entry has run (so their buffers serve the entries still to
// come), unless keep_tape is set or `wanted` (indexed by v-number) asks for them.
std::vector<Tensor> reverse_sweep(Tape& t, const Tensor& loss, Tensor seed,
                                  const BackwardOptions& options,
                                  const std::vector<char>& wanted = {}) {
  std::vector<Tensor> adjoint(t.size() + 1);  // [0] is unused: v-numbers start at 1
  adjoint[loss.node()->tape_id] = std::move(seed);
  // Backward functions use ops: they record only to create the graph of the gradients.
  GradMode recording(options.create_graph);
  // excerpt: reverse_sweep
  // EXERCISE E00.2: the reverse sweep
  const bool create_graph = options.create_graph, keep = options.keep_tape || create_graph;
  Entry copy;
  for (int i = loss.node()->tape_entry; i >= 0; --i) {
    // (A recording backward appends to the list it is walking, which may move the
    // entries in memory: then it runs from a copy of its entry.)
    const Entry& e = create_graph ? (copy = t.entries()[i]) : t.entries()[i];
    const int out = e.output.node()->tape_id;
    if (!adjoint[out].defined()) continue;  // not on a path to the loss
    Tensor g = keep || (!wanted.empty() && wanted[out]) ? adjoint[out] : std::move(adjoint[out]);
    const bool g_on_tape = g.requires_grad();
    Grads grads = anomaly_checks_active() ? backward_checked(t, e, g) : e.backward(g);
    if (options.on_entry) options.on_entry(e, g, grads);
    g = Tensor();  // (so that a gradient which is a view of it can be adopted below)
    if (grads.size() != e.inputs.size())
      throw Error(fmt::format("backward of {}: returned {} gradients for {} inputs", e.op,
                              grads.size(), e.inputs.size()));
    for (size_t j = 0; j < grads.size(); ++j) {
      const Tensor& in = e.inputs[j];
      if (!in.requires_grad() || !grads[j].defined()) continue;
      if (in.node()->tape_entry == kHistoryFreed) throw Error(freed_message(t, in, e.op));
      if (grads[j].shape() != in.shape())
        throw Error(
            fmt::format("backward of {}: gradient of input {} has shape {}, the input has "
                        "shape {} (a missing sum_to?)",
                        e.op, j + 1, to_string(grads[j].shape()), to_string(in.shape())));
      // Every gradient is linear in g: one computed from a g on the tape that is not on the
      // tape itself came from a kernel that records nothing (a fused backward).
      if (create_graph && g_on_tape && !grads[j].requires_grad())
        throw Error(fmt::format(
            "backward of {}: this op's backward is a kernel that records nothing, so "
            "create_graph cannot differentiate it again; give it a backward written with "
            "ops under ad::differentiable_backward()",
            e.op));
      accumulate(adjoint[in.node()->tape_id], std::move(grads[j]), create_graph);
    }
  }
  // END EXERCISE E00.2
  // end excerpt: reverse_sweep
  return adjoint;
}

}  // namespace

Tape& tape() {
  thread_local Tape t;
  return t;
}

GradMode::GradMode(bool enabled) : previous_(g_grad_enabled) { g_grad_enabled = enabled; }
GradMode::~GradMode() { g_grad_enabled = previous_; }
bool grad_enabled() { return g_grad_enabled; }

void Tape::number(const Tensor& input) {
  Node& node = *input.node();
  if (node.tape_id > 0) return;  // already on the tape
  node.tape_id = next_id_++;
  leaves_.push_back(input);
}

void Tape::record(std::string op, std::vector<Tensor> inputs, const Tensor& output,
                  BackwardFn backward, std::string attrs) {
  if (anomaly_checks_active()) [[unlikely]]  // (anomaly.h: records, then checks the output)
    return record_checked(*this, std::move(op), inputs, output, std::move(backward),
                          std::move(attrs));
  if (!g_grad_enabled) return;
  bool any_requires_grad = false;
  for (const Tensor& in : inputs) any_requires_grad |= in.requires_grad();
  if (!any_requires_grad) return;

  // EXERCISE E00.1: recording an op on the tape
  for (const Tensor& in : inputs) number(in);
  Node& out = *output.node();
  out.requires_grad = true;
  out.tape_entry = static_cast<int>(entries_.size());
  out.tape_id = next_id_++;
  entries_.push_back({std::move(op), std::move(attrs), std::move(inputs), output,
                      std::move(backward)});
  // END EXERCISE E00.1
}

void Tape::clear() {
  for (Entry& e : entries_) {
    e.output.node()->tape_id = 0;
    e.output.node()->tape_entry = kHistoryFreed;
  }
  for (Tensor& leaf : leaves_) leaf.node()->tape_id = 0;
  entries_.clear();
  leaves_.clear();
  next_id_ = 1;
}

std::string Tape::var_name(const Tensor& t) const {
  const int id = t.node()->tape_id;
  return id > 0 ? fmt::format("v{}", id) : "?";
}

std::string Tape::str(const PrintOptions& options) const {
  // Leaves and entries are numbered in the order they were first seen; print in that order.
  std::vector<std::pair<int, std::string>> lines;
  auto extras = [&](const Tensor& t) {
    std::string s;
    if (options.values) s += "  = " + short_values(t);
    if (options.gradients && t.grad().defined()) s += "  grad " + short_values(t.grad());
    return s;
  };
  for (const Tensor& leaf : leaves_) {
    // An unnamed one-element constant (a seed, the 2 of "x * 2") prints as its value.
    std::string what = !leaf.name().empty() ? leaf.name()
                       : leaf.numel() == 1  ? fmt::format("{:g}", leaf.item())
                                            : "input";
    lines.emplace_back(leaf.node()->tape_id,
                       fmt::format("{:<24} {:<10} ({}){}",
                                   fmt::format("{} = {}", var_name(leaf), what),
                                   to_string(leaf.shape()), leaf_kind(leaf), extras(leaf)));
  }
  for (const Entry& e : entries_) {
    std::string args;
    for (const Tensor& in : e.inputs) args += (args.empty() ? "" : ", ") + var_name(in);
    if (!e.attrs.empty()) args += ", " + e.attrs;
    std::string lhs = fmt::format("{} = {}({})", var_name(e.output), e.op, args);
    std::string name = e.output.name().empty() ? "" : "  \"" + e.output.name() + "\"";
    lines.emplace_back(e.output.node()->tape_id,
                       fmt::format("{:<24} {:<10}{}{}", lhs, to_string(e.output.shape()),
                                   extras(e.output), name));
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (auto& [id, line] : lines) out += line + "\n";
  return out;
}

std::string Tape::to_dot(const PrintOptions& options) const {
  auto label = [&](const Tensor& t, const std::string& first_line) {
    // A scalar's shape is "[]", which says little in a drawing: name it instead.
    std::string s = first_line + "\\n" + (t.rank() == 0 ? "scalar" : to_string(t.shape()));
    if (options.values) s += "\\nvalue " + dot_escape(short_values(t));
    if (options.gradients && t.grad().defined())
      s += "\\ngrad " + dot_escape(short_values(t.grad()));
    return s;
  };
  std::string dot =
      "digraph tape {\n  node [shape=box, style=\"rounded,filled\", "
      "fontname=\"Helvetica\", fillcolor=white];\n";
  for (const Tensor& leaf : leaves_) {
    std::string first = var_name(leaf);
    if (!leaf.name().empty())
      first += " " + dot_escape(leaf.name());
    else if (leaf.numel() == 1)  // an unnamed constant (the 0.5 of logvar / 2) shows its value
      first += fmt::format(" = {:g}", leaf.item());
    dot += fmt::format("  {} [label=\"{}\", fillcolor=\"{}\"];\n", var_name(leaf),
                       label(leaf, first), leaf.requires_grad() ? "#cfe2ff" : "#e9ecef");
  }
  for (const Entry& e : entries_) {
    std::string first = fmt::format("{} = {}", var_name(e.output), e.op);
    if (!e.output.name().empty()) first += " " + dot_escape(e.output.name());
    dot += fmt::format("  {} [label=\"{}\"];\n", var_name(e.output), label(e.output, first));
    for (const Tensor& in : e.inputs)
      dot += fmt::format("  {} -> {};\n", var_name(in), var_name(e.output));
  }
  return dot + "}\n";
}

void backward(const Tensor& loss, const BackwardOptions& options) {
  Tape& t = tape();
  try {
    Tensor seed = checked_seed("backward", loss, options);
    Node& root = *loss.node();
    if (root.tape_entry == kLeaf) {  // the loss is itself a leaf: d loss / d loss = seed
      Tensor g = loss.grad();
      accumulate(g, seed, options.create_graph);
      root.grad = g.node_ptr();
      if (!options.keep_tape && !options.create_graph) t.clear();  // as after any backward
      return;
    }
    std::vector<Tensor> adjoint = reverse_sweep(t, loss, std::move(seed), options);
    // The sweep went through: now (and only now) the leaves' gradients change.
    GradMode recording(options.create_graph);
    for (const Tensor& leaf : t.leaves()) {
      const size_t id = leaf.node()->tape_id;
      if (id >= adjoint.size()) break;  // a constant a recording backward put on the tape
      Tensor& g = adjoint[id];
      if (!g.defined() || !leaf.requires_grad()) continue;
      Tensor sum = leaf.grad();
      if (sum.defined() && !options.create_graph) {
        add_in_place(sum, g);
      } else {
        sum = sum.defined() ? sum + g : g;
        leaf.node()->grad = sum.node_ptr();
      }
    }
    const bool keep = options.keep_tape || options.create_graph;
    for (const Entry& e : t.entries()) {  // intermediates: this call's adjoints, if kept
      const size_t id = e.output.node()->tape_id;
      if (id < adjoint.size()) e.output.node()->grad = keep ? adjoint[id].node_ptr() : nullptr;
    }
    if (!keep) t.clear();
  } catch (...) {
    t.clear();
    throw;
  }
}

std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs,
                         const BackwardOptions& options) {
  Tape& t = tape();
  std::vector<Tensor> result;
  try {
    Tensor seed = checked_seed("grad", output, options);
    for (size_t i = 0; i < inputs.size(); ++i)
      if (!inputs[i].defined() || !inputs[i].requires_grad())
        throw Error(fmt::format(
            "grad: input {} does not require grad, so no gradient is computed for it; mark "
            "it with .requires_grad_() before the forward pass",
            i));
    if (output.node()->tape_entry == kLeaf) {  // the output is itself a leaf
      for (const Tensor& in : inputs)
        result.push_back(in.node() == output.node() ? seed.clone()
                                                    : Tensor::zeros(in.shape(), in.dtype()));
      if (!options.keep_tape && !options.create_graph) t.clear();  // as after any grad
      return result;
    }
    std::vector<char> wanted(t.size() + 1, 0);
    for (const Tensor& in : inputs) wanted[in.node()->tape_id] = 1;  // (0: not on the tape)
    std::vector<Tensor> adjoint = reverse_sweep(t, output, std::move(seed), options, wanted);
    for (const Tensor& in : inputs) {
      const int id = in.node()->tape_id;
      if (id == 0 || !adjoint[id].defined())
        result.push_back(Tensor::zeros(in.shape(), in.dtype()));  // no path from it to output
      else
        result.push_back(in.node() == output.node() ? adjoint[id].clone() : adjoint[id]);
    }
    if (!options.keep_tape && !options.create_graph) t.clear();
  } catch (...) {
    t.clear();
    throw;
  }
  return result;
}

}  // namespace ad
