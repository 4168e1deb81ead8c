// Tensor and tape behaviour: how gradients accumulate, what the tape records and
// prints, and the error messages a student sees when something is wrong.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <string>

#include "autodiff/autodiff.h"
#include "tests/helpers.h"

using namespace ad;

using test_helpers::contains;

namespace {
template <class F>
std::string error_of(F f) {
  return test_helpers::error_of<ad::Error>(f);
}
}  // namespace

TEST_CASE("a tensor holds shape, dtype and row-major values") {
  Tensor t = Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3}, f64);
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.dtype() == f64);
  CHECK(t.numel() == 6);
  CHECK(t.dim(-1) == 3);
  CHECK(t.flat(4) == 5.0);
  CHECK(to_string(t.shape()) == "[2x3]");
  CHECK(to_string(Tensor::scalar(1).shape()) == "[]");
  CHECK(Tensor::zeros({3}).dtype() == f32);
  CHECK(contains(error_of([] { Tensor::zeros({1, 2, 3, 4, 5}); }), "more than the supported 4"));
  CHECK(contains(error_of([&] { t.item(); }), "not 1"));
  CHECK(contains(error_of([] { Tensor::from({1, 2}, {3}); }), "2 values given for shape [3]"));
}

TEST_CASE("the Example 1.5 expression: f(phi) = (phi + eps)^2 has gradient 2(phi + eps)") {
  Tensor phi = Tensor::scalar(1.0, f64).requires_grad_().named("phi");
  Tensor eps = Tensor::scalar(0.5, f64).named("eps");
  Tensor f = pow(phi + eps, 2);
  CHECK(f.item() == doctest::Approx(2.25));
  backward(f);
  CHECK(phi.grad().item() == doctest::Approx(3.0));
  CHECK_FALSE(eps.grad().defined());  // a constant gets no gradient
  CHECK(tape().entries().empty());    // the tape is freed after backward
}

TEST_CASE("a node used several times receives the sum of its paths") {
  Tensor x = Tensor::scalar(3.0, f64).requires_grad_();
  Tensor y = x * x + x;  // dy/dx = 2x + 1 = 7
  backward(y);
  CHECK(x.grad().item() == doctest::Approx(7.0));

  Tensor a = Tensor::from({1, 2}, {2}, f64).requires_grad_();
  Tensor b = exp(a);
  Tensor z = sum(b * b + b);  // b is reused: dz/da = (2b + 1) e^a
  backward(z);
  for (int i = 0; i < 2; ++i) {
    double e = std::exp(a.flat(i));
    CHECK(a.grad().flat(i) == doctest::Approx((2 * e + 1) * e));
  }
}

TEST_CASE("gradients accumulate across backward calls until zero_grad") {
  Tensor x = Tensor::scalar(2.0, f64).requires_grad_();
  backward(x * x);  // 4
  backward(x * x);  // + 4
  CHECK(x.grad().item() == doctest::Approx(8.0));
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  backward(x * 3.0);
  CHECK(x.grad().item() == doctest::Approx(3.0));
}

TEST_CASE("backward twice over a kept tape doubles leaf gradients, not intermediates") {
  Tensor x = Tensor::scalar(2.0, f64).requires_grad_();
  Tensor h = x * x;
  Tensor y = h * 3.0;
  BackwardOptions keep;
  keep.keep_tape = true;
  backward(y, keep);
  CHECK(h.grad().item() == doctest::Approx(3.0));
  backward(y, keep);
  CHECK(h.grad().item() == doctest::Approx(3.0));   // adjoints restart from zero
  CHECK(x.grad().item() == doctest::Approx(24.0));  // leaves accumulate: 12 + 12
  tape().clear();
}

