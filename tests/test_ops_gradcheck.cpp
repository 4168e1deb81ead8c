// Every differentiable op, checked against central finite differences in double.
//
// The table below has one row per case: a name, the input shapes, the input domain and
// the function to differentiate. Adding an op means adding a row here: gradcheck checks
// its first derivatives and gradgradcheck its second (its backward under create_graph);
// the last test reads the sources and fails for any op recorded on the tape that no row
// covers.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "autodiff/autodiff.h"
#include "nn/conv.h"  // im2col / col2im and the convolutions, the ops nn/conv*.cpp record
#include "nn/loss.h"  // bce_with_logits, recorded as one op
#include "tests/helpers.h"

using namespace ad;

namespace {

// Where the inputs are drawn from, so that no input sits on a kink (relu, abs, clamp
// at its bounds) or outside the op's domain (log, sqrt, division).
enum class Domain { any, positive, away_from_zero };

struct OpCase {
  std::string name;  // the op name first, as the tape records it
  std::vector<Shape> shapes;
  Domain domain;
  TensorFunction f;
};

Tensor input(Rng& rng, const Shape& shape, Domain domain) {
  Tensor t = rng.normal(shape, f64);
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = t.flat(i);
    if (domain == Domain::positive) t.set_flat(i, 0.5 + std::abs(v));
    if (domain == Domain::away_from_zero) t.set_flat(i, (v < 0 ? -1 : 1) * (0.2 + std::abs(v)));
  }
  return t;
}

using X = const std::vector<Tensor>&;
const Domain any = Domain::any, pos = Domain::positive, nonzero = Domain::away_from_zero;

