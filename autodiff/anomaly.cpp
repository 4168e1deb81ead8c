#include "autodiff/anomaly.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace ad {

namespace anomaly_detail {
namespace {
bool asked_for_by_environment() {
  const char* value = std::getenv("AD_ANOMALY");
  return value != nullptr && std::strcmp(value, "") != 0 && std::strcmp(value, "0") != 0;
}
}  // namespace
std::atomic<bool> enabled{asked_for_by_environment()};
thread_local bool checking = false;
}  // namespace anomaly_detail

AnomalyMode::AnomalyMode() : previous_(anomaly_detail::enabled.exchange(true)) {}
AnomalyMode::~AnomalyMode() { anomaly_detail::enabled.store(previous_); }
bool anomaly_mode_enabled() { return anomaly_detail::enabled.load(); }

namespace {

// Marks the current thread as inside a check, so that the ops a check runs (the op's own
// recording, a backward function's ops) do not start checks of their own.
class CheckingScope {
 public:
  CheckingScope() { anomaly_detail::checking = true; }
  ~CheckingScope() { anomaly_detail::checking = false; }
};

// What a scan of a tensor's values found.
struct Scan {
  int64_t bad = 0;          // NaN or +-inf values
  int64_t first_bad = -1;   // flat index of the first
  double first_value = 0;   // and its value
  double min = std::numeric_limits<double>::infinity();  // over the finite values
  double max = -std::numeric_limits<double>::infinity();
};

Scan scan(const Tensor& t) {
  Scan s;
  dispatch(t.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* v = t.data<T>();
    for (int64_t i = 0, n = t.numel(); i < n; ++i) {
      const double x = static_cast<double>(v[i]);
      if (std::isfinite(x)) {
        s.min = std::min(s.min, x);
        s.max = std::max(s.max, x);
      } else if (s.bad++ == 0) {
        s.first_bad = i;
        s.first_value = x;
      }
    }
  });
  return s;
}

std::string kind_of(double x) { return std::isnan(x) ? "NaN" : x > 0 ? "inf" : "-inf"; }

// "[1, 0]": a flat index as the position in `shape`.
std::string position(int64_t flat, const Shape& shape) {
  if (shape.size() <= 1) return fmt::format("{}", flat);
  std::vector<int64_t> index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  std::string s = "[";
  for (size_t d = 0; d < index.size(); ++d) s += fmt::format("{}{}", d ? ", " : "", index[d]);
  return s + "]";
}

// "gave NaN (3 of 8 values, the first at [0, 2])"
std::string what_went_bad(const Scan& s, const Tensor& t) {
  return fmt::format("{} ({} of {} values, the first at index {})", kind_of(s.first_value), s.bad,
                     t.numel(), position(s.first_bad, t.shape()));
}

// "[2x1] finite, from 0.1 to 120", or "[2x1] holding NaN at index [1, 0]".
std::string summary(const Tensor& t) {
  const Scan s = scan(t);
  std::string shape = to_string(t.shape());
  if (s.bad > 0)
    return fmt::format("{} already holding {} ({} of {} values)", shape, kind_of(s.first_value),
                       s.bad, t.numel());
  if (t.numel() == 0) return shape + " empty";
  if (s.min == s.max) return fmt::format("{} finite, all {:.4g}", shape, s.min);
  return fmt::format("{} finite, from {:.4g} to {:.4g}", shape, s.min, s.max);
}

Tensor view(const std::shared_ptr<Node>& node) { return Tensor(node); }

// The name of a node on the tape ("v6"), or "an input" when it is not numbered.
std::string name_of(const Tape& tape, const Node& node) {
  return tape.holds(node) ? tape.var_name(node) : "an input";
}

// "v7 = log(v6)", as Tape::str prints the entry.
std::string entry_line(const Tape& tape, const Entry& e) {
  std::string args;
  for (const auto& in : e.inputs) args += (args.empty() ? "" : ", ") + tape.var_name(*in);
  if (!e.attrs.empty()) args += ", " + e.attrs;
  return fmt::format("{} = {}({})", tape.var_name(*e.output), e.op, args);
}

// The entry that produced `output` if the tape recorded it.
const Entry* entry_of(const Tape& tape, const Node& output) {
  if (!tape.holds(output) || output.tape_entry < 0) return nullptr;
  const Entry& e = tape.entries()[output.tape_entry];
  return e.output.get() == &output ? &e : nullptr;
}

// "v7 = mul(v6, v5): [2x1] finite, all 100; v3: [2x1] ...": each input with the entry that
// made it, so the message shows one more step back along the tape.
std::string inputs_summary(const Tape& tape, const std::vector<std::shared_ptr<Node>>& inputs) {
  std::string s;
  for (const auto& in : inputs) {
    const Entry* made_by = entry_of(tape, *in);
    s += fmt::format("{}{}: {}", s.empty() ? "" : "; ",
                     made_by ? entry_line(tape, *made_by) : name_of(tape, *in), summary(view(in)));
  }
  return s;
}

}  // namespace

void record_checked(Tape& tape, std::string op, const std::vector<Tensor>& inputs,
                    const Tensor& output, BackwardFn backward, std::string attrs) {
  const std::string name = op, arguments = attrs;  // (record takes them over)
  {
    CheckingScope recording;
    tape.record(std::move(op), inputs, output, std::move(backward), std::move(attrs));
  }
  const Scan s = scan(output);
  if (s.bad == 0) return;
  CheckingScope describing;
  std::vector<std::shared_ptr<Node>> nodes;
  for (const Tensor& in : inputs) nodes.push_back(in.node_ptr());
  // Recorded ops are named by their tape entry; ops that were not (no input requires
  // grad, or under NoGrad) by the op and its arguments.
  const Entry* e = entry_of(tape, *output.node());
  std::string line;
  if (e != nullptr) {
    line = entry_line(tape, *e);
  } else {
    line = name + "(";
    for (size_t i = 0; i < inputs.size(); ++i) line += (i ? ", " : "") + fmt::format("x{}", i + 1);
    line += (arguments.empty() ? "" : ", " + arguments) + "), not recorded on the tape";
  }
  std::string ins;
  if (e != nullptr) {
    ins = inputs_summary(tape, nodes);
  } else {
    for (size_t i = 0; i < nodes.size(); ++i)
      ins += fmt::format("{}x{}: {}", i ? "; " : "", i + 1, summary(view(nodes[i])));
  }
  throw AnomalyError(fmt::format("anomaly mode: the forward pass of `{}` gave {}; its inputs: {}",
                                 line, what_went_bad(s, output), ins));
}

Grads backward_checked(const Tape& tape, const Entry& entry, const Tensor& grad_output) {
  Grads grads;
  {
    CheckingScope running;
    grads = entry.backward(grad_output);
  }
  for (size_t j = 0; j < grads.size() && j < entry.inputs.size(); ++j) {
    if (!grads[j].defined()) continue;
    const Scan s = scan(grads[j]);
    if (s.bad == 0) continue;
    CheckingScope describing;
    throw AnomalyError(fmt::format(
        "anomaly mode: the backward of `{}` gave {} in the gradient of {}; the gradient "
        "arriving at {} was {}; the inputs of {}: {}",
        entry_line(tape, entry), what_went_bad(s, grads[j]), name_of(tape, *entry.inputs[j]),
        tape.var_name(*entry.output), summary(grad_output), entry.op,
        inputs_summary(tape, entry.inputs)));
  }
  return grads;
}

}  // namespace ad