TEST_CASE("backward on a cleared tape, from a non-scalar, or without grads says what to do") {
  Tensor x = Tensor::from({1, 2}, {2}, f64).requires_grad_();
  Tensor y = sum(x * x);
  backward(y);
  CHECK(contains(error_of([&] { backward(y); }), "keep_tape"));

  Tensor v = x * 2.0;
  CHECK(contains(error_of([&] { backward(v); }), "shape [2], not a single value"));
  CHECK(tape().entries().empty());  // a backward that throws clears the tape: compute again
  v = x * 2.0;
  BackwardOptions seeded;
  seeded.seed = Tensor::from({1, 10}, {2}, f64);
  backward(v, seeded);
  CHECK(x.grad().flat(1) == doctest::Approx(2.0 * 2 + 20.0));  // 4 from y, 20 from v

  // A value computed before that backward cannot carry gradients back any more.
  Tensor h = x * 3.0;
  backward(sum(h));
  CHECK(contains(error_of([&] { backward(sum(h * 2.0)); }), "earlier backward cleared"));
  CHECK(tape().entries().empty());  // the failed attempt cleared the tape

  Tensor c = Tensor::scalar(1.0, f64);
  CHECK(contains(error_of([&] { backward(c * 2.0); }), "forget .requires_grad_()"));
}

TEST_CASE("a value whose history was freed is marked so, and backward through it throws") {
  Tensor x = Tensor::from({1, 2}, {2}, f64).requires_grad_().named("x");
  Tensor h = exp(x).named("h");
  CHECK(h.node()->tape_id == 2);  // v1 = x, v2 = exp(v1)
  CHECK(h.node()->tape_entry == 0);
  backward(sum(h));  // clears the tape: h's history is gone
  CHECK(h.node()->tape_id == 0);
  CHECK(h.node()->tape_entry == kHistoryFreed);
  CHECK(x.node()->tape_entry == kLeaf);  // a leaf stays a leaf
  const std::vector<double> first = x.grad().to_vector();

  // Reused as an input, h is numbered on the new tape but printed as what it is ...
  Tensor y = sum(h * x);
  CHECK(contains(tape().str(), "(history freed)"));
  // ... and the gradient that reaches it is an error, not a silent zero. d y / d x has a
  // path through x too: that part must not be added to x.grad() either.
  CHECK(contains(error_of([&] { backward(y); }), "v1 (an input of mul) was computed on a tape"));
  CHECK(tape().entries().empty());
  CHECK(x.grad().to_vector() == first);

  // The loss itself from a cleared tape.
  CHECK(contains(error_of([&] { backward(h); }), "no longer on the tape"));
  // Its detached value is an ordinary constant.
  Tensor z = sum(h.detach() * x);
  backward(z);
  CHECK(x.grad().flat(1) == doctest::Approx(first[1] + std::exp(2.0)));
}

TEST_CASE("a freed value stays freed on later tapes, and ad::grad through it throws too") {
  Tensor x = Tensor::from({1, 2}, {2}, f64).requires_grad_().named("x");
  Tensor h = exp(x);
  backward(sum(h));  // h's history is gone
  const std::vector<double> first = x.grad().to_vector();
  // Used on a new tape that is then cleared by another route: still freed, never a leaf.
  Tensor unused = sum(h * 2.0);
  tape().clear();
  CHECK(h.node()->tape_entry == kHistoryFreed);
  CHECK(h.node()->tape_id == 0);
  // ad::grad meets it like backward does: an error naming it, the tape cleared, and no
  // grad() touched (grad never touches one, and x's own path must not leak into it).
  Tensor y = sum(h * x);
  CHECK(contains(error_of([&] { grad(y, {x}); }), "(an input of mul) was computed on a tape"));
  CHECK(tape().entries().empty());
  CHECK(x.grad().to_vector() == first);
  // The same value where no gradient has to reach it: under NoGrad, or detached.
  {
    NoGrad plain;
    CHECK(sum(h * x).item() == doctest::Approx(std::exp(1.0) + 2 * std::exp(2.0)));
  }
  std::vector<Tensor> g = grad(sum(h.detach() * x), {x});
  CHECK(g[0].flat(0) == doctest::Approx(std::exp(1.0)));
  CHECK(tape().entries().empty());
}