const std::vector<OpCase>& op_table() {
  static const std::vector<OpCase> table = {
      {"add same shape", {{3, 4}, {3, 4}}, any, [](X x) { return add(x[0], x[1]); }},
      {"add [3,1]+[1,4]", {{3, 1}, {1, 4}}, any, [](X x) { return add(x[0], x[1]); }},
      {"add [2,3,4]+[4]", {{2, 3, 4}, {4}}, any, [](X x) { return add(x[0], x[1]); }},
      {"add []+[2,3]", {{}, {2, 3}}, any, [](X x) { return add(x[0], x[1]); }},
      {"sub [3,1]-[1,4]", {{3, 1}, {1, 4}}, any, [](X x) { return sub(x[0], x[1]); }},
      {"sub [2,3,4]-[3,1]", {{2, 3, 4}, {3, 1}}, any, [](X x) { return sub(x[0], x[1]); }},
      {"mul [3,1]*[1,4]", {{3, 1}, {1, 4}}, any, [](X x) { return mul(x[0], x[1]); }},
      {"mul [2,3,4]*[4]", {{2, 3, 4}, {4}}, any, [](X x) { return mul(x[0], x[1]); }},
      {"div [3,4]/[3,1]", {{3, 4}, {3, 1}}, nonzero, [](X x) { return div(x[0], x[1]); }},
      {"div [4]/[2,3,4]", {{4}, {2, 3, 4}}, nonzero, [](X x) { return div(x[0], x[1]); }},
      {"neg", {{3, 4}}, any, [](X x) { return neg(x[0]); }},
      {"pow 2", {{3, 4}}, any, [](X x) { return pow(x[0], 2); }},
      {"pow 3", {{3, 4}}, any, [](X x) { return pow(x[0], 3); }},
      {"pow -1.5", {{3, 4}}, pos, [](X x) { return pow(x[0], -1.5); }},
      {"exp", {{3, 4}}, any, [](X x) { return exp(x[0]); }},
      {"log", {{3, 4}}, pos, [](X x) { return log(x[0]); }},
      {"sqrt", {{3, 4}}, pos, [](X x) { return sqrt(x[0]); }},
      {"abs", {{3, 4}}, nonzero, [](X x) { return abs(x[0]); }},
      {"relu", {{3, 4}}, nonzero, [](X x) { return relu(x[0]); }},
      {"sigmoid", {{3, 4}}, any, [](X x) { return sigmoid(x[0] * 3.0); }},
      {"tanh", {{3, 4}}, any, [](X x) { return tanh(x[0]); }},
      {"sin", {{3, 4}}, any, [](X x) { return sin(x[0] * 2.0); }},
      {"cos", {{3, 4}}, any, [](X x) { return cos(x[0] * 2.0); }},
      {"softplus", {{3, 4}}, any, [](X x) { return softplus(x[0] * 3.0); }},
      {"log_sigmoid", {{3, 4}}, any, [](X x) { return log_sigmoid(x[0] * 3.0); }},
      // N(0,1) inputs: some inside [-1, 1] (slope 1), some clamped (slope 0).
      {"clamp", {{3, 4}}, any, [](X x) { return clamp(x[0], -1.0, 1.0); }},
      {"sum all", {{2, 3, 4}}, any, [](X x) { return sum(x[0]); }},
      {"sum axis 0", {{2, 3, 4}}, any, [](X x) { return sum(x[0], 0); }},
      {"sum axis 1 keepdim", {{2, 3, 4}}, any, [](X x) { return sum(x[0], 1, true); }},
      {"sum axis -1", {{2, 3, 4}}, any, [](X x) { return sum(x[0], -1); }},
      {"mean all", {{2, 3, 4}}, any, [](X x) { return mean(x[0]); }},
      {"mean axis 0 keepdim", {{2, 3, 4}}, any, [](X x) { return mean(x[0], 0, true); }},
      {"mean axis 2", {{2, 3, 4}}, any, [](X x) { return mean(x[0], 2); }},
      {"max all", {{2, 3, 4}}, any, [](X x) { return max(x[0]); }},
      {"max axis 1", {{2, 3, 4}}, any, [](X x) { return max(x[0], 1); }},
      {"max axis 2 keepdim", {{2, 3, 4}}, any, [](X x) { return max(x[0], 2, true); }},
      {"logsumexp axis 0", {{3, 4}}, any, [](X x) { return logsumexp(x[0], 0); }},
      {"logsumexp axis 1 keepdim", {{3, 4}}, any, [](X x) { return logsumexp(x[0], 1, true); }},
      {"log_softmax axis -1", {{3, 4}}, any, [](X x) { return log_softmax(x[0], -1); }},
      {"log_softmax axis 0", {{2, 3, 4}}, any, [](X x) { return log_softmax(x[0], 0); }},
      {"broadcast_to",
       {{3, 1}},
       any,
       [](X x) {
         return broadcast_to(x[0], {2, 3, 4});
       }},
      {"sum_to",
       {{2, 3, 4}},
       any,
       [](X x) {
         return sum_to(x[0], {3, 1});
       }},
      {"reshape",
       {{2, 3, 4}},
       any,
       [](X x) {
         return reshape(x[0], {4, -1});
       }},
      {"transpose 2-D", {{3, 4}}, any, [](X x) { return transpose(x[0]); }},
      {"transpose axes 0,2", {{2, 3, 4}}, any, [](X x) { return transpose(x[0], 0, 2); }},
      {"concat axis 0",
       {{2, 3}, {1, 3}},
       any,
       [](X x) {
         return concat({x[0], x[1]}, 0);
       }},
      {"concat axis 1",
       {{2, 3}, {2, 1}, {2, 2}},
       any,
       [](X x) {
         return concat({x[0], x[1], x[2]}, 1);
       }},
      {"slice", {{3, 5}}, any, [](X x) { return slice(x[0], 1, 1, 4); }},
      {"gather with a repeated index",
       {{4, 3}},
       any,
       [](X x) {
         return gather(x[0], 0, {2, 0, 2});
       }},
      {"scatter_add with a repeated index",
       {{3, 2}},
       any,
       [](X x) {
         return scatter_add(x[0], 0, {2, 0, 2}, 4);
       }},
      {"gather axis 1",
       {{2, 4, 3}},
       any,
       [](X x) {
         return gather(x[0], 1, {3, 1});
       }},
      {"matmul 2-D", {{3, 4}, {4, 5}}, any, [](X x) { return matmul(x[0], x[1]); }},
      {"affine 2-D", {{3, 4}, {4, 5}, {5}}, any, [](X x) { return affine(x[0], x[1], x[2]); }},
      {"affine batched", {{2, 3, 4}, {4, 5}, {5}}, any,
       [](X x) { return affine(x[0], x[1], x[2]); }},
      {"matmul batched", {{2, 3, 4}, {2, 4, 5}}, any, [](X x) { return matmul(x[0], x[1]); }},
      {"matmul batch x shared matrix",
       {{2, 3, 4}, {4, 5}},
       any,
       [](X x) { return matmul(x[0], x[1]); }},
      // nn/loss.cpp: the fused per-element loss softplus(l) - l t, both inputs differentiated.
      {"bce_with_logits per element", {{3, 4}, {3, 4}}, any,
       [](X x) { return nn::bce_with_logits(x[0], x[1], nn::Reduction::none); }},
      // nn/loss.cpp: the same loss summed over each row, one op (a VAE's -log p(x|z)).
      {"bce_with_logits_row_sums", {{3, 5}, {3, 5}}, any,
       [](X x) { return nn::bce_with_logits_row_sums(x[0], x[1]); }},
      // nn/conv.cpp: [N, C, H, W] <-> [N, patches, C*k*k]; (kernel, stride, padding) last.
      {"im2col k3 stride 1 padding 1",
       {{2, 2, 4, 3}},
       any,
       [](X x) { return nn::im2col(x[0], 3, 1, 1); }},
      {"im2col k2 stride 2 padding 0",
       {{1, 3, 5, 4}},
       any,
       [](X x) { return nn::im2col(x[0], 2, 2, 0); }},
      {"col2im k3 stride 2 padding 1 (overlapping patches)",
       {{2, 4, 18}},
       any,
       [](X x) { return nn::col2im(x[0], 2, 4, 3, 3, 2, 1); }},
      {"col2im k2 stride 3 padding 0 (gaps)",
       {{1, 4, 12}},
       any,
       [](X x) { return nn::col2im(x[0], 3, 5, 5, 2, 3, 0); }},
      // nn/conv.cpp's fast convolutions: x, weight [, bias]; (stride, padding[, output_padding]).
      {"conv2d k3 stride 2 padding 1 with bias",
       {{2, 2, 5, 4}, {3, 2, 3, 3}, {3}},
       any,
       [](X x) { return nn::conv2d(x[0], x[1], x[2], 2, 1); }},
      {"conv2d k2 stride 1 padding 0 without bias",
       {{1, 3, 4, 3}, {2, 3, 2, 2}},
       any,
       [](X x) { return nn::conv2d(x[0], x[1], Tensor(), 1, 0); }},
      {"conv_transpose2d k3 stride 2 padding 1 output_padding 1 with bias",
       {{1, 2, 3, 2}, {2, 3, 3, 3}, {3}},
       any,
       [](X x) { return nn::conv_transpose2d(x[0], x[1], x[2], 2, 1, 1); }},
      {"conv_transpose2d k2 stride 3 output_padding 2 without bias (gaps)",
       {{2, 2, 2, 2}, {2, 1, 2, 2}},
       any,
       [](X x) { return nn::conv_transpose2d(x[0], x[1], Tensor(), 3, 0, 2); }},
      // conv2d's weight gradient, the op both convolutions' backward passes use: x, dY.
      {"conv2d_weight_grad k3 stride 2 padding 1",
       {{2, 2, 5, 4}, {2, 3, 3, 2}},
       any,
       [](X x) { return nn::conv2d_weight_grad(x[0], x[1], 3, 2, 1); }},
  };
  return table;
}

