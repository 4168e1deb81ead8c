// vae/conv_vae.h: the convolutional VAE's shapes and parameter count (those of the Keras
// demo), its negative ELBO against the shared formula, its gradient against finite
// differences, a short training run, and a checkpoint round trip.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "autodiff/autodiff.h"
#include "nn/nn.h"
#include "tests/helpers.h"
#include "vae/conv_vae.h"

using test_helpers::TemporaryFolder;

namespace {

// Synthetic 28x28 images in [0, 1]: even examples a bright square, odd ones a cross,
// with grey noise, so a 2-D latent code can tell them apart.
ad::Tensor two_prototypes(int64_t n, ad::Rng& rng, ad::DType dtype = ad::f32) {
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i)
    for (int r = 0; r < 28; ++r)
      for (int c = 0; c < 28; ++c) {
        const bool on = (i % 2 == 0) ? (r >= 7 && r < 21 && c >= 7 && c < 21)
                                     : (std::abs(r - 14) < 3 || std::abs(c - 14) < 3);
        v.push_back(on ? 0.8 + 0.2 * rng.uniform() : 0.1 * rng.uniform());
      }
  return ad::Tensor::from(v, {n, 1, 28, 28}, dtype);
}

}  // namespace

TEST_CASE("ConvVae: shapes, parameter names and the Keras demo's parameter count") {
  ad::Rng rng(1);
  vae::ConvVae model({}, rng);
  const std::vector<std::string> expected = {
      "encoder.0.weight", "encoder.0.bias", "encoder.2.weight", "encoder.2.bias",
      "encoder.5.weight", "encoder.5.bias", "encoder.7.weight", "encoder.7.bias",
      "decoder.0.weight", "decoder.0.bias", "decoder.3.weight", "decoder.3.bias",
      "decoder.5.weight", "decoder.5.bias", "decoder.7.weight", "decoder.7.bias"};
  std::vector<std::string> names;
  for (const nn::NamedTensor& p : model.named_parameters()) names.push_back(p.name);
  CHECK(names == expected);
  // Keras's model.summary(): encoder 69,076 parameters, decoder 65,089.
  CHECK(model.parameter_count() == 69076 + 65089);

  ad::NoGrad plain;
  const ad::Tensor x = two_prototypes(3, rng);
  vae::DiagGaussian q = model.encode(x);
  CHECK(q.mu.shape() == ad::Shape{3, 2});
  CHECK(q.logvar.shape() == ad::Shape{3, 2});
  CHECK(model.decode(q.mu).shape() == ad::Shape{3, 1, 28, 28});
  CHECK(vae::reconstruct(model, x).shape() == ad::Shape{3, 1, 28, 28});
  const ad::Tensor s = vae::sample(model, 4, rng);
  CHECK(s.shape() == ad::Shape{4, 1, 28, 28});
  for (double v : s.to_vector()) CHECK((v > 0 && v < 1));

  vae::ConvVae wide({.latent_dim = 5}, rng);
  CHECK(wide.encode(x).mu.shape() == ad::Shape{3, 5});
  CHECK(wide.decode(rng.normal({2, 5})).shape() == ad::Shape{2, 1, 28, 28});

  // flat images are refused with a message that says how to get NCHW ones
  const std::string message = test_helpers::error_of<ad::Error>([&] {
    model.encode(ad::Tensor::zeros({3, 784}));
  });
  CHECK(test_helpers::contains(message, "[N, 1, 28, 28]"));
  CHECK(test_helpers::contains(message, "nchw"));
}

TEST_CASE("ConvVae: the loss is BCE summed over pixels plus the analytic KL, batch mean") {
  ad::Rng rng(2);
  vae::ConvVae model({.latent_dim = 2, .dtype = ad::f64}, rng);
  const int64_t B = 3, K = 2, L = 2;
  const ad::Tensor x = two_prototypes(B, rng, ad::f64);
  std::vector<ad::Tensor> eps;
  for (int l = 0; l < L; ++l) eps.push_back(rng.normal({B, K}, ad::f64));
  ad::NoGrad plain;
  const vae::ElboTerms terms = vae::negative_elbo_from_eps(model, x, eps, 0.5);

  // The same from the model's pieces, summed by explicit loops.
  const vae::DiagGaussian q = model.encode(x);
  const std::vector<double> mu = q.mu.to_vector(), logvar = q.logvar.to_vector();
  const std::vector<double> xv = x.to_vector();
  double nll = 0, kl = 0;
  for (int64_t i = 0; i < B * K; ++i)
    kl += 0.5 * (std::exp(logvar[i]) + mu[i] * mu[i] - 1 - logvar[i]);
  for (const ad::Tensor& e : eps) {
    const std::vector<double> ev = e.to_vector();
    std::vector<double> z(B * K);
    for (int64_t i = 0; i < B * K; ++i) z[i] = mu[i] + std::exp(logvar[i] / 2) * ev[i];
    const std::vector<double> logits =
        model.decode(ad::Tensor::from(z, {B, K}, ad::f64)).to_vector();
    REQUIRE(logits.size() == xv.size());
    for (size_t p = 0; p < xv.size(); ++p) {  // -[x log theta + (1 - x) log(1 - theta)]
      const double theta = 1 / (1 + std::exp(-logits[p]));
      nll -= xv[p] * std::log(theta) + (1 - xv[p]) * std::log(1 - theta);
    }
  }
  const double reconstruction = nll / (L * B);
  kl /= B;
  CHECK(terms.reconstruction.item() == doctest::Approx(reconstruction).epsilon(1e-11));
  CHECK(terms.kl.item() == doctest::Approx(kl).epsilon(1e-11));
  CHECK(terms.loss.item() == doctest::Approx(reconstruction + 0.5 * kl).epsilon(1e-11));
}

