// Tutorial 00: the tape, step by step.
//
// Reverse-mode automatic differentiation as the lectures draw it: the forward pass
// writes a Wengert list (v1, v2, ... each the result of one elementary operation), and
// the reverse sweep walks that list backwards, turning the adjoint of each result,
// vbar_i = d f / d v_i, into contributions to the adjoints of its inputs.
//
// Part 1 uses the integrand of the notes' Example 1.5 (document 003, eq. 40):
//   f(phi) = (phi + eps)^2 for one fixed eps,  d f / d phi = 2 (phi + eps)  (eq. 41).
// Part 2 does the same for a tiny two-layer network and checks every gradient
// against finite differences.
//
//   build/release/tutorials/00_autodiff_tape [--phi 1] [--eps 0.5] [--seed 42] [--out DIR]
#include <fmt/format.h>

#include <cmath>

#include "autodiff/autodiff.h"
#include "tutorials/common/plot.h"
#include "tutorials/common/tutorial.h"

using ad::Tensor;

namespace {

// Indents every line of a block of text, so the tape prints under its section.
std::string indented(const std::string& text) {
  std::string out = "    ";
  for (char c : text) out += c == '\n' ? std::string("\n    ") : std::string(1, c);
  return out.substr(0, out.size() - 4);
}

// A value for printing: the number itself for one element, else shape and a few values.
std::string brief(const Tensor& t) {
  if (!t.defined()) return "-";
  if (t.numel() == 1) return fmt::format("{:.6g}", t.item());
  return fmt::format("{} {{{:.4g}, {:.4g}, ...}}", ad::to_string(t.shape()), t.flat(0), t.flat(1));
}

// Prints one step of the reverse sweep: the entry, its output's adjoint and what it
// passes to each input.
void print_sweep_step(const ad::Entry& e, const ad::Grads& grads) {
  const ad::Tape& tape = ad::tape();
  std::string to_inputs;
  for (size_t i = 0; i < grads.size(); ++i)
    if (grads[i].defined() && e.inputs[i]->requires_grad)  // constants get no adjoint
      to_inputs += fmt::format("{}{}bar += {}", to_inputs.empty() ? "" : ";  ",
                               tape.var_name(*e.inputs[i]), brief(grads[i]));
  fmt::print("    {:<4} = {:<12} {}bar = {:<28} ->  {}\n", tape.var_name(*e.output), e.op,
             tape.var_name(*e.output), brief(Tensor(e.output->grad)), to_inputs);
}

// The Wengert list as CSV: one row per variable with its value and adjoint.
std::string wengert_csv() {
  const ad::Tape& tape = ad::tape();
  std::string csv = "var,op,inputs,shape,value,adjoint\n";
  auto row = [&](const ad::Node& n, const std::string& op, const std::string& inputs) {
    Tensor value(std::shared_ptr<ad::Node>(std::shared_ptr<ad::Node>{}, const_cast<ad::Node*>(&n)));
    csv += fmt::format("{},{},\"{}\",{},\"{}\",\"{}\"\n", tape.var_name(n), op, inputs,
                       ad::to_string(n.shape), brief(value), brief(Tensor(n.grad)));
  };
  for (const auto& leaf : tape.leaves()) row(*leaf, leaf->name.empty() ? "input" : leaf->name, "");
  for (const ad::Entry& e : tape.entries()) {
    std::string inputs;
    for (const auto& in : e.inputs) inputs += (inputs.empty() ? "" : " ") + tape.var_name(*in);
    row(*e.output, e.op, inputs);
  }
  return csv;
}

// Writes the recorded graph as DOT and renders it to PNG.
void save_graph(tut::Tutorial& t, const std::string& stem, bool values) {
  ad::PrintOptions options;
  options.values = values;
  options.gradients = true;
  t.save_text(stem + ".dot", ad::tape().to_dot(options));
  if (tut::render_dot(t.out_path(stem + ".dot"), t.out_path(stem + ".png")))
    t.note("graph drawn: {}", t.out_path(stem + ".png").string());
}

// Part 1: f(phi) = (phi + eps)^2.
void example_1_5(tut::Tutorial& t, double phi_value, double eps_value) {
  t.section("L24", "Example 1.5's integrand f(phi) = (phi + eps)^2 on the tape");
  t.note("phi = {}, eps = {} (eps is a constant: it receives no adjoint)", phi_value, eps_value);

  Tensor phi = Tensor::scalar(phi_value, ad::f64).requires_grad_().named("phi");
  Tensor eps = Tensor::scalar(eps_value, ad::f64).named("eps");
  Tensor f = ad::pow(phi + eps, 2).named("f");

  ad::PrintOptions with_values;
  with_values.values = true;
  t.note("Forward pass: the Wengert list, one line per elementary operation");
  fmt::print("{}", indented(ad::tape().str(with_values)));

  t.note("Reverse sweep: fbar = 1, then each entry from the last to the first");
  ad::BackwardOptions sweep;
  sweep.keep_tape = true;  // keep it to print the adjoints and draw the graph
  sweep.on_entry = print_sweep_step;
  ad::backward(f, sweep);
  t.note("By hand: v4 = v3^2 gives v3bar = 2 v3 v4bar = {}; v3 = v1 + v2 gives v1bar = v3bar.",
         2 * (phi_value + eps_value));
  t.note("The list again, with each adjoint (grad) after the sweep:");
  with_values.gradients = true;
  fmt::print("{}", indented(ad::tape().str(with_values)));

  // The adjoints by hand: v4 = v3^2 gives v3bar = 2 v3 * v4bar; v3 = v1 + v2 gives
  // v1bar = v3bar. So d f / d phi = 2 (phi + eps), the integrand of eq. (41).
  const double tape_gradient = phi.grad().item();
  t.check_close("L24", "d f/d phi from the tape vs 2 (phi + eps) (eq. 41)", tape_gradient,
                2 * (phi_value + eps_value), 1e-12);
  const double h = 1e-6;
  auto f_at = [&](double p) { return (p + eps_value) * (p + eps_value); };
  const double finite_difference = (f_at(phi_value + h) - f_at(phi_value - h)) / (2 * h);
  t.check_close("L24", "d f/d phi from the tape vs central finite difference (h = 1e-6)",
                tape_gradient, finite_difference, 1e-8);

  t.save_text("example_1_5_wengert.csv", wengert_csv());
  save_graph(t, "example_1_5_graph", /*values=*/true);
  ad::tape().clear();
  t.note(
      "Averaging 2 (phi + eps) over eps ~ N(0, 1) is the reparameterization estimator of "
      "grad E[x^2]; tutorial 07 compares it with the score-function estimator.");
}

// Part 2: a two-layer network, loss = mean((tanh(x W1 + b1) W2 + b2 - y)^2).
void two_layer_network(tut::Tutorial& t, ad::Rng& rng) {
  t.section("AD", "A tiny two-layer network: the same sweep on matrices");
  const int64_t batch = 4, in = 3, hidden = 5;
  Tensor x = rng.normal({batch, in}, ad::f64).named("x");
  Tensor y = rng.normal({batch, 1}, ad::f64).named("y");
  std::vector<Tensor> params = {rng.normal({in, hidden}, ad::f64, 0, 0.5).named("W1"),
                                rng.normal({hidden}, ad::f64, 0, 0.1).named("b1"),
                                rng.normal({hidden, 1}, ad::f64, 0, 0.5).named("W2"),
                                rng.normal({1}, ad::f64, 0, 0.1).named("b2")};
  auto loss_of = [&](const std::vector<Tensor>& p) {
    Tensor h = ad::tanh(ad::matmul(x, p[0]) + p[1]);
    Tensor y_hat = ad::matmul(h, p[2]) + p[3];
    return ad::mean(ad::pow(y_hat - y, 2));
  };

  for (Tensor& p : params) p.requires_grad_();
  Tensor loss = loss_of(params).named("loss");
  t.note("Forward pass ({} variables, loss = {:.6g}):",
         ad::tape().leaves().size() + ad::tape().entries().size(), loss.item());
  fmt::print("{}", indented(ad::tape().str()));
  t.note("Reverse sweep: each backward turns its output's adjoint into its inputs' adjoints");
  ad::BackwardOptions sweep;
  sweep.keep_tape = true;
  sweep.on_entry = print_sweep_step;
  ad::backward(loss, sweep);

  // One adjoint by hand: loss = mean((y_hat - y)^2) over 4 rows, so
  // d loss / d b2 = (2 / 4) * sum(y_hat - y).
  double residual_sum = 0;
  {
    ad::NoGrad plain;
    Tensor h = ad::tanh(ad::matmul(x, params[0]) + params[1]);
    residual_sum = ad::sum(ad::matmul(h, params[2]) + params[3] - y).item();
  }
  t.check_close("AD", "d loss/d b2 from the tape vs (2/N) sum(y_hat - y)", params[3].grad().item(),
                2.0 / batch * residual_sum, 1e-12);
  t.save_text("two_layer_wengert.csv", wengert_csv());
  save_graph(t, "two_layer_graph", /*values=*/false);
  ad::tape().clear();

  // Every entry of every gradient against central finite differences.
  std::vector<Tensor> values;
  for (const Tensor& p : params) values.push_back(p.detach());
  ad::GradcheckResult check = ad::gradcheck(loss_of, values);
  t.note("gradcheck over all {} parameters: {}", 3 * 5 + 5 + 5 + 1, check.str());
  t.check_less("AD", "worst relative error, tape vs finite differences (every parameter)",
               check.worst_error, 1e-6);
}

}  // namespace

static int run(int argc, char** argv) {
  tut::Tutorial t(
      "00_autodiff_tape",
      "The tape, step by step: reverse-mode autodiff on Example 1.5 and a tiny network");
  double phi = 1.0, eps = 0.5;
  t.flags()
      .add_option("--phi", phi, "the parameter phi of f(phi) = (phi + eps)^2")
      ->check(tut::finite_number());
  t.flags().add_option("--eps", eps, "the fixed noise value eps")->check(tut::finite_number());
  if (auto exit_code = t.parse(argc, argv)) return *exit_code;
  ad::Rng rng(t.seed());

  example_1_5(t, phi, eps);
  two_layer_network(t, rng);
  return t.finish();
}

// Any error after the flags are read ends the program with one line and exit status 1.
int main(int argc, char** argv) {
  return tut::report_errors("00_autodiff_tape", [&] { return run(argc, argv); });
}
