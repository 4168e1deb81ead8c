// vae/mlp_vae.h: the MLP Vae's negative ELBO against a hand computation, its gradient
// against finite differences, and a short training run on synthetic binary data.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autodiff/autodiff.h"
#include "nn/nn.h"
#include "tests/nn_reference.h"
#include "vae/conv_vae.h"
#include "vae/cvae.h"
#include "vae/discrete_vae.h"
#include "vae/full_cov_vae.h"
#include "vae/latent_model.h"
#include "vae/mlp_vae.h"

using test_helpers::dense;

namespace {
// The Linear layers of a Vae in the order of named_parameters() (weight, bias, ...).
std::vector<nn::Linear*> linear_layers(vae::Vae& model) {
  return test_helpers::linear_layers(model.encoder, model.decoder);
}

}  // namespace

// The one model interface of vae/latent_model.h: the five models of the notes satisfy it,
// so the -ELBO, the IWAE bound, sampling and the training loop are written once over it.
TEST_CASE("latent-variable models: every VAE of the notes satisfies the interface it claims") {
  CHECK(vae::ReparameterizedModel<vae::Vae>);
  CHECK(vae::ReparameterizedModel<vae::ConvVae>);
  CHECK(vae::ReparameterizedModel<vae::FullCovVae>);
  CHECK(vae::ReparameterizedModel<vae::Conditioned>);  // the CVAE given its labels
  CHECK(vae::LatentVariableModel<vae::DiscreteVae>);
  // a class index is not a differentiable function of noise: no reparameterization
  CHECK_FALSE(vae::ReparameterizedModel<vae::DiscreteVae>);
  CHECK_FALSE(vae::LatentVariableModel<nn::Linear>);
}

TEST_CASE("Vae: negative ELBO equals a hand computation for fixed eps (Bernoulli, double)") {
  ad::Rng rng(3);
  vae::Vae model({.input_dim = 6, .hidden = {5}, .latent_dim = 2, .dtype = ad::f64}, rng);
  const int64_t B = 4, D = 6, K = 2, L = 3;
  ad::Tensor x = ad::Tensor::from(
      {1, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0, 0, 1}, {B, D}, ad::f64);
  std::vector<ad::Tensor> eps;
  for (int l = 0; l < L; ++l) eps.push_back(rng.normal({B, K}, ad::f64));
  vae::ElboTerms terms = vae::negative_elbo_from_eps(model, x, eps, 1.0);

  std::vector<nn::Linear*> layers = linear_layers(model);
  REQUIRE(layers.size() == 4);
  const std::vector<double> xv = x.to_vector();
  double log_likelihood = 0, kl = 0;
  for (int64_t i = 0; i < B; ++i) {
    std::vector<double> xi(xv.begin() + i * D, xv.begin() + (i + 1) * D);
    std::vector<double> o = dense(dense(xi, *layers[0], true), *layers[1], false);
    for (int64_t k = 0; k < K; ++k) {  // KL = 1/2 sum_k (sigma^2 + mu^2 - 1 - logvar)
      const double mu = o[k], logvar = o[K + k];
      kl += 0.5 * (std::exp(logvar) + mu * mu - 1 - logvar);
    }
    for (int64_t l = 0; l < L; ++l) {
      const std::vector<double> e = eps[l].to_vector();
      std::vector<double> z(K);
      for (int64_t k = 0; k < K; ++k) z[k] = o[k] + std::exp(o[K + k] / 2) * e[i * K + k];
      std::vector<double> logits = dense(dense(z, *layers[2], true), *layers[3], false);
      for (int64_t d = 0; d < D; ++d) {  // x log theta + (1 - x) log(1 - theta)
        const double theta = 1 / (1 + std::exp(-logits[d]));
        log_likelihood += xi[d] * std::log(theta) + (1 - xi[d]) * std::log(1 - theta);
      }
    }
  }
  const double reconstruction = -log_likelihood / (L * B);
  kl /= B;
  CHECK(terms.reconstruction.item() == doctest::Approx(reconstruction).epsilon(1e-12));
  CHECK(terms.kl.item() == doctest::Approx(kl).epsilon(1e-12));
  CHECK(terms.loss.item() == doctest::Approx(reconstruction + kl).epsilon(1e-12));
  // beta weights only the KL term
  CHECK(vae::negative_elbo_from_eps(model, x, eps, 0.25).loss.item() ==
        doctest::Approx(reconstruction + 0.25 * kl).epsilon(1e-12));
  ad::tape().clear();
}

