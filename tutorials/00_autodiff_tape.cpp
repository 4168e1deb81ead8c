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
// against finite differences. Parts 3 and 4 record the reverse sweep itself
// (create_graph): a second derivative of f, and a Hessian-vector product of the network.
//
//   build/release/tutorials/00_autodiff_tape [--phi 1] [--eps 0.5] [--seed 42] [--out DIR]
#include <fmt/format.h>

#include <algorithm>
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
void print_sweep_step(const ad::Entry& e, const Tensor& adjoint, const ad::Grads& grads) {
  const ad::Tape& tape = ad::tape();
  std::string to_inputs;
  for (size_t i = 0; i < grads.size(); ++i)
    if (grads[i].defined() && e.inputs[i].requires_grad())  // constants get no adjoint
      to_inputs += fmt::format("{}{}bar += {}", to_inputs.empty() ? "" : ";  ",
                               tape.var_name(e.inputs[i]), brief(grads[i]));
  fmt::print("    {:<4} = {:<12} {}bar = {:<28} ->  {}\n", tape.var_name(e.output), e.op,
             tape.var_name(e.output), brief(adjoint), to_inputs);
}

// The Wengert list as CSV: one row per variable with its value and adjoint.
std::string wengert_csv() {
  const ad::Tape& tape = ad::tape();
  std::string csv = "var,op,inputs,shape,value,adjoint\n";
  auto row = [&](const Tensor& v, const std::string& op, const std::string& inputs) {
    csv += fmt::format("{},{},\"{}\",{},\"{}\",\"{}\"\n", tape.var_name(v), op, inputs,
                       ad::to_string(v.shape()), brief(v), brief(v.grad()));
  };
  for (const Tensor& leaf : tape.leaves()) row(leaf, leaf.name().empty() ? "input" : leaf.name(), "");
  for (const ad::Entry& e : tape.entries()) {
    std::string inputs;
    for (const Tensor& in : e.inputs) inputs += (inputs.empty() ? "" : " ") + tape.var_name(in);
    row(e.output, e.op, inputs);
  }
  return csv;
}

