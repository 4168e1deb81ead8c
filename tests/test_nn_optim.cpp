// nn optimisers: SGD with momentum and Adam against their formulas worked by hand,
// gradient clipping, optimiser state, and a short training run.
#include <doctest/doctest.h>

#include <cmath>

#include "nn/nn.h"

using ad::Tensor;

namespace {

// One parameter vector p = [1, -2] (float64) with loss 0.5 * sum(p^2), so grad = p.
struct Quadratic {
  Tensor p = Tensor::from({1, -2}, {2}, ad::f64).requires_grad_();
  std::vector<nn::NamedTensor> params() { return {{"p", p}}; }
  void backward() { ad::backward(0.5 * ad::sum(p * p)); }
};

}  // namespace

TEST_CASE("nn SGD: plain and with momentum, three steps against the formula by hand") {
  // momentum = 0: p <- p - lr g. With g = p and lr = 0.1 every step multiplies p by 0.9.
  Quadratic plain;
  nn::SGD sgd(plain.params(), {.lr = 0.1});
  for (int t = 0; t < 3; ++t) {
    sgd.zero_grad();
    plain.backward();
    sgd.step();
  }
  CHECK(plain.p.flat(0) == doctest::Approx(0.729));   // 0.9^3
  CHECK(plain.p.flat(1) == doctest::Approx(-1.458));  // -2 * 0.9^3
  CHECK(sgd.steps() == 3);

  // momentum = 0.9: b <- 0.9 b + g, p <- p - 0.1 b, b starting at 0. For p[0]:
  //   t=1: g = 1     b = 1                 p = 1 - 0.1         = 0.9
  //   t=2: g = 0.9   b = 0.9 + 0.9 = 1.8   p = 0.9 - 0.18      = 0.72
  //   t=3: g = 0.72  b = 1.62 + 0.72 = 2.34 p = 0.72 - 0.234   = 0.486
  // and p[1] = -2 p[0] throughout (everything is linear in p).
  Quadratic q;
  nn::SGD momentum(q.params(), {.lr = 0.1, .momentum = 0.9});
  const std::vector<double> expected_p = {0.9, 0.72, 0.486}, expected_b = {1, 1.8, 2.34};
  for (int t = 0; t < 3; ++t) {
    momentum.zero_grad();
    q.backward();
    momentum.step();
    CHECK(q.p.flat(0) == doctest::Approx(expected_p[t]));
    CHECK(q.p.flat(1) == doctest::Approx(-2 * expected_p[t]));
    CHECK(momentum.buffer("sgd/velocity/p").flat(0) == doctest::Approx(expected_b[t]));
  }

  // weight_decay adds wd * p to the gradient: g = p + 0.5 p = 1.5 for p = 1.
  Quadratic d;
  nn::SGD decay(d.params(), {.lr = 0.1, .weight_decay = 0.5});
  d.backward();
  decay.step();
  CHECK(d.p.flat(0) == doctest::Approx(1 - 0.1 * 1.5));
}