TEST_CASE("a backward that throws leaves the tape cleared and no gradient changed") {
  Tensor a = Tensor::scalar(2.0, f64).requires_grad_();
  Tensor b = Tensor::scalar(3.0, f64).requires_grad_();
  backward(a * b);  // a.grad = 3, b.grad = 2
  // An op whose backward fails, recorded first so that the sweep has already passed b's
  // gradient on (it would accumulate 5) when it reaches it.
  Tensor bad = Tensor::scalar(a.item(), f64);
  tape().record("failing", {a}, bad, [](const Tensor&) -> Grads {
    throw Error("failing: backward not available");
  });
  Tensor loss = bad + b * 5.0;
  CHECK(contains(error_of([&] { backward(loss); }), "failing: backward not available"));
  CHECK(tape().entries().empty());
  CHECK(a.grad().item() == 3.0);
  CHECK(b.grad().item() == 2.0);  // not 2 + 5
  // keep_tape does not keep a tape a failed backward went through either.
  Tensor again = a * 1.0;
  bad = Tensor::scalar(1.0, f64);
  tape().record("failing", {a}, bad, [](const Tensor&) -> Grads { throw Error("x"); });
  BackwardOptions keep;
  keep.keep_tape = true;
  CHECK_THROWS_AS(backward(sum(again + bad), keep), Error);
  CHECK(tape().entries().empty());
}

TEST_CASE("NoGrad records nothing and detach cuts a path") {
  Tensor x = Tensor::scalar(2.0, f64).requires_grad_();
  {
    NoGrad no_grad;
    Tensor y = x * x;
    CHECK_FALSE(y.requires_grad());
    CHECK(tape().entries().empty());
  }
  Tensor y = x * x.detach();  // only the first factor carries a gradient: d/dx = x
  backward(y);
  CHECK(x.grad().item() == doctest::Approx(2.0));
}

TEST_CASE("errors name the op and both shapes") {
  Tensor a = Tensor::zeros({3, 4}), b = Tensor::zeros({5});
  std::string msg = error_of([&] { add(a, b); });
  CHECK(contains(msg, "add"));
  CHECK(contains(msg, "[3x4]"));
  CHECK(contains(msg, "[5]"));
  msg = error_of([&] { matmul(Tensor::zeros({2, 3}), Tensor::zeros({4, 5})); });
  CHECK(contains(msg, "matmul"));
  CHECK(contains(msg, "[2x3] and [4x5]"));
  msg = error_of([&] { mul(Tensor::zeros({2}, f32), Tensor::zeros({2}, f64)); });
  CHECK(contains(msg, "mul: dtype mismatch: float32 [2] and float64 [2]"));
  CHECK(
      contains(error_of([&] { sum(a, 2); }), "sum: axis 2 is out of range for a tensor of rank 2"));
  CHECK(contains(error_of([&] { slice(a, 1, 2, 9); }),
                 "slice: [2, 9) is out of range for axis 1 of size 4"));
  CHECK(contains(error_of([&] { gather(a, 0, {0, 3}); }), "gather: index 3 is out of range"));
  CHECK(contains(error_of([&] { reshape(a, {5, -1}); }), "cannot view [3x4]"));
  CHECK(contains(error_of([&] { concat({a, b}, 0); }), "concat"));
}

TEST_CASE("the tape prints as a numbered Wengert list and exports Graphviz DOT") {
  Tensor w = Tensor::zeros({128, 400}).requires_grad_().named("w");
  Tensor x = Tensor::zeros({128, 400}).named("x");
  Tensor y = mul(w, x);
  Tensor l = sum(y);
  std::string list = tape().str();
  CHECK(contains(list, "v1 = w"));
  CHECK(contains(list, "v3 = mul(v1, v2)"));
  CHECK(contains(list, "[128x400]"));
  CHECK(contains(list, "v4 = sum(v3)"));
  std::string dot = tape().to_dot();
  CHECK(contains(dot, "digraph"));
  CHECK(contains(dot, "v1 -> v3"));
  CHECK(contains(dot, "v3 -> v4"));
  CHECK(contains(dot, "v4 = sum\\nscalar"));  // a scalar's shape reads "scalar", not "[]"
  Tensor half = mul(l, Tensor::scalar(0.5));  // an unnamed constant shows its value
  CHECK(contains(tape().to_dot(), "v5 = 0.5\\nscalar"));
  (void)half;
  tape().clear();
}

