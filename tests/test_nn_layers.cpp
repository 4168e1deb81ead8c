// nn layers: Module naming, Linear, Conv2d / ConvTranspose2d (against direct loops and
// finite differences), activations, losses and initialisation.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <numbers>
#include <type_traits>

#include "nn/nn.h"

using ad::Tensor;
using X = const std::vector<Tensor>&;

namespace {

// Largest |a - b| over all elements (the shapes must agree).
double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i) worst = std::max(worst, std::abs(a.flat(i) - b.flat(i)));
  return worst;
}

void check_gradcheck(const ad::TensorFunction& f, const std::vector<Tensor>& inputs) {
  ad::GradcheckResult r = ad::gradcheck(f, inputs);
  INFO(r.str());
  CHECK(r.ok);
}

// ---- a small model to test naming ----
struct Encoder : nn::Module {
  nn::Linear fc1, fc2;
  explicit Encoder(ad::Rng& rng) : fc1(4, 3, rng), fc2(3, 2, rng, /*bias=*/false) {
    register_module("fc1", fc1);
    register_module("fc2", fc2);
  }
};
struct Model : nn::Module {
  Encoder encoder;
  Tensor scale = Tensor::ones({2});
  nn::Sequential decoder;
  explicit Model(ad::Rng& rng) : encoder(rng) {
    register_module("encoder", encoder);
    register_parameter("scale", scale);
    decoder.add<nn::Linear>(2, 3, rng);
    decoder.add<nn::ReLU>();
    decoder.add<nn::Linear>(3, 4, rng);
    register_module("decoder", decoder);
  }
};

}  // namespace

TEST_CASE("nn Module: named parameters in registration order, dotted names") {
  ad::Rng rng(1);
  Model model(rng);
  std::vector<std::string> names;
  for (const nn::NamedTensor& p : model.named_parameters()) names.push_back(p.name);
  const std::vector<std::string> expected = {
      "encoder.fc1.weight", "encoder.fc1.bias", "encoder.fc2.weight", "scale",
      "decoder.0.weight",   "decoder.0.bias",   "decoder.2.weight",   "decoder.2.bias"};
  CHECK(names == expected);
  CHECK(model.parameter_count() == 4 * 3 + 3 + 3 * 2 + 2 + 2 * 3 + 3 + 3 * 4 + 4);
  for (const Tensor& p : model.parameters()) CHECK(p.requires_grad());
  // The list holds handles: writing through it changes the model's member.
  model.named_parameters()[3].tensor.set_flat(0, 7.0);
  CHECK(model.scale.flat(0) == 7.0);
  CHECK(model.summary().find("encoder.fc1.weight  [4x3]") != std::string::npos);

  // train() / eval() reach every descendant.
  CHECK(model.decoder[2].training());
  model.eval();
  CHECK_FALSE(model.training());
  CHECK_FALSE(model.encoder.fc2.training());
  CHECK_FALSE(model.decoder[2].training());
  model.train();
  CHECK(model.encoder.fc1.training());

  // zero_grad clears every parameter's gradient.
  ad::backward(ad::sum(model.decoder(model.encoder.fc2(model.encoder.fc1(Tensor::ones({1, 4}))))));
  CHECK(model.encoder.fc1.weight.grad().defined());
  model.zero_grad();
  for (const Tensor& p : model.parameters()) CHECK_FALSE(p.grad().defined());

  static_assert(!std::is_copy_constructible_v<nn::Linear> && !std::is_move_constructible_v<Model>,
                "modules are registered by address, so they must not be copied or moved");
}

TEST_CASE("nn Module: bad parameter names are rejected") {
  struct Bad : nn::Module {
    Tensor a = Tensor::zeros({1}), b = Tensor::zeros({1});
    void add(const std::string& name, Tensor& t) { register_parameter(name, t); }
  } bad;
  bad.add("a", bad.a);
  CHECK_THROWS_WITH_AS(bad.add("a", bad.b), doctest::Contains("registered twice"), ad::Error);
  CHECK_THROWS_WITH_AS(bad.add("x.y", bad.b), doctest::Contains("contains '.'"), ad::Error);
  CHECK_THROWS_AS(bad.add("", bad.b), ad::Error);
}