TEST_CASE("ConvVae: gradient of the negative ELBO wrt every parameter matches finite differences") {
  // 134k parameters are too many for a full Jacobian, so each parameter tensor P is moved
  // along one fixed random direction D_P of unit norm: gradcheck differentiates the loss
  // at P + t D_P wrt the scalar t (at t = 0), which checks <dL/dP, D_P>, for every P.
  //
  // The network is piecewise linear, with ~100k ReLUs for two images, so a kink often
  // lies within a step h of the point: the central difference then straddles it and
  // misses. A kink is avoided by a smaller or larger h, while a wrong backward pass is
  // wrong at every h; so each P passes if one of three steps agrees within 1e-6.
  ad::Rng rng(4);
  vae::ConvVae model({.latent_dim = 2, .dtype = ad::f64}, rng);
  // The parameter members of the layers, in the order of named_parameters().
  std::vector<ad::Tensor*> slots;
  for (nn::Sequential* s : {&model.encoder, &model.decoder})
    for (size_t i = 0; i < s->size(); ++i) {
      if (auto* c = dynamic_cast<nn::Conv2d*>(&(*s)[i]))
        slots.insert(slots.end(), {&c->weight, &c->bias});
      if (auto* c = dynamic_cast<nn::ConvTranspose2d*>(&(*s)[i]))
        slots.insert(slots.end(), {&c->weight, &c->bias});
      if (auto* l = dynamic_cast<nn::Linear*>(&(*s)[i]))
        slots.insert(slots.end(), {&l->weight, &l->bias});
    }
  const std::vector<nn::NamedTensor> named = model.named_parameters();
  REQUIRE(slots.size() == named.size());
  // Non-zero biases: with zero biases, a ReLU whose inputs are all zero sits exactly on
  // its kink at every step.
  for (size_t i = 1; i < slots.size(); i += 2) nn::init::uniform_(*slots[i], -0.1, 0.1, rng);
  const ad::Tensor x = two_prototypes(2, rng, ad::f64);
  const ad::Tensor eps = rng.normal({2, 2}, ad::f64);

  for (size_t i = 0; i < slots.size(); ++i) {
    CAPTURE(named[i].name);
    const ad::Tensor base = slots[i]->detach();
    const ad::Tensor direction =
        rng.normal(base.shape(), ad::f64) / std::sqrt(static_cast<double>(base.numel()));
    auto loss_at = [&](const std::vector<ad::Tensor>& t) {  // the layer computes with P + t D
      *slots[i] = base + t[0] * direction;
      return vae::negative_elbo_from_eps(model, x, {eps}).loss;
    };
    std::string tried;
    bool ok = false;
    for (double h : {1e-6, 2e-6, 5e-7}) {
      const ad::GradcheckResult r =
          ad::gradcheck(loss_at, {ad::Tensor::scalar(0.0, ad::f64)}, {.step = h});
      tried += "h " + std::to_string(h) + ": " + r.str() + "; ";
      if ((ok = r.ok)) break;
    }
    *slots[i] = base;
    INFO(tried);
    CHECK(ok);
  }
}

TEST_CASE("ConvVae: a short training run lowers the negative ELBO clearly") {
  ad::Rng rng(9);
  const ad::Tensor x = two_prototypes(16, rng);
  vae::ConvVae model({}, rng);
  nn::Adam adam(model, {.lr = 5e-3});
  auto evaluate = [&] {
    ad::NoGrad plain;
    ad::Rng noise(1);
    return vae::negative_elbo(model, x, noise, 4).loss.item();
  };
  const double before = evaluate();
  ad::Rng noise(2);
  for (int step = 0; step < 60; ++step) {
    adam.zero_grad();
    ad::backward(vae::negative_elbo(model, x, noise).loss);
    adam.step();
  }
  const double after = evaluate();
  INFO("before " << before << ", after " << after);
  // Coin flips for every pixel cost 784 log 2 = 543 nats (a random decoder does worse);
  // the grey noise of the images puts the floor near 180 nats. Trained on two
  // prototypes, the loss must be well below coin flips.
  CHECK(before > 784 * std::log(2.0));
  CHECK(after < 0.5 * 784 * std::log(2.0));
}

TEST_CASE("ConvVae: a checkpoint round trip restores the model exactly") {
  TemporaryFolder dir;
  ad::Rng rng(3);
  vae::ConvVae saved({}, rng), loaded({}, rng);  // different initial weights
  const ad::Tensor x = two_prototypes(2, rng);
  const ad::Tensor eps = rng.normal({2, 2});
  ad::NoGrad plain;
  const double expected = vae::negative_elbo_from_eps(saved, x, {eps}).loss.item();
  CHECK(vae::negative_elbo_from_eps(loaded, x, {eps}).loss.item() != expected);
  nn::save_checkpoint(dir.path / "conv_vae.ckpt", saved);
  nn::load_checkpoint(dir.path / "conv_vae.ckpt", loaded);
  CHECK(vae::negative_elbo_from_eps(loaded, x, {eps}).loss.item() == expected);
  // a model with another latent size does not fit the file
  vae::ConvVae other({.latent_dim = 3}, rng);
  CHECK_THROWS_AS(nn::load_checkpoint(dir.path / "conv_vae.ckpt", other), nn::CheckpointError);
}
