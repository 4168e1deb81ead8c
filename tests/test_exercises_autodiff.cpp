// The exercise track's tests for the tape and the op backwards (docs/exercises.md,
// E00 and E01). Each test case is named "ENN.M: ..." so that `make grade` runs one
// exercise's cases alone (tools/grade.py). They use nothing outside autodiff/, compare with
// derivatives written out by hand (not with gradcheck, itself an exercise), and avoid
// reusing a value unless the exercise is about reuse, so each exercise needs only the
// tape's two exercises E00.1 and E00.2 besides itself.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autodiff/autodiff.h"

using ad::Tensor;

namespace {

Tensor leaf(const std::vector<double>& values, const ad::Shape& shape) {
  return Tensor::from(values, shape, ad::f64).requires_grad_();
}

// d output / d input for a seed of output's shape.
Tensor seeded_grad(const Tensor& output, const Tensor& input, const Tensor& seed) {
  ad::BackwardOptions options;
  options.seed = seed;
  return ad::grad(output, {input}, options)[0];
}

void check_values(const Tensor& got, const std::vector<double>& expected, double tol = 1e-12) {
  REQUIRE(got.numel() == static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CHECK(got.flat(static_cast<int64_t>(i)) == doctest::Approx(expected[i]).epsilon(tol));
  }
}

const std::vector<double> kX = {-1.5, -0.2, 0.3, 2.0};

}  // namespace

TEST_CASE("E00.1: an op on a value that requires grad appends one entry to the tape") {
  ad::tape().clear();
  Tensor x = leaf(kX, {4});
  Tensor y = ad::exp(x);
  REQUIRE(ad::tape().entries().size() == 1);
  const ad::Entry& e = ad::tape().entries()[0];
  CHECK(e.op == "exp");
  REQUIRE(e.inputs.size() == 1);
  CHECK(e.inputs[0].node() == x.node());
  CHECK(e.output.node() == y.node());
  CHECK(y.requires_grad());
  CHECK(ad::tape().size() == 2);  // v1 = x, v2 = exp(v1)
  CHECK(ad::tape().var_name(x) == "v1");
  CHECK(ad::tape().var_name(y) == "v2");
  {
    ad::NoGrad plain;  // nothing is recorded under NoGrad
    Tensor z = ad::exp(x);
    CHECK_FALSE(z.requires_grad());
  }
  CHECK(ad::tape().entries().size() == 1);
  ad::tape().clear();
}

TEST_CASE("E00.2: the reverse sweep chains the backward of every entry") {
  // y = sum(sin(-x)): dy/dx = -cos(-x), through three entries in reverse order.
  Tensor x = leaf(kX, {4});
  Tensor g = ad::grad(ad::sum(ad::sin(ad::neg(x))), {x})[0];
  std::vector<double> expected;
  for (double v : kX) expected.push_back(-std::cos(-v));
  check_values(g, expected);
  // backward() puts the same gradient into x.grad().
  ad::backward(ad::sum(ad::sin(ad::neg(x))));
  check_values(x.grad(), expected);
  CHECK(ad::tape().entries().empty());  // cleared afterwards
}

TEST_CASE("E00.3: a value used twice receives the sum of both paths' gradients") {
  // y = sum(sin(x) - (-x)) reaches x along two paths: dy/dx = cos(x) + 1.
  Tensor x = leaf(kX, {4});
  Tensor g = ad::grad(ad::sum(ad::sin(x) - ad::neg(x)), {x})[0];
  std::vector<double> expected;
  for (double v : kX) expected.push_back(std::cos(v) + 1);
  check_values(g, expected);
  // An intermediate used twice: u = sin(x), y = sum(u - (-u)) = 2 sum(sin x).
  Tensor u = ad::sin(x);
  Tensor h = ad::grad(ad::sum(u - ad::neg(u)), {x})[0];
  for (size_t i = 0; i < kX.size(); ++i) expected[i] = 2 * std::cos(kX[i]);
  check_values(h, expected);
}

TEST_CASE("E01.1: add and mul send the gradient back through sum_to when they broadcast") {
  Tensor a = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = leaf({0.5, -1, 2}, {3});  // broadcast over a's two rows
  std::vector<Tensor> g = ad::grad(ad::sum(a * b), {a, b});
  CHECK(g[0].shape() == a.shape());
  CHECK(g[1].shape() == b.shape());
  check_values(g[0], {0.5, -1, 2, 0.5, -1, 2});  // d/da_ij = b_j
  check_values(g[1], {1 + 4, 2 + 5, 3 + 6});     // d/db_j = sum_i a_ij
  std::vector<Tensor> s = ad::grad(ad::sum(a + b), {a, b});
  check_values(s[0], {1, 1, 1, 1, 1, 1});
  check_values(s[1], {2, 2, 2});  // each b_j was added to two elements
}

TEST_CASE("E01.2: the backward of exp is exp, of log is 1/x") {
  Tensor x = leaf(kX, {4});
  std::vector<double> e, inv;
  for (double v : kX) e.push_back(std::exp(v));
  check_values(ad::grad(ad::sum(ad::exp(x)), {x})[0], e);
  Tensor p = leaf({0.25, 1, 3, 10}, {4});
  check_values(ad::grad(ad::sum(ad::log(p)), {p})[0], {4, 1, 1.0 / 3, 0.1});
}