TEST_CASE("nn Linear: y = x W + b with W [in, out]; gradcheck in double") {
  ad::Rng rng(2);
  nn::Linear fc(3, 2, rng, true, ad::f64);
  CHECK(fc.weight.shape() == ad::Shape{3, 2});
  CHECK(fc.bias.shape() == ad::Shape{2});
  fc.weight.set_flat(0, 1), fc.weight.set_flat(1, 2);  // W = [[1, 2], [3, 4], [5, 6]]
  fc.weight.set_flat(2, 3), fc.weight.set_flat(3, 4);
  fc.weight.set_flat(4, 5), fc.weight.set_flat(5, 6);
  fc.bias.set_flat(0, 0.5), fc.bias.set_flat(1, -1);
  Tensor y = fc(Tensor::from({1, 0, -1, 2, 1, 0}, {2, 3}, ad::f64));
  // [1, 0, -1] W + b = [1 - 5, 2 - 6] + b = [-3.5, -5];  [2, 1, 0] W + b = [5, 8] + b = [5.5, 7]
  CHECK(y.to_vector() == std::vector<double>{-3.5, -5, 5.5, 7});
  CHECK_THROWS_WITH_AS(fc(Tensor::zeros({2, 4}, ad::f64)), doctest::Contains("[N, 3]"), ad::Error);

  // gradcheck runs the layer itself, on its own copies of the parameters.
  auto layer = [&](X x) {
    fc.weight = x[1];
    fc.bias = x[2];
    return fc(x[0]);
  };
  check_gradcheck(
      layer, {rng.normal({4, 3}, ad::f64), rng.normal({3, 2}, ad::f64), rng.normal({2}, ad::f64)});
  check_gradcheck(layer, {rng.normal({2, 3, 3}, ad::f64), rng.normal({3, 2}, ad::f64),
                          rng.normal({2}, ad::f64)});  // a batch of sequences [B, N, in]
  nn::Linear no_bias(3, 2, rng, false);
  CHECK_FALSE(no_bias.bias.defined());
  CHECK(no_bias.named_parameters().size() == 1);
}

TEST_CASE("nn activations, Flatten, Reshape and Sequential") {
  Tensor x = Tensor::from({-2, -0.5, 0.5, 3}, {2, 2}, ad::f64);
  CHECK(nn::leaky_relu(x, 0.1).to_vector() == std::vector<double>{-0.2, -0.05, 0.5, 3});
  nn::LeakyReLU leaky(0.1);
  CHECK(leaky(x).to_vector() == nn::leaky_relu(x, 0.1).to_vector());
  CHECK(nn::ReLU()(x).to_vector() == std::vector<double>{0, 0, 0.5, 3});
  CHECK(nn::Tanh()(x).flat(3) == doctest::Approx(std::tanh(3.0)));
  CHECK(nn::Sigmoid()(x).flat(0) == doctest::Approx(1 / (1 + std::exp(2.0))));
  CHECK(nn::Softplus()(x).flat(2) == doctest::Approx(std::log1p(std::exp(0.5))));
  ad::Rng rng(3);
  check_gradcheck([](X v) { return nn::leaky_relu(v[0], 0.2); },
                  {Tensor::from({-1.5, -0.3, 0.4, 2}, {4}, ad::f64)});

  nn::Sequential net;
  net.add<nn::Flatten>();
  auto& fc = net.add<nn::Linear>(12, 5, rng);
  net.add<nn::Tanh>();
  net.add<nn::Reshape>(ad::Shape{-1, 5, 1});
  Tensor y = net(rng.normal({2, 3, 2, 2}));
  CHECK(y.shape() == ad::Shape{2, 5, 1});
  CHECK(net.size() == 4);
  CHECK(net.named_parameters()[0].name == "1.weight");
  CHECK(&net[1] == &fc);
}