// Writes the recorded graph as DOT and renders it to PNG.
void save_graph(tut::Tutorial& t, const std::string& stem, bool values) {
  ad::PrintOptions options;
  options.values = values;
  options.gradients = true;
  t.save_text(stem + ".dot", ad::tape().to_dot(options));
  const std::filesystem::path png = t.new_file(stem + ".png");
  if (tut::render_dot(t.out_path(stem + ".dot"), png)) t.note("graph drawn: {}", png.string());
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

// Part 2's network: loss = mean((tanh(x W1 + b1) W2 + b2 - y)^2) on a batch of 4.
struct TwoLayerNetwork {
  static constexpr int64_t batch = 4, in = 3, hidden = 5;
  Tensor x, y;
  std::vector<Tensor> params;  // W1, b1, W2, b2

  explicit TwoLayerNetwork(ad::Rng& rng)
      : x(rng.normal({batch, in}, ad::f64).named("x")),
        y(rng.normal({batch, 1}, ad::f64).named("y")),
        params({rng.normal({in, hidden}, ad::f64, 0, 0.5).named("W1"),
                rng.normal({hidden}, ad::f64, 0, 0.1).named("b1"),
                rng.normal({hidden, 1}, ad::f64, 0, 0.5).named("W2"),
                rng.normal({1}, ad::f64, 0, 0.1).named("b2")}) {}

  Tensor loss(const std::vector<Tensor>& p) const {
    Tensor h = ad::tanh(ad::matmul(x, p[0]) + p[1]);
    Tensor y_hat = ad::matmul(h, p[2]) + p[3];
    return ad::mean(ad::pow(y_hat - y, 2));
  }
};

// Part 2: the same sweep on the network's matrices.
void two_layer_network(tut::Tutorial& t, TwoLayerNetwork& net) {
  t.section("AD", "A tiny two-layer network: the same sweep on matrices");
  const int64_t batch = TwoLayerNetwork::batch;
  const Tensor& x = net.x;
  const Tensor& y = net.y;
  std::vector<Tensor>& params = net.params;
  auto loss_of = [&](const std::vector<Tensor>& p) { return net.loss(p); };

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

// Part 3: the reverse sweep's own operations recorded (create_graph), so that the
// derivative d f / d phi is a value on the tape, with a Wengert list of its own.
void second_derivative(tut::Tutorial& t, double phi_value, double eps_value) {
  t.section("AD", "A derivative of a derivative: d/dphi (d f/d phi) on the tape");
  Tensor phi = Tensor::scalar(phi_value, ad::f64).requires_grad_().named("phi");
  Tensor eps = Tensor::scalar(eps_value, ad::f64).named("eps");
  Tensor f = ad::pow(phi + eps, 2).named("f");
  Tensor df = ad::grad(f, {phi}, {.create_graph = true})[0].named("df/dphi");
  t.note("With create_graph the sweep records its own steps: pow's backward, v3bar =");
  t.note("v4bar * v3^1 * 2, is appended after f (v5 to v9; v6 = v4bar = 1), and its value is");
  t.note("d f / d phi = {}:", df.item());
  fmt::print("{}", indented(ad::tape().str()));

  t.note("Reverse sweep over that list, from df/dphi back to phi:");
  ad::BackwardOptions sweep;
  sweep.on_entry = print_sweep_step;
  const double d2f = ad::grad(df, {phi}, sweep)[0].item();
  t.check_close("AD", "d/dphi (d f/d phi) from the tape vs 2 (f = (phi + eps)^2)", d2f, 2.0,
                1e-12);
  const double h = 1e-5;
  auto first_derivative_at = [&](double p) {
    Tensor q = Tensor::scalar(p, ad::f64).requires_grad_();
    return ad::grad(ad::pow(q + eps, 2), {q})[0].item();
  };
  t.check_close("AD", "d/dphi (d f/d phi) vs central difference of the tape's d f/d phi", d2f,
                (first_derivative_at(phi_value + h) - first_derivative_at(phi_value - h)) / (2 * h),
                1e-8);
}

// Part 4: a Hessian-vector product, H v = d/dtheta <grad loss(theta), v>, on the network of
// part 2: the gradient kept on the tape, its inner product with v differentiated again.
// H is never formed (26 x 26 here, n x n in general): the cost is about two backward passes.
void hessian_vector_product(tut::Tutorial& t, const TwoLayerNetwork& net, ad::Rng& rng) {
  t.section("AD", "A Hessian-vector product on the tiny network");
  std::vector<Tensor> theta, v;
  for (const Tensor& p : net.params) {
    theta.push_back(p.detach().requires_grad_());
    v.push_back(rng.normal(p.shape(), ad::f64));
  }
  std::vector<Tensor> g = ad::grad(net.loss(theta), theta, {.create_graph = true});
  Tensor g_dot_v = ad::Tensor::scalar(0.0, ad::f64);
  for (size_t i = 0; i < g.size(); ++i) g_dot_v = g_dot_v + ad::sum(g[i] * v[i]);
  t.note("The tape holds the forward pass and the recorded backward: {} variables",
         ad::tape().size());
  std::vector<Tensor> hv = ad::grad(g_dot_v, theta);

  // (grad(theta + h v) - grad(theta - h v)) / 2h, every entry.
  const double h = 1e-5;
  auto gradient_at = [&](double step) {
    std::vector<Tensor> moved;
    for (size_t i = 0; i < theta.size(); ++i)
      moved.push_back((theta[i].detach() + v[i] * step).requires_grad_());
    return ad::grad(net.loss(moved), moved);
  };
  std::vector<Tensor> up = gradient_at(h), down = gradient_at(-h);
  double worst = 0;
  for (size_t i = 0; i < hv.size(); ++i)
    for (int64_t j = 0; j < hv[i].numel(); ++j) {
      const double numeric = (up[i].flat(j) - down[i].flat(j)) / (2 * h);
      worst = std::max(worst, std::abs(hv[i].flat(j) - numeric) /
                                  std::max({1.0, std::abs(numeric), std::abs(hv[i].flat(j))}));
    }
  t.note("H v for W1's first row: {:.6g} {:.6g} {:.6g} ...", hv[0].flat(0), hv[0].flat(1),
         hv[0].flat(2));
  t.check_less("AD", "H v from the tape vs central differences of the gradient (worst entry)",
               worst, 1e-6);
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
  TwoLayerNetwork network(rng);

  example_1_5(t, phi, eps);
  two_layer_network(t, network);
  second_derivative(t, phi, eps);
  hessian_vector_product(t, network, rng);
  return t.finish();
}

// Any error after the flags are read ends the program with one line and exit status 1.
int main(int argc, char** argv) {
  return tut::report_errors("00_autodiff_tape", [&] { return run(argc, argv); });
}