TEST_CASE("E01.3: the backward of tanh is 1 - tanh^2, of sigmoid s (1 - s)") {
  Tensor x = leaf(kX, {4});
  std::vector<double> dt, ds;
  for (double v : kX) {
    dt.push_back(1 - std::tanh(v) * std::tanh(v));
    const double s = 1 / (1 + std::exp(-v));
    ds.push_back(s * (1 - s));
  }
  check_values(ad::grad(ad::sum(ad::tanh(x)), {x})[0], dt);
  check_values(ad::grad(ad::sum(ad::sigmoid(x)), {x})[0], ds);
}

TEST_CASE("E01.4: the backward of relu passes the gradient where x > 0") {
  Tensor x = leaf(kX, {4});
  Tensor seed = Tensor::from({10, 20, 30, 40}, {4}, ad::f64);
  check_values(seeded_grad(ad::relu(x), x, seed), {0, 0, 30, 40});
}

TEST_CASE("E01.5: the backward of matmul is G B^T and A^T G") {
  Tensor a = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = leaf({1, -1, 0, 2, 3, 1}, {3, 2});
  Tensor g = Tensor::from({1, 0.5, -2, 1}, {2, 2}, ad::f64);
  ad::BackwardOptions options;
  options.seed = g;
  std::vector<Tensor> d = ad::grad(ad::matmul(a, b), {a, b}, options);
  std::vector<double> da(6, 0.0), db(6, 0.0);
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 3; ++k)
      for (int j = 0; j < 2; ++j) {
        da[i * 3 + k] += g.flat(i * 2 + j) * b.flat(k * 2 + j);  // (G B^T)_ik
        db[k * 2 + j] += a.flat(i * 3 + k) * g.flat(i * 2 + j);  // (A^T G)_kj
      }
  check_values(d[0], da);
  check_values(d[1], db);
}

TEST_CASE("E01.6: the backward of logsumexp is the softmax") {
  Tensor x = leaf({1, 2, 3, -1, 0, 1000}, {2, 3});  // 1000: no overflow allowed
  Tensor seed = Tensor::from({2, -1}, {2}, ad::f64);
  std::vector<double> expected;
  for (int r = 0; r < 2; ++r) {
    double m = -1e300, z = 0;
    for (int c = 0; c < 3; ++c) m = std::max(m, x.flat(r * 3 + c));
    for (int c = 0; c < 3; ++c) z += std::exp(x.flat(r * 3 + c) - m);
    for (int c = 0; c < 3; ++c) expected.push_back(seed.flat(r) * std::exp(x.flat(r * 3 + c) - m) / z);
  }
  check_values(seeded_grad(ad::logsumexp(x, 1), x, seed), expected);
}

TEST_CASE("E01.7: the backward of log_softmax is g - softmax * sum(g)") {
  Tensor x = leaf({1, 2, 3, -1, 0, 4}, {2, 3});
  Tensor seed = Tensor::from({1, 0, 0, 0.5, -2, 3}, {2, 3}, ad::f64);
  std::vector<double> expected;
  for (int r = 0; r < 2; ++r) {
    double z = 0, gsum = 0;
    for (int c = 0; c < 3; ++c) z += std::exp(x.flat(r * 3 + c)), gsum += seed.flat(r * 3 + c);
    for (int c = 0; c < 3; ++c)
      expected.push_back(seed.flat(r * 3 + c) - std::exp(x.flat(r * 3 + c)) / z * gsum);
  }
  check_values(seeded_grad(ad::log_softmax(x, 1), x, seed), expected);
}

namespace {
// sin with a wrong backward (it claims d sin x / dx = 1): gradcheck must catch it.
Tensor sin_with_wrong_backward(const Tensor& x) {
  Tensor out;
  {
    ad::NoGrad values_only;
    out = ad::sin(x);
  }
  ad::tape().record("wrong_sin", {x}, out, [](const Tensor& g) -> ad::Grads { return {g}; });
  return out;
}
}  // namespace

TEST_CASE("E01.8: gradcheck's central differences give the derivative and catch a wrong one") {
  const Tensor x = Tensor::from(kX, {4}, ad::f64);
  ad::GradcheckResult right =
      ad::gradcheck([](const std::vector<Tensor>& v) { return ad::sum(ad::sin(v[0])); }, {x});
  CHECK(right.ok);
  CHECK(right.worst_error < 1e-8);
  ad::GradcheckResult wrong = ad::gradcheck(
      [](const std::vector<Tensor>& v) { return ad::sum(sin_with_wrong_backward(v[0])); }, {x});
  CHECK_FALSE(wrong.ok);
  REQUIRE(wrong.element >= 0);
  CHECK(wrong.analytic == doctest::Approx(1.0));
  // The numeric derivative at the worst element is cos(x) to the central difference's O(h^2).
  CHECK(wrong.numeric == doctest::Approx(std::cos(kX[static_cast<size_t>(wrong.element)])).epsilon(1e-8));
}

TEST_CASE("E01.9: gradcheck's error measure is relative for large values, absolute for small") {
  CHECK(ad::relative_error(1e-3, 3e-3) == doctest::Approx(2e-3));  // |a - b| when both < 1
  CHECK(ad::relative_error(100, 101) == doctest::Approx(1.0 / 101));
  CHECK(ad::relative_error(-200, 200) == doctest::Approx(2.0));
  CHECK(ad::relative_error(5, 5) == 0.0);
  CHECK(std::isnan(ad::relative_error(std::nan(""), 1.0)));
}