// ---- convolutions against their definitions, written as plain loops ----
namespace {

// y[n, o, i, j] = b[o] + sum over c, kh, kw of x[n, c, i s - p + kh, j s - p + kw] w[o, c, kh, kw]
// (terms whose input index falls in the padding are zero).
Tensor direct_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int64_t s, int64_t p) {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t O = w.dim(0), K = w.dim(2);
  const int64_t Ho = (H + 2 * p - K) / s + 1, Wo = (W + 2 * p - K) / s + 1;
  Tensor y = Tensor::zeros({N, O, Ho, Wo}, ad::f64);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < Ho; ++i)
        for (int64_t j = 0; j < Wo; ++j) {
          double acc = b.defined() ? b.flat(o) : 0.0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t kh = 0; kh < K; ++kh)
              for (int64_t kw = 0; kw < K; ++kw) {
                const int64_t r = i * s - p + kh, q = j * s - p + kw;
                if (r < 0 || r >= H || q < 0 || q >= W) continue;
                acc +=
                    x.flat(((n * C + c) * H + r) * W + q) * w.flat(((o * C + c) * K + kh) * K + kw);
              }
          y.set_flat(((n * O + o) * Ho + i) * Wo + j, acc);
        }
  return y;
}

// Every input pixel paints its k x k footprint, scaled by the kernel, into the output:
// y[n, o, i s - p + kh, j s - p + kw] += x[n, c, i, j] w[c, o, kh, kw]   (then + b[o]),
// with output size (H - 1) s - 2p + k + output_padding; writes outside it are dropped.
Tensor direct_conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b, int64_t s,
                               int64_t p, int64_t op) {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t O = w.dim(1), K = w.dim(2);
  const int64_t Ho = (H - 1) * s - 2 * p + K + op, Wo = (W - 1) * s - 2 * p + K + op;
  Tensor y = Tensor::zeros({N, O, Ho, Wo}, ad::f64);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < H; ++i)
        for (int64_t j = 0; j < W; ++j)
          for (int64_t o = 0; o < O; ++o)
            for (int64_t kh = 0; kh < K; ++kh)
              for (int64_t kw = 0; kw < K; ++kw) {
                const int64_t r = i * s - p + kh, q = j * s - p + kw;
                if (r < 0 || r >= Ho || q < 0 || q >= Wo) continue;
                const int64_t at = ((n * O + o) * Ho + r) * Wo + q;
                y.set_flat(at, y.flat(at) + x.flat(((n * C + c) * H + i) * W + j) *
                                                w.flat(((c * O + o) * K + kh) * K + kw));
              }
  if (b.defined())
    for (int64_t i = 0; i < y.numel(); ++i) y.set_flat(i, y.flat(i) + b.flat((i / (Ho * Wo)) % O));
  return y;
}

struct ConvCase {
  int64_t n, c_in, c_out, h, w, k, stride, padding, output_padding;
};

// Non-square images, kernels larger and smaller than the stride, padding 0 to k - 1.
const std::vector<ConvCase> conv_cases = {
    {2, 3, 4, 5, 5, 3, 1, 1, 0}, {1, 2, 3, 7, 6, 3, 2, 1, 1}, {2, 1, 2, 6, 5, 2, 2, 0, 1},
    {1, 2, 2, 4, 5, 4, 2, 1, 0}, {1, 3, 1, 5, 4, 1, 1, 0, 0}, {2, 2, 3, 5, 7, 3, 3, 2, 2},
};

}  // namespace

TEST_CASE("nn conv2d matches a direct nested-loop convolution (stride, padding, bias)") {
  ad::Rng rng(4);
  for (const ConvCase& c : conv_cases) {
    CAPTURE(c.k);
    CAPTURE(c.stride);
    CAPTURE(c.padding);
    CAPTURE(c.h);
    CAPTURE(c.w);
    Tensor x = rng.normal({c.n, c.c_in, c.h, c.w}, ad::f64);
    Tensor w = rng.normal({c.c_out, c.c_in, c.k, c.k}, ad::f64);
    Tensor b = rng.normal({c.c_out}, ad::f64);
    Tensor y = nn::conv2d(x, w, b, c.stride, c.padding);
    CHECK(y.dim(2) == nn::conv2d_output_size(c.h, c.k, c.stride, c.padding));
    CHECK(max_abs_diff(y, direct_conv2d(x, w, b, c.stride, c.padding)) < 1e-12);
    CHECK(max_abs_diff(nn::conv2d(x, w, Tensor(), c.stride, c.padding),
                       direct_conv2d(x, w, Tensor(), c.stride, c.padding)) < 1e-12);
    // The module computes the same, and float32 agrees to float32 precision.
    nn::Conv2d conv(c.c_in, c.c_out, c.k, rng, {.stride = c.stride, .padding = c.padding});
    conv.weight = w.to(ad::f32), conv.bias = b.to(ad::f32);
    CHECK(max_abs_diff(conv(x.to(ad::f32)), y) < 1e-4);
  }
}