TEST_CASE("stable forms stay finite at +-100 and beyond") {
  Tensor x = Tensor::from({-1000, -100, 0, 100, 1000}, {5}, f64).requires_grad_();
  Tensor s = sigmoid(x), sp = softplus(x), ls = log_sigmoid(x);
  for (int i = 0; i < 5; ++i) {
    CHECK(std::isfinite(s.flat(i)));
    CHECK(std::isfinite(sp.flat(i)));
    CHECK(std::isfinite(ls.flat(i)));
  }
  CHECK(sp.flat(3) == doctest::Approx(100.0));
  CHECK(ls.flat(1) == doctest::Approx(-100.0));
  CHECK(s.flat(1) == doctest::Approx(std::exp(-100.0)).epsilon(1e-12));
  CHECK(sp.flat(1) == doctest::Approx(std::exp(-100.0)).epsilon(1e-12));  // log1p keeps it
  backward(sum(s + sp + ls));
  for (int i = 0; i < 5; ++i) CHECK(std::isfinite(x.grad().flat(i)));

  Tensor big = Tensor::from({1000, 1000, -1000, 0}, {2, 2}, f32).requires_grad_();
  Tensor lse = logsumexp(big, 1);
  CHECK(lse.flat(0) == doctest::Approx(1000 + std::log(2.0)));
  CHECK(lse.flat(1) == doctest::Approx(0.0));
  Tensor lsm = log_softmax(big, 1);
  CHECK(lsm.flat(2) == doctest::Approx(-1000.0));
  backward(sum(lse) + sum(lsm));
  for (int i = 0; i < 4; ++i) CHECK(std::isfinite(big.grad().flat(i)));
  Tensor all_minus_inf = Tensor::full({3}, -INFINITY, f64);
  CHECK(std::isinf(logsumexp(all_minus_inf, 0).item()));
}

TEST_CASE("Rng: a seed gives the same numbers on every machine") {
  Rng rng(42);
  // The first outputs of xoshiro256** seeded through splitmix64(42), as computed by an
  // independent Python transcription of the reference C code.
  CHECK(rng.next_u64() == 0x15780b2e0c2ec716ULL);
  CHECK(rng.next_u64() == 0x6104d9866d113a7eULL);
  CHECK(rng.next_u64() == 0xae17533239e499a1ULL);

  Rng a(7), b(7);
  for (int i = 0; i < 10; ++i) CHECK(a.normal() == b.normal());

  // N(0,1) draws: mean within 4 standard errors of 0, variance within 4 of 1.
  Rng r(1);
  const int n = 200000;
  double s = 0, s2 = 0;
  for (int i = 0; i < n; ++i) {
    double z = r.normal();
    s += z;
    s2 += z * z;
  }
  double mean = s / n, var = s2 / n - mean * mean;
  CHECK(std::abs(mean) < 4 / std::sqrt(n));
  CHECK(std::abs(var - 1) < 4 * std::sqrt(2.0 / n));
  for (int i = 0; i < 1000; ++i) {
    int64_t k = r.below(7);
    CHECK((k >= 0 && k < 7));
  }
}