// The op name of a row: its first word.
std::string op_of(const OpCase& c) { return c.name.substr(0, c.name.find(' ')); }

// Ops whose backward cannot be differentiated again: with create_graph their backward
// throws an error naming the op. Listed here so that none is skipped silently; today
// every op of the table has a differentiable backward, so the list is empty.
const std::set<std::string> not_twice_differentiable = {};

}  // namespace

TEST_CASE("every op's gradient matches finite differences in double (error < 1e-6)") {
  Rng rng(2024);
  for (const OpCase& c : op_table()) {
    std::vector<Tensor> inputs;
    for (const Shape& s : c.shapes) inputs.push_back(input(rng, s, c.domain));
    GradcheckResult r = gradcheck(c.f, inputs);
    INFO(c.name, ": ", r.str());
    CHECK(r.ok);
    CHECK(r.worst_error < 1e-6);
  }
}

TEST_CASE("every op's second derivatives match finite differences of its first (gradgradcheck)") {
  Rng rng(2025);
  double worst = 0;
  std::string worst_case;
  for (const OpCase& c : op_table()) {
    std::vector<Tensor> inputs;
    for (const Shape& s : c.shapes) inputs.push_back(input(rng, s, c.domain));
    INFO(c.name);
    if (not_twice_differentiable.count(op_of(c))) {
      CHECK(test_helpers::contains(
          test_helpers::error_of<Error>([&] { gradgradcheck(c.f, inputs); }), op_of(c)));
      continue;
    }
    GradcheckResult r = gradgradcheck(c.f, inputs);
    INFO(r.str());
    CHECK(r.ok);
    CHECK(r.worst_error < 1e-6);
    if (r.worst_error > worst) worst = r.worst_error, worst_case = c.name;
  }
  MESSAGE("worst gradgradcheck error over the table: ", worst, " (", worst_case, ")");
  CHECK(tape().entries().empty());
}