TEST_CASE("nn conv_transpose2d matches the direct scatter definition (output_padding too)") {
  ad::Rng rng(5);
  for (const ConvCase& c : conv_cases) {
    CAPTURE(c.k);
    CAPTURE(c.stride);
    CAPTURE(c.padding);
    CAPTURE(c.output_padding);
    Tensor x = rng.normal({c.n, c.c_in, c.h, c.w}, ad::f64);
    Tensor w = rng.normal({c.c_in, c.c_out, c.k, c.k}, ad::f64);
    Tensor b = rng.normal({c.c_out}, ad::f64);
    Tensor y = nn::conv_transpose2d(x, w, b, c.stride, c.padding, c.output_padding);
    CHECK(y.dim(3) ==
          nn::conv_transpose2d_output_size(c.w, c.k, c.stride, c.padding, c.output_padding));
    CHECK(max_abs_diff(y, direct_conv_transpose2d(x, w, b, c.stride, c.padding, c.output_padding)) <
          1e-12);
  }
  // The 28x28 -> 14x14 -> 28x28 pair of a convolutional VAE.
  nn::Conv2d down(1, 4, 4, rng, {.stride = 2, .padding = 1});
  nn::ConvTranspose2d up(4, 1, 4, rng, {.stride = 2, .padding = 1});
  Tensor h = down(rng.normal({2, 1, 28, 28}));
  CHECK(h.shape() == ad::Shape{2, 4, 14, 14});
  CHECK(up(h).shape() == ad::Shape{2, 1, 28, 28});
  // 7 -> 4 with stride 2 (k 3, p 1) needs output_padding 0 to return to 7 and 1 to reach 8.
  nn::ConvTranspose2d up7(1, 1, 3, rng, {.stride = 2, .padding = 1});
  nn::ConvTranspose2d up8(1, 1, 3, rng, {.stride = 2, .padding = 1, .output_padding = 1});
  CHECK(up7(Tensor::zeros({1, 1, 4, 4})).dim(2) == 7);
  CHECK(up8(Tensor::zeros({1, 1, 4, 4})).dim(2) == 8);
  CHECK_THROWS_WITH_AS(nn::conv_transpose2d(Tensor::zeros({1, 1, 4, 4}),
                                            Tensor::zeros({1, 1, 3, 3}), Tensor(), 2, 1, 2),
                       doctest::Contains("output_padding"), ad::Error);
}

TEST_CASE("nn conv_transpose2d is the adjoint of conv2d: <conv(x), y> = <x, convT(y)>") {
  // The case's image is the small side y here; x is the size convT(y) makes, which conv2d
  // maps back to y's size (output_padding < stride makes that exact).
  ad::Rng rng(6);
  for (const ConvCase& c : conv_cases) {
    CAPTURE(c.k);
    CAPTURE(c.stride);
    CAPTURE(c.output_padding);
    Tensor y = rng.normal({c.n, c.c_out, c.h, c.w}, ad::f64);
    const int64_t xh =
        nn::conv_transpose2d_output_size(c.h, c.k, c.stride, c.padding, c.output_padding);
    const int64_t xw =
        nn::conv_transpose2d_output_size(c.w, c.k, c.stride, c.padding, c.output_padding);
    Tensor x = rng.normal({c.n, c.c_in, xh, xw}, ad::f64);
    Tensor w =
        rng.normal({c.c_out, c.c_in, c.k, c.k}, ad::f64);  // conv [out, in] = convT [in, out]
    Tensor conv_x = nn::conv2d(x, w, Tensor(), c.stride, c.padding);
    Tensor convt_y = nn::conv_transpose2d(y, w, Tensor(), c.stride, c.padding, c.output_padding);
    REQUIRE(conv_x.shape() == y.shape());
    REQUIRE(convt_y.shape() == x.shape());
    CHECK(ad::sum(conv_x * y).item() ==
          doctest::Approx(ad::sum(x * convt_y).item()).epsilon(1e-12));
  }
}