// Rng::normal(shape) computes the Box-Muller pairs on several threads; element i must still
// be the i-th scalar draw, whether a spare is waiting before the call or left after it.
TEST_CASE("Rng: a tensor of normal draws holds the scalar draws in order, on any thread count") {
  const int saved = omp_get_max_threads();
  for (int threads : {1, 2, 3})
    for (int64_t n : {int64_t{1}, int64_t{2}, int64_t{7}, int64_t{100003}, int64_t{100004}})
      for (bool spare_waiting : {false, true})
        for (DType dtype : {f32, f64}) {
          CAPTURE(threads);
          CAPTURE(n);
          CAPTURE(spare_waiting);
          omp_set_num_threads(threads);
          Rng tensor_rng(5), scalar_rng(5);
          if (spare_waiting) CHECK(tensor_rng.normal() == scalar_rng.normal());
          const std::vector<double> drawn = tensor_rng.normal({n}, dtype, 0.5, 2.0).to_vector();
          int64_t wrong = 0;
          for (int64_t i = 0; i < n; ++i) {
            const double z = scalar_rng.normal(0.5, 2.0);
            wrong += drawn[i] != (dtype == f32 ? static_cast<float>(z) : z);
          }
          CHECK(wrong == 0);
          CHECK(tensor_rng.normal() == scalar_rng.normal());  // the same spare, or none
          CHECK(tensor_rng.next_u64() == scalar_rng.next_u64());
        }
  omp_set_num_threads(saved);
}

// ---- ad::grad and create_graph: derivatives that are themselves on the tape ----

TEST_CASE("grad returns the gradients backward would add, and touches no grad()") {
  Rng rng(11);
  Tensor x = rng.normal({3, 2}, f64).requires_grad_();
  Tensor w = rng.normal({2, 4}, f64).requires_grad_();
  backward(sum(matmul(x, w)));  // some earlier gradient in x.grad() and w.grad()
  const std::vector<double> x_before = x.grad().to_vector(), w_before = w.grad().to_vector();

  auto loss_of = [&] { return sum(tanh(matmul(x, w)) * 2.0); };
  std::vector<Tensor> g = grad(loss_of(), {x, w});
  CHECK(tape().entries().empty());  // cleared, as by backward
  CHECK(x.grad().to_vector() == x_before);
  CHECK(w.grad().to_vector() == w_before);
  CHECK_FALSE(g[0].requires_grad());  // without create_graph: plain values

  x.zero_grad();
  w.zero_grad();
  backward(loss_of());
  for (int64_t i = 0; i < x.numel(); ++i) CHECK(g[0].flat(i) == x.grad().flat(i));
  for (int64_t i = 0; i < w.numel(); ++i) CHECK(g[1].flat(i) == w.grad().flat(i));

  // An intermediate as an input: its adjoint. A tensor the output does not depend on: 0.
  Tensor h = matmul(x, w);
  Tensor unused = Tensor::ones({2}, f64).requires_grad_();
  std::vector<Tensor> gh = grad(sum(h * h), {h, unused});
  for (int64_t i = 0; i < h.numel(); ++i) CHECK(gh[0].flat(i) == doctest::Approx(2 * h.flat(i)));
  CHECK(gh[1].to_vector() == std::vector<double>{0, 0});

  Tensor c = Tensor::ones({2}, f64);
  CHECK(contains(error_of([&] { grad(sum(x) + sum(c), {c}); }), "input 0 does not require grad"));
  CHECK(tape().entries().empty());
}

TEST_CASE("create_graph: d/dphi of (d/dphi f) for f = (phi + eps)^3, and its tape") {
  Tensor phi = Tensor::scalar(1.0, f64).requires_grad_().named("phi");
  Tensor eps = Tensor::scalar(0.5, f64).named("eps");
  Tensor f = pow(phi + eps, 3);
  Tensor df = grad(f, {phi}, {.create_graph = true})[0];  // 3 (phi + eps)^2
  CHECK(df.requires_grad());
  CHECK(df.item() == doctest::Approx(3 * 1.5 * 1.5));
  const size_t first_order_entries = tape().entries().size();
  CHECK(first_order_entries > 2);  // add, pow, and the recorded backward of pow
  CHECK(contains(tape().str(), "pow(v3, 2)"));  // its backward: p a^(p-1)
  Tensor d2f = grad(df, {phi})[0];  // 6 (phi + eps)
  CHECK(d2f.item() == doctest::Approx(6 * 1.5));
  CHECK(tape().entries().empty());

  // backward with create_graph leaves a differentiable phi.grad() on a kept tape.
  Tensor g = pow(phi + eps, 3);
  backward(g, {.create_graph = true});
  CHECK(phi.grad().requires_grad());
  Tensor d2 = grad(phi.grad(), {phi})[0];
  CHECK(d2.item() == doctest::Approx(9.0));
  phi.zero_grad();
}