TEST_CASE("nn Adam: three steps against Kingma & Ba, Algorithm 1, by hand") {
  // With g = p, lr = 0.1, beta1 = 0.9, beta2 = 0.999, eps = 1e-8:
  //   m <- 0.9 m + 0.1 g;  v <- 0.999 v + 0.001 g^2
  //   m_hat = m / (1 - 0.9^t);  v_hat = v / (1 - 0.999^t)
  //   p <- p - 0.1 m_hat / (sqrt(v_hat) + 1e-8)
  // Step 1: m = 0.1 g, v = 0.001 g^2, so m_hat = g and v_hat = g^2 exactly: the first step
  // is lr * g / (|g| + eps), i.e. 0.1 * sign(g) to 8 digits: p = [0.900000001, -1.9000000005].
  // Steps 2 and 3 (the same formulas evaluated in double):
  //   t=2: m = [0.18, -0.37]                v = [0.001809, 0.007606]
  //        p = [0.8004122297123382, -1.800166486621093]
  //   t=3: m = [0.24204122306123377, -0.5130166487071092]
  //        v = [0.0024478507392712793, 0.010838993381451839]
  //        p = [0.701586274504415, -1.700623392812114]
  Quadratic q;
  nn::Adam adam(q.params(), {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8});
  const std::vector<std::vector<double>> expected_p = {{0.900000001, -1.9000000005},
                                                       {0.8004122297123382, -1.800166486621093},
                                                       {0.701586274504415, -1.700623392812114}};
  for (int t = 0; t < 3; ++t) {
    adam.zero_grad();
    q.backward();
    adam.step();
    CAPTURE(t + 1);
    CHECK(q.p.flat(0) == doctest::Approx(expected_p[t][0]).epsilon(1e-12));
    CHECK(q.p.flat(1) == doctest::Approx(expected_p[t][1]).epsilon(1e-12));
  }
  CHECK(adam.buffer("adam/m/p").flat(1) == doctest::Approx(-0.5130166487071092).epsilon(1e-12));
  CHECK(adam.buffer("adam/v/p").flat(0) == doctest::Approx(0.0024478507392712793).epsilon(1e-12));
  CHECK(adam.steps() == 3);
  CHECK(adam.buffer("adam/step").item() == 3);

  // A parameter no backward reached is left alone (and its moments stay zero).
  Tensor unused = Tensor::ones({2}).requires_grad_();
  Tensor used = Tensor::ones({2}).requires_grad_();
  nn::Adam partial({{"used", used}, {"unused", unused}});
  ad::backward(ad::sum(used * used));
  partial.step();
  CHECK(unused.to_vector() == std::vector<double>{1, 1});
  CHECK(used.flat(0) < 1);
}

TEST_CASE("nn Adam and SGD in float32 track the float64 update") {
  Tensor p64 = Tensor::from({0.3, -1.2, 2.5}, {3}, ad::f64).requires_grad_();
  Tensor p32 = p64.detach().to(ad::f32).requires_grad_();
  nn::Adam a64({{"p", p64}}, {.lr = 0.05}), a32({{"p", p32}}, {.lr = 0.05});
  for (int t = 0; t < 20; ++t) {
    a64.zero_grad(), a32.zero_grad();
    ad::backward(ad::sum(ad::pow(p64, 4)));
    ad::backward(ad::sum(ad::pow(p32, 4)));
    a64.step(), a32.step();
  }
  for (int i = 0; i < 3; ++i) CHECK(p32.flat(i) == doctest::Approx(p64.flat(i)).epsilon(1e-4));
}

TEST_CASE("nn clip_grad_norm scales all gradients together and returns the norm before") {
  Tensor a = Tensor::from({1, 2}, {2}, ad::f64).requires_grad_();
  Tensor b = Tensor::from({2}, {1}, ad::f64).requires_grad_();
  std::vector<nn::NamedTensor> params = {{"a", a}, {"b", b}};
  // loss = 3 a0 + 4 a1 + 12 b: gradients [3, 4] and [12], joint norm sqrt(9 + 16 + 144) = 13.
  auto make_grads = [&] {
    a.zero_grad(), b.zero_grad();
    ad::backward(ad::sum(a * Tensor::from({3, 4}, {2}, ad::f64)) + ad::sum(b * 12.0));
  };
  make_grads();
  CHECK(nn::clip_grad_norm(params, 100.0) == doctest::Approx(13));
  CHECK(a.grad().to_vector() == std::vector<double>{3, 4});  // below the limit: unchanged

  CHECK(nn::clip_grad_norm(params, 6.5) == doctest::Approx(13));  // scaled by 6.5 / 13
  CHECK(a.grad().flat(0) == doctest::Approx(1.5));
  CHECK(a.grad().flat(1) == doctest::Approx(2));
  CHECK(b.grad().flat(0) == doctest::Approx(6));
  CHECK(nn::clip_grad_norm(params, 100.0) == doctest::Approx(6.5));  // the new norm

  // A parameter without a gradient counts as zero; a non-finite norm leaves gradients alone.
  Tensor c = Tensor::zeros({3}, ad::f64).requires_grad_();
  params.push_back({"c", c});
  CHECK(nn::clip_grad_norm(params, 100.0) == doctest::Approx(6.5));
  a.grad().set_flat(0, std::nan(""));
  CHECK(std::isnan(nn::clip_grad_norm(params, 1.0)));
  CHECK(b.grad().flat(0) == doctest::Approx(6));
  CHECK_THROWS_AS(nn::clip_grad_norm(params, 0.0), ad::Error);
}