TEST_CASE("nn Conv2d and ConvTranspose2d gradcheck in double (input, weight, bias)") {
  ad::Rng rng(7);
  nn::Conv2d conv(2, 3, 3, rng, {.stride = 2, .padding = 1, .dtype = ad::f64});
  auto conv_layer = [&](X x) {
    conv.weight = x[1];
    conv.bias = x[2];
    return conv(x[0]);
  };
  check_gradcheck(conv_layer, {rng.normal({2, 2, 5, 4}, ad::f64), rng.normal({3, 2, 3, 3}, ad::f64),
                               rng.normal({3}, ad::f64)});

  nn::ConvTranspose2d convt(2, 3, 3, rng,
                            {.stride = 2, .padding = 1, .output_padding = 1, .dtype = ad::f64});
  auto convt_layer = [&](X x) {
    convt.weight = x[1];
    convt.bias = x[2];
    return convt(x[0]);
  };
  check_gradcheck(convt_layer, {rng.normal({1, 2, 3, 2}, ad::f64),
                                rng.normal({2, 3, 3, 3}, ad::f64), rng.normal({3}, ad::f64)});
}

TEST_CASE("nn im2col layout: one patch per row, (channel, kh, kw) along the row") {
  // A 1x1x3x3 image 1..9, 2x2 kernel, stride 1, no padding: four patches.
  Tensor x = Tensor::from({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3}, ad::f64);
  Tensor cols = nn::im2col(x, 2, 1, 0);
  CHECK(cols.shape() == ad::Shape{1, 4, 4});
  CHECK(cols.to_vector() == std::vector<double>{1, 2, 4, 5, 2, 3, 5, 6, 4, 5, 7, 8, 5, 6, 8, 9});
  // col2im adds the copies back: the centre pixel was in all four patches.
  Tensor back = nn::col2im(cols, 1, 3, 3, 2, 1, 0);
  CHECK(back.to_vector() == std::vector<double>{1, 4, 3, 8, 20, 12, 7, 16, 9});
  // With padding 1 the first patch overhangs the top-left corner: zeros there.
  CHECK(nn::im2col(x, 2, 1, 1).to_vector()[0] == 0);
  CHECK(nn::im2col(x, 2, 1, 1).to_vector()[3] == 1);
  CHECK_THROWS_WITH_AS(nn::col2im(cols, 1, 4, 4, 2, 1, 0), doctest::Contains("expected [1x9x4]"),
                       ad::Error);
  CHECK_THROWS_AS(nn::im2col(x, 4, 1, 0), ad::Error);  // the kernel does not fit
}

// ---- losses ----

