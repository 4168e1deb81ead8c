#include "autodiff/tape.h"

#include "autodiff/anomaly.h"

#include <fmt/format.h>

#include <algorithm>

namespace ad {

namespace {

thread_local bool g_grad_enabled = true;

// "{1.5}" for small tensors, "{1.5, 2, 3, ...}" for larger ones.
std::string short_values(const Node& node) {
  Tensor t(std::shared_ptr<Node>(const_cast<Node*>(&node), [](Node*) {}));  // non-owning view
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

// Adds g into node.grad. The first gradient to arrive is adopted as it is when nothing
// else refers to it or to its numbers (the usual case: a fresh result of a backward
// function), and copied otherwise, so that accumulating into node.grad later can never
// write into the values of another tensor.
void accumulate(Node& node, Tensor g) {
  if (!node.grad) {
    const bool unshared = g.node_ptr().use_count() == 1 && g.node()->storage.use_count() == 1;
    node.grad = unshared ? g.node_ptr() : g.clone().node_ptr();
    return;
  }
  Tensor acc(node.grad);
  dispatch(acc.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* dst = acc.data<T>();
    const T* src = g.data<T>();
    for (int64_t i = 0, n = acc.numel(); i < n; ++i) dst[i] += src[i];
  });
}

}  // namespace

Tape& tape() {
  thread_local Tape t;
  return t;
}

NoGrad::NoGrad() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGrad::~NoGrad() { g_grad_enabled = previous_; }
bool grad_enabled() { return g_grad_enabled; }

void Tape::number(const std::shared_ptr<Node>& node) {
  if (node->tape_generation == generation_) return;
  node->tape_generation = generation_;
  node->tape_entry = -1;
  node->tape_id = next_id_++;
  leaves_.push_back(node);
}

void Tape::record(std::string op, const std::vector<Tensor>& inputs, const Tensor& output,
                  BackwardFn backward, std::string attrs) {
  if (anomaly_checks_active()) [[unlikely]]  // (anomaly.h: records, then checks the output)
    return record_checked(*this, std::move(op), inputs, output, std::move(backward),
                          std::move(attrs));
  if (!g_grad_enabled) return;
  bool any_requires_grad = false;
  for (const Tensor& in : inputs) any_requires_grad |= in.requires_grad();
  if (!any_requires_grad) return;

  Entry entry{std::move(op), std::move(attrs), {}, output.node_ptr(), std::move(backward)};
  for (const Tensor& in : inputs) {
    number(in.node_ptr());
    entry.inputs.push_back(in.node_ptr());
  }
  Node& out = *output.node();
  out.requires_grad = true;
  out.from_op = true;
  out.tape_generation = generation_;
  out.tape_entry = static_cast<int>(entries_.size());
  out.tape_id = next_id_++;
  entries_.push_back(std::move(entry));
}

bool Tape::holds(const Node& node) const { return node.tape_generation == generation_; }

void Tape::clear() {
  entries_.clear();
  leaves_.clear();
  ++generation_;
  next_id_ = 1;
}

std::string Tape::var_name(const Node& node) const {
  return holds(node) ? fmt::format("v{}", node.tape_id) : "?";
}

std::string Tape::str(const PrintOptions& options) const {
  // Leaves and entries are numbered in the order they were first seen; print in that order.
  std::vector<std::pair<int, std::string>> lines;
  auto extras = [&](const Node& n) {
    std::string s;
    if (options.values) s += "  = " + short_values(n);
    if (options.gradients && n.grad) s += "  grad " + short_values(*n.grad);
    return s;
  };
  for (const auto& leaf : leaves_) {
    std::string what = leaf->name.empty() ? "input" : leaf->name;
    std::string kind = leaf->requires_grad ? "leaf, requires grad" : "constant";
    lines.emplace_back(leaf->tape_id, fmt::format("{:<24} {:<10} ({}){}",
                                                  fmt::format("v{} = {}", leaf->tape_id, what),
                                                  to_string(leaf->shape), kind, extras(*leaf)));
  }
  for (const Entry& e : entries_) {
    std::string args;
    for (const auto& in : e.inputs) args += (args.empty() ? "" : ", ") + var_name(*in);
    if (!e.attrs.empty()) args += ", " + e.attrs;
    std::string lhs = fmt::format("v{} = {}({})", e.output->tape_id, e.op, args);
    std::string name = e.output->name.empty() ? "" : "  \"" + e.output->name + "\"";
    lines.emplace_back(
        e.output->tape_id,
        fmt::format("{:<24} {:<10}{}{}", lhs, to_string(e.output->shape), extras(*e.output), name));
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (auto& [id, line] : lines) out += line + "\n";
  return out;
}

std::string Tape::to_dot(const PrintOptions& options) const {
  auto label = [&](const Node& n, const std::string& first_line) {
    std::string s = first_line + "\\n" + to_string(n.shape);
    if (options.values) s += "\\nvalue " + dot_escape(short_values(n));
    if (options.gradients && n.grad) s += "\\ngrad " + dot_escape(short_values(*n.grad));
    return s;
  };
  std::string dot =
      "digraph tape {\n  node [shape=box, style=\"rounded,filled\", "
      "fontname=\"Helvetica\", fillcolor=white];\n";
  for (const auto& leaf : leaves_) {
    std::string first = fmt::format("v{}", leaf->tape_id);
    if (!leaf->name.empty()) first += " " + dot_escape(leaf->name);
    dot += fmt::format("  v{} [label=\"{}\", fillcolor=\"{}\"];\n", leaf->tape_id,
                       label(*leaf, first), leaf->requires_grad ? "#cfe2ff" : "#e9ecef");
  }
  for (const Entry& e : entries_) {
    std::string first = fmt::format("v{} = {}", e.output->tape_id, e.op);
    if (!e.output->name.empty()) first += " " + dot_escape(e.output->name);
    dot += fmt::format("  v{} [label=\"{}\"];\n", e.output->tape_id, label(*e.output, first));
    for (const auto& in : e.inputs)
      dot += fmt::format("  v{} -> v{};\n", in->tape_id, e.output->tape_id);
  }
  return dot + "}\n";
}

void backward(const Tensor& loss, const BackwardOptions& options) {
  Tape& t = tape();
  if (!loss.requires_grad())
    throw Error(
        "backward: the loss does not depend on any tensor with requires_grad; did you "
        "forget .requires_grad_() on a parameter, or compute the loss inside NoGrad?");
  Tensor seed = options.seed;
  if (!seed.defined()) {
    if (loss.numel() != 1)
      throw Error(
          fmt::format("backward: the loss has shape {}, not a single value; pass "
                      "BackwardOptions{{.seed = ...}} with a gradient of that shape",
                      to_string(loss.shape())));
    seed = Tensor::ones(loss.shape(), loss.dtype());
  } else if (seed.shape() != loss.shape() || seed.dtype() != loss.dtype()) {
    throw Error(fmt::format("backward: seed {} {} does not match the loss {} {}",
                            to_string(seed.shape()), to_string(seed.dtype()),
                            to_string(loss.shape()), to_string(loss.dtype())));
  }

  Node& root = *loss.node();
  if (root.tape_entry < 0) {  // the loss is itself a leaf: d loss / d loss = seed
    accumulate(root, seed);
    return;
  }
  if (!t.holds(root))
    throw Error(
        "backward: the loss is no longer on the tape (an earlier backward cleared it); "
        "pass BackwardOptions{.keep_tape = true} to the first backward to run it twice");

  NoGrad no_recording;  // backward functions use ops; they must not append to the tape
  for (const Entry& e : t.entries()) e.output->grad.reset();  // fresh intermediate adjoints
  accumulate(root, seed);
  for (int i = root.tape_entry; i >= 0; --i) {
    const Entry& e = t.entries()[i];
    if (!e.output->grad) continue;  // not on a path to the loss
    Grads grads = anomaly_checks_active() ? backward_checked(t, e, Tensor(e.output->grad))
                                          : e.backward(Tensor(e.output->grad));
    // This adjoint has done its work: every entry that used the value came later on the
    // tape and has run. Freeing it now returns its buffer to the pool for the entries
    // still to come (and lets the loop below adopt a gradient that is a view of it).
    if (!options.keep_tape) e.output->grad.reset();
    if (grads.size() != e.inputs.size())
      throw Error(fmt::format("backward of {}: returned {} gradients for {} inputs", e.op,
                              grads.size(), e.inputs.size()));
    for (size_t j = 0; j < grads.size(); ++j) {
      Node& in = *e.inputs[j];
      if (!in.requires_grad || !grads[j].defined()) continue;
      if (in.from_op && in.tape_entry < 0)
        throw Error(
            fmt::format("backward: {} is an input of {} but was computed on a tape that an "
                        "earlier backward cleared, so the gradient cannot reach what it "
                        "was computed from; run the forward pass again after backward, "
                        "or pass BackwardOptions{{.keep_tape = true}}",
                        t.var_name(in), e.op));
      if (grads[j].shape() != in.shape)
        throw Error(
            fmt::format("backward of {}: gradient of input {} has shape {}, the input has "
                        "shape {} (a missing sum_to?)",
                        e.op, j + 1, to_string(grads[j].shape()), to_string(in.shape)));
      // (Moved, so that a gradient nothing else holds is adopted rather than copied;
      // on_entry gets to see them all, so then they are kept.)
      accumulate(in, options.on_entry ? grads[j] : std::move(grads[j]));
    }
    if (options.on_entry) options.on_entry(e, grads);
  }
  if (!options.keep_tape) t.clear();
}

}  // namespace ad