namespace {

// The ops that keep a fused kernel for their backward beside the form written in ops
// (docs/architecture.md says why): a plain backward takes the kernel, create_graph the
// ops. gradcheck above sees only the first form and gradgradcheck only the second (against
// finite differences of itself, so a smooth but wrong formula there would pass it); this
// test ties the two together, so each is as checked as the other.
const std::set<std::string> fused_backward = {"relu", "affine", "bce_with_logits_row_sums",
                                              "conv2d", "conv_transpose2d"};

// d f / d inputs seeded with v, by a plain backward or under create_graph.
std::vector<Tensor> first_derivative(const OpCase& c, const std::vector<Tensor>& inputs,
                                     const Tensor& v, bool create_graph) {
  std::vector<Tensor> d = grad(c.f(inputs), inputs, {.seed = v, .create_graph = create_graph});
  tape().clear();
  return d;
}

// The largest relative_error between the two forms' gradients over all inputs.
double forms_disagree(const OpCase& c, Rng& rng, DType dtype) {
  std::vector<Tensor> inputs;
  for (const Shape& s : c.shapes)
    inputs.push_back(input(rng, s, c.domain).to(dtype).requires_grad_());
  Tensor v;  // one seed (v-bar) for both forms
  {
    NoGrad shape_only;
    v = rng.normal(c.f(inputs).shape(), dtype);
  }
  const std::vector<Tensor> plain = first_derivative(c, inputs, v, false);
  const std::vector<Tensor> recorded = first_derivative(c, inputs, v, true);
  double worst = 0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    REQUIRE(plain[k].shape() == recorded[k].shape());
    worst = std::max(worst, worst_relative_error(plain[k].to_vector(), recorded[k].to_vector()));
  }
  return worst;
}

}  // namespace

TEST_CASE("both forms of every backward agree: plain (fused) and create_graph (recorded)") {
  // float64 for the formulas; float32 too, where bce_with_logits_row_sums runs its kernel.
  Rng rng(2026);
  std::set<std::string> compared;
  for (const OpCase& c : op_table()) {
    INFO(c.name);
    CHECK(forms_disagree(c, rng, f64) < 1e-12);
    CHECK(forms_disagree(c, rng, f32) < 1e-5);
    compared.insert(op_of(c));
  }
  for (const std::string& op : fused_backward) {
    INFO(op, " keeps a fused backward but has no row in the table");
    CHECK(compared.count(op) == 1);
  }
}

TEST_CASE("every op runs in float32 too, agreeing with float64 forward and backward") {
  Rng rng(7);
  for (const OpCase& c : op_table()) {
    std::vector<Tensor> x64, x32;
    for (const Shape& s : c.shapes) {
      x64.push_back(input(rng, s, c.domain).requires_grad_());
      x32.push_back(x64.back().detach().to(f32).requires_grad_());
    }
    // One graph at a time: backward clears the whole tape.
    Tensor y64 = c.f(x64);
    backward(sum(y64 * y64));
    Tensor y32 = c.f(x32);
    backward(sum(y32 * y32));
    INFO(c.name);
    REQUIRE(y32.dtype() == f32);
    REQUIRE(y32.shape() == y64.shape());
    for (int64_t i = 0; i < y64.numel(); ++i)
      CHECK(y32.flat(i) == doctest::Approx(y64.flat(i)).epsilon(1e-5).scale(1));
    for (size_t k = 0; k < x64.size(); ++k)
      for (int64_t i = 0; i < x64[k].numel(); ++i)
        CHECK(x32[k].grad().flat(i) ==
              doctest::Approx(x64[k].grad().flat(i)).epsilon(1e-4).scale(1));
  }
}