TEST_CASE("nn losses match hand-computed values, with each reduction") {
  using nn::Reduction;
  Tensor p = Tensor::from({0.5, -1, 2}, {3}, ad::f64), t = Tensor::from({1, 1, 0}, {3}, ad::f64);
  // (p - t)^2 = 0.25, 4, 4
  CHECK(nn::mse(p, t, Reduction::sum).item() == doctest::Approx(8.25));
  CHECK(nn::mse(p, t, Reduction::mean).item() == doctest::Approx(2.75));
  CHECK(nn::mse(p, t, Reduction::none).to_vector() == std::vector<double>{0.25, 4, 4});
  CHECK_THROWS_WITH_AS(nn::mse(p, Tensor::zeros({3, 1}, ad::f64), Reduction::sum),
                       doctest::Contains("different shapes"), ad::Error);

  // bce = -[y log s + (1 - y) log(1 - s)], s = sigmoid(x)
  auto bce = [](double x, double y) {
    const double s = 1 / (1 + std::exp(-x));
    return -(y * std::log(s) + (1 - y) * std::log(1 - s));
  };
  Tensor logits = Tensor::from({0.3, -2, 1.5, 0}, {2, 2}, ad::f64);
  Tensor targets = Tensor::from({1, 0, 0.25, 1}, {2, 2}, ad::f64);
  const double bce_sum = bce(0.3, 1) + bce(-2, 0) + bce(1.5, 0.25) + bce(0, 1);
  CHECK(nn::bce_with_logits(logits, targets, Reduction::sum).item() == doctest::Approx(bce_sum));
  CHECK(nn::bce_with_logits(logits, targets, Reduction::mean).item() ==
        doctest::Approx(bce_sum / 4));
  CHECK(nn::bce_with_logits(logits, targets, Reduction::none).flat(0) ==
        doctest::Approx(std::log1p(std::exp(-0.3))));  // softplus(x) - x y at x = 0.3, y = 1

  // N(x; mu, sigma^2): (x - mu)^2 / (2 sigma^2) + log sigma + log(2 pi) / 2
  const double half_log_2pi = 0.5 * std::log(2 * std::numbers::pi);
  Tensor mu = Tensor::from({0, 1}, {2}, ad::f64), x = Tensor::from({1, -1}, {2}, ad::f64);
  // sigma = 2: 1/8 + log 2 + c  and  4/8 + log 2 + c
  CHECK(nn::gaussian_nll(mu, x, 2.0, Reduction::sum).item() ==
        doctest::Approx(0.125 + 0.5 + 2 * (std::log(2.0) + half_log_2pi)));
  Tensor log_sigma = Tensor::from({0, std::log(0.5)}, {2}, ad::f64);
  // sigma = 1: 0.5 + 0 + c;  sigma = 0.5: 4 / (2 * 0.25) + log 0.5 + c = 8 - log 2 + c
  CHECK(nn::gaussian_nll(mu, x, log_sigma, Reduction::mean).item() ==
        doctest::Approx((0.5 + 8 - std::log(2.0) + 2 * half_log_2pi) / 2));
  CHECK(nn::gaussian_nll(mu, x, Tensor::scalar(std::log(2.0), ad::f64), Reduction::sum).item() ==
        doctest::Approx(nn::gaussian_nll(mu, x, 2.0, Reduction::sum).item()));

  // Cross-entropy of logits [[1, 2, 3], [1, 1, 1]] with classes 2 and 0:
  //   row 0: log(e + e^2 + e^3) - 3;  row 1: log 3
  Tensor z = Tensor::from({1, 2, 3, 1, 1, 1}, {2, 3}, ad::f64);
  const double row0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3;
  CHECK(nn::cross_entropy(z, {2, 0}, Reduction::sum).item() ==
        doctest::Approx(row0 + std::log(3.0)));
  CHECK(nn::cross_entropy(z, {2, 0}, Reduction::mean).item() ==
        doctest::Approx((row0 + std::log(3.0)) / 2));
  CHECK(nn::cross_entropy(z, {2, 0}, Reduction::none).shape() == ad::Shape{2});
  CHECK_THROWS_WITH_AS(nn::cross_entropy(z, {3, 0}, Reduction::sum),
                       doctest::Contains("not a class"), ad::Error);
}

TEST_CASE("nn bce_with_logits is finite at logits +-100, with gradient sigmoid(x) - y") {
  Tensor x = Tensor::from({100, -100, 100, -100}, {4}).requires_grad_();  // float32
  Tensor y = Tensor::from({1, 0, 0, 1}, {4});
  Tensor loss = nn::bce_with_logits(x, y, nn::Reduction::none);
  // Right answers: ~0 (e^-100) for the two correct guesses, 100 for the two wrong ones.
  CHECK(loss.flat(0) == doctest::Approx(0).epsilon(1e-30));
  CHECK(loss.flat(1) == doctest::Approx(0).epsilon(1e-30));
  CHECK(loss.flat(2) == doctest::Approx(100));
  CHECK(loss.flat(3) == doctest::Approx(100));
  ad::backward(ad::sum(loss));
  const std::vector<double> expected = {0, 0, 1, -1};  // sigmoid(x) - y, to float precision
  for (int i = 0; i < 4; ++i) CHECK(x.grad().flat(i) == doctest::Approx(expected[i]).epsilon(1e-7));
}

TEST_CASE("nn losses gradcheck in double") {
  using nn::Reduction;
  ad::Rng rng(8);
  Tensor target = rng.uniform({3, 4}, 0, 1, ad::f64);
  check_gradcheck([&](X v) { return nn::mse(v[0], v[1], Reduction::mean); },
                  {rng.normal({3, 4}, ad::f64), rng.normal({3, 4}, ad::f64)});
  check_gradcheck([&](X v) { return nn::bce_with_logits(v[0] * 3.0, target, Reduction::none); },
                  {rng.normal({3, 4}, ad::f64)});
  check_gradcheck([&](X v) { return nn::gaussian_nll(v[0], v[1], 0.7, Reduction::sum); },
                  {rng.normal({3, 4}, ad::f64), rng.normal({3, 4}, ad::f64)});
  check_gradcheck([&](X v) { return nn::gaussian_nll(v[0], v[1], v[2], Reduction::mean); },
                  {rng.normal({3, 4}, ad::f64), rng.normal({3, 4}, ad::f64),
                   rng.normal({4}, ad::f64, 0, 0.5)});  // one log sigma per feature
  check_gradcheck(
      [&](X v) {
        return nn::cross_entropy(v[0], {1, 0, 3}, Reduction::none);
      },
      {rng.normal({3, 4}, ad::f64)});
}