TEST_CASE("Vae: gradient of the negative ELBO wrt every parameter matches finite differences") {
  for (vae::Likelihood likelihood : {vae::Likelihood::bernoulli, vae::Likelihood::gaussian}) {
    CAPTURE(static_cast<int>(likelihood));
    ad::Rng rng(5);
    vae::Vae model({.input_dim = 5,
                    .hidden = {4},
                    .latent_dim = 2,
                    .likelihood = likelihood,
                    .sigma = 0.7,
                    .dtype = ad::f64},
                   rng);
    ad::Tensor x = rng.uniform({3, 5}, 0.0, 1.0, ad::f64);
    std::vector<nn::Linear*> layers = linear_layers(model);
    auto loss_of = [&](const std::vector<ad::Tensor>& p) {
      for (size_t i = 0; i < layers.size(); ++i) {  // point the layers at gradcheck's copies
        layers[i]->weight = p[2 * i];
        layers[i]->bias = p[2 * i + 1];
      }
      ad::Rng noise(11);  // the same eps at every evaluation
      return vae::negative_elbo(model, x, noise, 2, 0.5).loss;
    };
    std::vector<ad::Tensor> values;
    for (const ad::Tensor& p : model.parameters()) values.push_back(p.detach());
    ad::GradcheckResult r = ad::gradcheck(loss_of, values);
    INFO(r.str());
    CHECK(r.ok);
  }
}

TEST_CASE("Vae: training on synthetic binary data lowers the negative ELBO clearly") {
  // Two prototypes of 16 pixels, each pixel flipped with probability 0.05.
  ad::Rng rng(9);
  const int64_t N = 128, D = 16;
  std::vector<double> values;
  for (int64_t i = 0; i < N; ++i)
    for (int64_t d = 0; d < D; ++d) {
      const bool on = (i % 2 == 0) ? d < 8 : d % 2 == 0;
      values.push_back((rng.uniform() < 0.05) ? !on : on);
    }
  ad::Tensor x = ad::Tensor::from(values, {N, D});
  vae::Vae model({.input_dim = D, .hidden = {16}, .latent_dim = 2}, rng);
  nn::Adam adam(model, {.lr = 1e-2});
  auto evaluate = [&] {
    ad::NoGrad plain;
    ad::Rng noise(1);
    return vae::negative_elbo(model, x, noise, 10).loss.item();
  };
  const double before = evaluate();
  ad::Rng noise(2);
  for (int step = 0; step < 150; ++step) {
    adam.zero_grad();
    ad::Tensor loss = vae::negative_elbo(model, x, noise).loss;
    ad::backward(loss);
    adam.step();
  }
  const double after = evaluate();
  INFO("before " << before << ", after " << after);
  // Coin flips for every pixel cost 16 log 2 = 11.1 nats (a random decoder does worse);
  // the noise floor is 16 H(0.05) = 3.2 nats. Trained, the loss must be well below coin flips.
  CHECK(before > 16 * std::log(2.0));
  CHECK(after < 0.5 * 16 * std::log(2.0));
  // samples and reconstructions have the right shapes and lie in (0, 1)
  ad::NoGrad plain;
  ad::Tensor s = vae::sample(model, 7, rng), r = vae::reconstruct(model, x);
  CHECK(s.shape() == ad::Shape{7, D});
  CHECK(r.shape() == ad::Shape{N, D});
  for (double v : s.to_vector()) CHECK((v > 0 && v < 1));
}

TEST_CASE("vae::PerExampleElbo: each example's -ELBO is its reconstruction plus its KL") {
  vae::PerExampleElbo terms;
  terms.append(ad::Tensor::from({3.0, 5.0}, {2}), ad::Tensor::from({0.5, 1.5}, {2}));
  terms.append(ad::Tensor::from({7.0}, {1}), ad::Tensor::from({0.25}, {1}));
  CHECK(terms.reconstruction == std::vector<double>{3, 5, 7});
  CHECK(terms.kl == std::vector<double>{0.5, 1.5, 0.25});
  CHECK(terms.loss == std::vector<double>{3.5, 6.5, 7.25});
  CHECK_THROWS_AS(terms.append(ad::Tensor::from({1.0}, {1}), ad::Tensor::from({1.0, 2.0}, {2})),
                  ad::Error);
}