TEST_CASE("a Hessian-vector product matches finite differences of the gradient") {
  // f(x) = sum(exp(A x) * sin(x)) + logsumexp(x x^T ...), through matmul, exp, sin and a
  // reduction: H v = d/dx <grad f(x), v>.
  Rng rng(4);
  Tensor a = rng.normal({4, 4}, f64, 0, 0.5);
  auto f = [&](const Tensor& x) {
    Tensor ax = matmul(a, reshape(x, {4, 1}));
    return sum(exp(reshape(ax, {4})) * sin(x)) + logsumexp(x * x, 0);
  };
  Tensor x = rng.normal({4}, f64).requires_grad_();
  Tensor v = rng.normal({4}, f64);
  Tensor gx = grad(f(x), {x}, {.create_graph = true})[0];
  Tensor hv = grad(sum(gx * v), {x})[0];

  const double h = 1e-5;
  auto gradient_at = [&](double t) {
    Tensor xt = (x.detach() + v * t).requires_grad_();
    return grad(f(xt), {xt})[0];
  };
  Tensor up = gradient_at(h), down = gradient_at(-h);
  for (int64_t i = 0; i < 4; ++i)
    CHECK(hv.flat(i) == doctest::Approx((up.flat(i) - down.flat(i)) / (2 * h)).epsilon(1e-7));
}

TEST_CASE("create_graph through a backward that records nothing is an error naming the op") {
  // An op with a hand-written backward kernel (no recorded ops): d sin(x) = g cos(x) by loop.
  auto sine_by_kernel = [](const Tensor& x) {
    Tensor out = Tensor::from({std::sin(x.item())}, {}, f64);
    tape().record("sine_by_kernel", {x}, out, [x](const Tensor& g) -> Grads {
      return {Tensor::from({g.item() * std::cos(x.item())}, {}, f64)};
    });
    return out;
  };
  Tensor x = Tensor::scalar(0.3, f64).requires_grad_();
  CHECK(grad(sine_by_kernel(x) * 2.0, {x})[0].item() == doctest::Approx(2 * std::cos(0.3)));
  std::string msg = error_of([&] {
    gradgradcheck([&](const std::vector<Tensor>& v) { return sine_by_kernel(v[0]); }, {x.detach()});
  });
  CHECK(contains(msg, "backward of sine_by_kernel"));
  CHECK(contains(msg, "create_graph cannot differentiate it again"));
  CHECK(tape().entries().empty());
}

TEST_CASE("backward or grad of a leaf clears the tape like any other call") {
  ad::Tensor x = ad::Tensor::from({1.0, 2.0}, {2}).requires_grad_();
  ad::Tensor leaf = ad::Tensor::from({3.0}, {}).requires_grad_();
  ad::Tensor unrelated = x * x;  // something recorded before
  REQUIRE(ad::tape().size() > 0);
  ad::backward(leaf);
  CHECK(ad::tape().size() == 0);
  CHECK(leaf.grad().item() == 1.0);
  unrelated = x * x;
  REQUIRE(ad::tape().size() > 0);
  const std::vector<ad::Tensor> g = ad::grad(leaf, {leaf, x});
  CHECK(ad::tape().size() == 0);
  CHECK(g[0].item() == 1.0);
  CHECK(g[1].to_vector() == std::vector<double>{0.0, 0.0});
  unrelated = x * x;  // keep_tape keeps it
  ad::backward(leaf, {.keep_tape = true});
  CHECK(ad::tape().size() > 0);
  ad::tape().clear();
}