TEST_CASE("reused nodes and a two-layer MLP loss pass gradcheck") {
  Rng rng(3);
  auto reused = [](X x) {
    Tensor h = tanh(x[0]);
    return sum(h * h * x[0] + exp(h) / (h * h + 1.0));  // h is used four times
  };
  GradcheckResult r = gradcheck(reused, {input(rng, {3, 2}, any)});
  INFO(r.str());
  CHECK(r.ok);

  // loss = mean over the batch of the log-softmax cross-entropy of a 2-layer MLP.
  auto mlp_loss = [](X p) {
    const Tensor &x = p[0], &w1 = p[1], &b1 = p[2], &w2 = p[3], &b2 = p[4];
    Tensor h = relu(matmul(x, w1) + b1);
    Tensor logp = log_softmax(matmul(h, w2) + b2, -1);
    return -mean(gather(reshape(logp, {-1}), 0, {0 * 3 + 1, 1 * 3 + 0, 2 * 3 + 2, 3 * 3 + 1}));
  };
  std::vector<Tensor> params = {input(rng, {4, 5}, any), input(rng, {5, 6}, any),
                                input(rng, {6}, any), input(rng, {6, 3}, any),
                                input(rng, {3}, any)};
  r = gradcheck(mlp_loss, params);
  INFO(r.str());
  CHECK(r.ok);
  CHECK(r.worst_error < 1e-6);
}

TEST_CASE("gradcheck catches a wrong gradient") {
  // A function whose recorded backward is wrong on purpose: y = x * x.detach() looks like
  // x^2 to finite differences but backward only sees one factor.
  Rng rng(5);
  auto wrong = [](X x) { return sum(x[0] * x[0].detach()); };
  GradcheckResult r = gradcheck(wrong, {input(rng, {3}, nonzero)});
  CHECK_FALSE(r.ok);
  CHECK(r.worst_error > 0.1);
  CHECK_THROWS_AS(gradcheck(wrong, {rng.normal({3}, f32)}), Error);
}

TEST_CASE("to() converts dtype and passes the gradient back in the source dtype") {
  // Not in the finite-difference table: a float32 round trip is too coarse for it.
  Tensor x = Tensor::from({1.5, -2}, {2}, f64).requires_grad_();
  Tensor y = x.to(f32);
  CHECK(y.dtype() == f32);
  backward(sum(y * 3.0));
  CHECK(x.grad().dtype() == f64);
  CHECK(x.grad().flat(1) == 3.0);
}

TEST_CASE("the table covers every op recorded anywhere in the sources") {
  // Reads autodiff/ (with its runtime/), nn/ and vae/ for tape().record("name", ...) and demands a row.
  std::set<std::string> covered = {"to"};  // checked exactly above
  for (const OpCase& c : op_table()) covered.insert(op_of(c));
  const std::filesystem::path root = std::filesystem::path(__FILE__).parent_path().parent_path();
  int ops_found = 0;
  for (const char* dir : {"autodiff", "nn", "vae"}) {
    if (!std::filesystem::exists(root / dir)) continue;
    for (const auto& file : std::filesystem::recursive_directory_iterator(root / dir)) {
      if (file.path().extension() != ".cpp") continue;
      std::ifstream in(file.path());
      std::stringstream text;
      text << in.rdbuf();
      std::string s = text.str();
      // Each occurrence of record( followed by a string literal names an op.
      const std::string marker = "record(";
      for (size_t at = s.find(marker); at != std::string::npos; at = s.find(marker, at + 1)) {
        const size_t quote = s.find_first_not_of(" \t\n", at + marker.size());
        if (quote == std::string::npos || s[quote] != '"') continue;
        const std::string op = s.substr(quote + 1, s.find('"', quote + 1) - quote - 1);
        ++ops_found;
        INFO("op \"", op, "\" recorded in ", file.path().string(),
             " has no row in op_table() of tests/test_ops_gradcheck.cpp");
        CHECK(covered.count(op) == 1);
      }
    }
  }
  CHECK(ops_found >= 30);  // the sources were found and read
}