TEST_CASE("nn optimiser state: named buffers, load_state validates before changing anything") {
  ad::Rng rng(11);
  nn::Linear fc(3, 2, rng);
  nn::Adam adam(fc, {.lr = 0.01});
  std::vector<std::string> names;
  for (const nn::NamedTensor& s : adam.state()) names.push_back(s.name);
  CHECK(names == std::vector<std::string>{"adam/step", "adam/m/weight", "adam/m/bias",
                                          "adam/v/weight", "adam/v/bias"});
  ad::backward(ad::sum(fc(rng.normal({4, 3}))));
  adam.step();
  std::vector<nn::NamedTensor> saved = adam.state();  // copies

  nn::Adam fresh(fc, {.lr = 0.01});
  std::vector<nn::NamedTensor> bad = saved;
  bad[2].tensor = Tensor::zeros({3});  // "adam/m/bias" with the wrong shape
  CHECK_THROWS_WITH_AS(fresh.load_state(bad), doctest::Contains("adam/m/bias"), ad::Error);
  CHECK(fresh.steps() == 0);
  bad = saved;
  bad.pop_back();
  CHECK_THROWS_WITH_AS(fresh.load_state(bad), doctest::Contains("'adam/v/bias' is missing"),
                       ad::Error);
  fresh.load_state(saved);
  CHECK(fresh.steps() == 1);
  CHECK(fresh.buffer("adam/v/weight").to_vector() == adam.buffer("adam/v/weight").to_vector());

  // The same tensor listed twice would be updated twice per step.
  CHECK_THROWS_WITH_AS((nn::SGD({{"w", fc.weight}, {"w2", fc.weight}})),
                       doctest::Contains("same tensor"), ad::Error);
}

TEST_CASE("nn training: a small MLP learns a separable problem with Adam in 100 steps") {
  // Two Gaussian blobs in 2-D, centred at (-1, -1) (class 0) and (1, 1) (class 1).
  ad::Rng rng(12);
  const int64_t n = 64;
  Tensor x = Tensor::zeros({n, 2});
  std::vector<int64_t> labels(n);
  for (int64_t i = 0; i < n; ++i) {
    labels[i] = i % 2;
    const double centre = labels[i] ? 1.0 : -1.0;
    x.set_flat(2 * i, rng.normal(centre, 0.4));
    x.set_flat(2 * i + 1, rng.normal(centre, 0.4));
  }
  nn::Sequential mlp;
  mlp.add<nn::Linear>(2, 16, rng);
  mlp.add<nn::ReLU>();
  mlp.add<nn::Linear>(16, 2, rng);
  nn::Adam adam(mlp, {.lr = 0.02});

  double first = 0, last = 0;
  for (int step = 0; step < 100; ++step) {
    adam.zero_grad();
    Tensor loss = nn::cross_entropy(mlp(x), labels, nn::Reduction::mean);
    if (step == 0) first = loss.item();
    last = loss.item();
    ad::backward(loss);
    adam.step();
  }
  INFO("cross-entropy fell from ", first, " to ", last);
  CHECK(first > 0.3);
  CHECK(last < 0.1 * first);
  int correct = 0;
  {
    ad::NoGrad no_grad;
    Tensor logits = mlp(x);
    for (int64_t i = 0; i < n; ++i)
      correct += (logits.flat(2 * i + 1) > logits.flat(2 * i)) == (labels[i] == 1);
  }
  CHECK(correct >= n - 1);
}