// ---- initialisation ----

TEST_CASE(
    "nn init: Xavier and Kaiming sample variance matches the formula within 4 standard errors") {
  // For n draws with variance s2 and fourth central moment m4, the sample variance has
  // standard error sqrt((m4 - s2^2) / n): m4 = 3 s2^2 for a normal, and for U(-a, a)
  // (s2 = a^2 / 3, m4 = a^4 / 5) m4 = 9/5 s2^2. The mean has standard error sqrt(s2 / n).
  ad::Rng rng(9);
  const int64_t fan_in = 200, fan_out = 300;
  struct Case {
    const char* name;
    double variance;
    bool uniform;
    std::function<void(Tensor&)> draw;
  };
  const std::vector<Case> cases = {
      {"xavier_uniform", 2.0 / (fan_in + fan_out), true,
       [&](Tensor& w) { nn::init::xavier_uniform_(w, fan_in, fan_out, rng); }},
      {"xavier_normal", 2.0 / (fan_in + fan_out), false,
       [&](Tensor& w) { nn::init::xavier_normal_(w, fan_in, fan_out, rng); }},
      {"kaiming_uniform", 2.0 / fan_in, true,
       [&](Tensor& w) { nn::init::kaiming_uniform_(w, fan_in, rng); }},
      {"kaiming_normal", 2.0 / fan_in, false,
       [&](Tensor& w) { nn::init::kaiming_normal_(w, fan_in, rng); }},
      {"xavier_uniform gain 5/3 (tanh)", 25.0 / 9 * 2.0 / (fan_in + fan_out), true,
       [&](Tensor& w) { nn::init::xavier_uniform_(w, fan_in, fan_out, rng, 5.0 / 3); }},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    Tensor w = Tensor::zeros({fan_in, fan_out}).requires_grad_();
    c.draw(w);
    CHECK(w.requires_grad());
    const double n = static_cast<double>(w.numel());
    double mean = 0, var = 0;
    for (int64_t i = 0; i < w.numel(); ++i) mean += w.flat(i) / n;
    for (int64_t i = 0; i < w.numel(); ++i)
      var += (w.flat(i) - mean) * (w.flat(i) - mean) / (n - 1);
    const double m4_over_s4 = c.uniform ? 9.0 / 5 : 3.0;
    const double se_var = c.variance * std::sqrt((m4_over_s4 - 1) / n);
    CHECK(std::abs(var - c.variance) < 4 * se_var);
    CHECK(std::abs(mean) < 4 * std::sqrt(c.variance / n));
    if (c.uniform) {
      const double bound = std::sqrt(3 * c.variance);
      double largest = 0;
      for (int64_t i = 0; i < w.numel(); ++i) largest = std::max(largest, std::abs(w.flat(i)));
      CHECK(largest <= bound);
      CHECK(largest > 0.999 * bound);  // and the draws do reach the bound
    }
  }
  CHECK(nn::init::kaiming_variance(50) == doctest::Approx(2.0 / 50));
  CHECK(nn::init::xavier_variance(50, 150) == doctest::Approx(2.0 / 200));
}

TEST_CASE("nn layers start with Kaiming-scaled weights and zero bias") {
  ad::Rng rng(10);
  nn::Linear fc(400, 300, rng);
  nn::Conv2d conv(16, 32, 3, rng);
  auto variance = [](const Tensor& w) {
    double s = 0;
    for (int64_t i = 0; i < w.numel(); ++i) s += w.flat(i) * w.flat(i);
    return s / static_cast<double>(w.numel());
  };
  CHECK(variance(fc.weight) == doctest::Approx(2.0 / 400).epsilon(0.05));
  CHECK(variance(conv.weight) == doctest::Approx(2.0 / (16 * 9)).epsilon(0.05));
  CHECK(ad::sum(ad::abs(fc.bias)).item() == 0);
}
