// vae/iwae.h and vae/cvae.h: the importance-weighted bound (K = 1 is the one-sample ELBO,
// L_1 <= L_10 <= L_100 <= log p(x) on the linear-Gaussian model where log p(x) is exact,
// gradients against finite differences) and the conditional VAE's ELBO against a hand
// computation.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "autodiff/autodiff.h"
#include "nn/nn.h"
#include "tests/nn_reference.h"
#include "vae/cvae.h"
#include "vae/statistics.h"
#include "vae/iwae.h"
#include "vae/linear_gaussian.h"
#include "vae/mlp_vae.h"

using test_helpers::dense;
using test_helpers::linear_layers;

namespace {

// 3 images of 4 pixels. No all-zero image: the hidden biases start at 0, so an all-zero
// input would sit exactly on the ReLU kink and break the finite differences.
const std::vector<double> kBinary = {1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0};

}  // namespace

TEST_CASE("IWAE: K = 1 equals the one-sample ELBO estimate for the same eps (double)") {
  ad::Rng rng(5);
  vae::Vae model({.input_dim = 4, .hidden = {5}, .latent_dim = 2, .dtype = ad::f64}, rng);
  const ad::Tensor x = ad::Tensor::from(kBinary, {3, 4}, ad::f64);
  const ad::Tensor eps = rng.normal({3, 2}, ad::f64);
  const std::vector<double> bound = vae::iwae_bound_from_eps(model, x, {eps}).to_vector();
  // log p(x|z) + log p(z) - log q(z|x), each by explicit loops
  std::vector<nn::Linear*> layers = linear_layers(model.encoder, model.decoder);
  REQUIRE(layers.size() == 4);
  const std::vector<double> xv = x.to_vector(), e = eps.to_vector();
  double kl_mc = 0;
  for (int i = 0; i < 3; ++i) {
    std::vector<double> xi(xv.begin() + i * 4, xv.begin() + (i + 1) * 4);
    std::vector<double> o = dense(dense(xi, *layers[0], true), *layers[1], false);
    std::vector<double> z(2);
    double log_p = 0, log_q = 0, log_lik = 0;
    for (int k = 0; k < 2; ++k) {
      const double mu = o[k], logvar = o[2 + k], eps_k = e[i * 2 + k];
      z[k] = mu + std::exp(logvar / 2) * eps_k;
      log_p += -0.5 * z[k] * z[k] - 0.5 * vae::kLog2Pi;
      log_q += -0.5 * eps_k * eps_k - 0.5 * logvar - 0.5 * vae::kLog2Pi;
    }
    std::vector<double> logits = dense(dense(z, *layers[2], true), *layers[3], false);
    for (int d = 0; d < 4; ++d) {
      const double theta = 1 / (1 + std::exp(-logits[d]));
      log_lik += xi[d] * std::log(theta) + (1 - xi[d]) * std::log(1 - theta);
    }
    CHECK(bound[i] == doctest::Approx(log_lik + log_p - log_q).epsilon(1e-12));
    kl_mc += (log_q - log_p) / 3;
  }
  // Vae::elbo_from_eps uses the same z for its reconstruction term but the analytic KL:
  // L_1 = -reconstruction - KL_MC exactly (KL_MC and the analytic KL agree in mean only).
  vae::ElboTerms terms = vae::negative_elbo_from_eps(model, x, {eps});
  const double mean_bound = (bound[0] + bound[1] + bound[2]) / 3;
  CHECK(mean_bound == doctest::Approx(-terms.reconstruction.item() - kl_mc).epsilon(1e-12));
  ad::tape().clear();
}

TEST_CASE("IWAE on the linear-Gaussian model: L_1 <= L_10 <= L_100 <= log p(x), L_K -> log p(x)") {
  ad::Rng rng(11);
  const vae::LinearGaussian model = vae::LinearGaussian::random(5, 2, 0.7, rng);
  const std::vector<double> x = model.sample_x(rng);
  const double log_px = model.log_evidence(x);
  // q: the posterior's mean shifted and its standard deviations widened, diagonal
  const vae::Gaussian post = model.posterior(x);
  const double s0 = std::sqrt(post.cov(0, 0)), s1 = std::sqrt(post.cov(1, 1));
  vae::Gaussian q = vae::Gaussian::diagonal({post.mean[0] + 1.0 * s0, post.mean[1] - 1.0 * s1},
                                            {2.0 * s0, 1.2 * s1});
  // Paired estimates: L_1, L_10 and L_100 from the first 1, 10 and 100 of the same draws.
  const int repeats = 1000;
  std::vector<double> l1, d10_1, d100_10, gap100;
  for (int r = 0; r < repeats; ++r) {
    const std::vector<double> w = vae::iwae_log_weights(model, x, q, 100, rng);
    const double a = w[0], b = vae::log_mean_exp({w.begin(), w.begin() + 10}),
                 c = vae::log_mean_exp(w);
    l1.push_back(a);
    d10_1.push_back(b - a);
    d100_10.push_back(c - b);
    gap100.push_back(log_px - c);
  }
  // E[L_1] is the ELBO, in closed form for this model
  const vae::Summary m1 = vae::summarize(l1);
  CHECK(std::abs(m1.mean - vae::elbo(model, x, q)) < 4 * m1.se_mean);
  for (const auto& d : {d10_1, d100_10}) {
    const vae::Summary m = vae::summarize(d);
    INFO("paired difference " << m.mean << " +- " << m.se_mean);
    CHECK(m.mean > 4 * m.se_mean);  // each step up is positive, far beyond its standard error
  }
  // L_100 <= log p(x): the gap (about 0.01 nats here) is not resolved by 1000 repeats, so
  // only "no evidence against the bound" is checked: mean gap > -3 se
  const vae::Summary g100 = vae::summarize(gap100);
  CHECK(g100.mean > -3 * g100.se_mean);
  // convergence: the gap log p(x) - L_K shrinks like 1/K; at K = 2000 it is tiny
  const double gap1 = log_px - vae::elbo(model, x, q);  // = KL(q || p(z|x))
  std::vector<double> gap2000;
  for (int r = 0; r < 50; ++r) gap2000.push_back(log_px - vae::iwae_bound(model, x, q, 2000, rng));
  const vae::Summary g = vae::summarize(gap2000);
  INFO("gap K=1 " << gap1 << ", K=100 " << vae::summarize(gap100).mean << ", K=2000 " << g.mean
                  << " +- " << g.se_mean);
  CHECK(gap1 > 0.1);
  CHECK(std::abs(g.mean) < 3 * g.se_mean + 1e-3);  // L_2000 agrees with log p(x) ...
  CHECK(3 * g.se_mean < 0.01 * gap1);              // ... to a resolution of 1% of the ELBO's gap
  // q = the exact posterior: every weight equals p(x), so L_K = log p(x) for every K
  CHECK(vae::iwae_bound(model, x, post, 1, rng) == doctest::Approx(log_px).epsilon(1e-10));
  CHECK(vae::iwae_bound(model, x, post, 7, rng) == doctest::Approx(log_px).epsilon(1e-10));
}

TEST_CASE("IWAE: gradients of the K-sample loss against finite differences (double, fixed eps)") {
  ad::Rng rng(7);
  vae::Vae model({.input_dim = 4, .hidden = {3}, .latent_dim = 2, .dtype = ad::f64}, rng);
  const ad::Tensor x = ad::Tensor::from(kBinary, {3, 4}, ad::f64);
  std::vector<ad::Tensor> eps;
  for (int k = 0; k < 4; ++k) eps.push_back(rng.normal({3, 2}, ad::f64));
  std::vector<nn::Linear*> layers = linear_layers(model.encoder, model.decoder);
  auto loss_of = [&](const std::vector<ad::Tensor>& p) {
    for (size_t i = 0; i < layers.size(); ++i) {  // point the layers at gradcheck's copies
      layers[i]->weight = p[2 * i];
      layers[i]->bias = p[2 * i + 1];
    }
    return -ad::mean(vae::iwae_bound_from_eps(model, x, eps));
  };
  std::vector<ad::Tensor> values;
  for (const ad::Tensor& p : model.parameters()) values.push_back(p.detach());
  ad::GradcheckResult r_theta_phi = ad::gradcheck(loss_of, values);
  CHECK_MESSAGE(r_theta_phi.ok, r_theta_phi.str());
  ad::tape().clear();
  // and through q's parameters directly (logsumexp, reparameterization, log q, log p)
  const vae::DiagGaussian q0 = [&] {
    ad::NoGrad plain;
    return model.encode(x);
  }();
  auto r = ad::gradcheck(
      [&](const std::vector<ad::Tensor>& in) {
        return ad::logsumexp(vae::iwae_log_weights(model, vae::DiagGaussian{in[0], in[1]}, x, eps),
                             1);
      },
      {q0.mu.clone(), q0.logvar.clone()});
  CHECK_MESSAGE(r.ok, r.str());
  ad::tape().clear();
}

TEST_CASE("CVAE: negative conditional ELBO equals a hand computation (double)") {
  ad::Rng rng(9);
  vae::Cvae model(
      {.input_dim = 4, .num_classes = 3, .hidden = {5}, .latent_dim = 2, .dtype = ad::f64}, rng);
  const ad::Tensor x = ad::Tensor::from(kBinary, {3, 4}, ad::f64);
  const std::vector<int64_t> labels = {2, 0, 1};
  vae::Conditioned given_labels{model, labels};
  std::vector<ad::Tensor> eps = {rng.normal({3, 2}, ad::f64), rng.normal({3, 2}, ad::f64)};
  vae::ElboTerms terms = vae::negative_elbo_from_eps(given_labels, x, eps);

  std::vector<nn::Linear*> layers = linear_layers(model.encoder, model.decoder);
  REQUIRE(layers.size() == 4);
  CHECK(layers[0]->in_features == 4 + 3);
  CHECK(layers[2]->in_features == 2 + 3);
  const std::vector<double> xv = x.to_vector();
  double log_likelihood = 0, kl = 0;
  for (int i = 0; i < 3; ++i) {
    std::vector<double> in(xv.begin() + i * 4, xv.begin() + (i + 1) * 4);
    for (int c = 0; c < 3; ++c) in.push_back(c == labels[i] ? 1.0 : 0.0);  // [x, onehot(c)]
    std::vector<double> o = dense(dense(in, *layers[0], true), *layers[1], false);
    for (int k = 0; k < 2; ++k) kl += 0.5 * (std::exp(o[2 + k]) + o[k] * o[k] - 1 - o[2 + k]);
    for (const ad::Tensor& e_l : eps) {
      const std::vector<double> e = e_l.to_vector();
      std::vector<double> zc(2);
      for (int k = 0; k < 2; ++k) zc[k] = o[k] + std::exp(o[2 + k] / 2) * e[i * 2 + k];
      for (int c = 0; c < 3; ++c) zc.push_back(c == labels[i] ? 1.0 : 0.0);  // [z, onehot(c)]
      std::vector<double> logits = dense(dense(zc, *layers[2], true), *layers[3], false);
      for (int d = 0; d < 4; ++d) {
        const double theta = 1 / (1 + std::exp(-logits[d]));
        log_likelihood += in[d] * std::log(theta) + (1 - in[d]) * std::log(1 - theta);
      }
    }
  }
  const double reconstruction = -log_likelihood / (2 * 3);
  kl /= 3;
  CHECK(terms.reconstruction.item() == doctest::Approx(reconstruction).epsilon(1e-12));
  CHECK(terms.kl.item() == doctest::Approx(kl).epsilon(1e-12));
  CHECK(terms.loss.item() == doctest::Approx(reconstruction + kl).epsilon(1e-12));
  // the label matters: another class gives another ELBO
  const std::vector<int64_t> other_labels = {0, 0, 0};
  vae::Conditioned given_other{model, other_labels};
  CHECK(vae::negative_elbo_from_eps(given_other, x, eps).loss.item() !=
        doctest::Approx(terms.loss.item()));
  // generate: n images of one class, probabilities in (0, 1); bad labels are refused
  const ad::Tensor images = model.generate(1, 5, rng);
  CHECK(images.dim(0) == 5);
  CHECK(images.dim(1) == 4);
  for (double v : images.to_vector()) CHECK((v > 0 && v < 1));
  CHECK_THROWS_AS(model.one_hot({3}), ad::Error);
  ad::tape().clear();
}

TEST_CASE("IWAE for the CVAE: K = 1 is log p(x|z,c) + log p(z) - log q(z|x,c); L_K grows with K") {
  ad::Rng rng(9);
  vae::Cvae model(
      {.input_dim = 4, .num_classes = 3, .hidden = {5}, .latent_dim = 2, .dtype = ad::f64}, rng);
  const ad::Tensor x = ad::Tensor::from(kBinary, {3, 4}, ad::f64);
  const std::vector<int64_t> labels = {2, 0, 1};
  vae::Conditioned given_labels{model, labels};
  const ad::Tensor eps = rng.normal({3, 2}, ad::f64);
  const std::vector<double> bound =
      vae::iwae_bound_from_eps(given_labels, x, {eps}).to_vector();
  // the three terms from the model's own pieces, with the same z
  ad::NoGrad plain;
  const vae::DiagGaussian q = model.encode(x, labels);
  const ad::Tensor z = q.rsample_from(eps);
  const std::vector<double> nll =
                                model.negative_log_likelihood(model.decode(z, labels), x).to_vector(),
                            log_q = q.log_prob(z).to_vector(), zv = z.to_vector();
  for (int i = 0; i < 3; ++i) {
    const double log_p = -0.5 * (zv[2 * i] * zv[2 * i] + zv[2 * i + 1] * zv[2 * i + 1]) -
                         vae::kLog2Pi;  // log N(z; 0, I_2)
    CHECK(bound[i] == doctest::Approx(-nll[i] + log_p - log_q[i]).epsilon(1e-12));
  }
  // Averaged over many draws, L_1 <= L_20 (the bound tightens with K)
  std::vector<double> gain;
  for (int r = 0; r < 200; ++r) {
    std::vector<ad::Tensor> draws;
    for (int k = 0; k < 20; ++k) draws.push_back(rng.normal({3, 2}, ad::f64));
    const std::vector<double>
        l1 = vae::iwae_bound_from_eps(given_labels, x, {draws[0]}).to_vector(),
        l20 = vae::iwae_bound_from_eps(given_labels, x, draws).to_vector();
    for (int i = 0; i < 3; ++i) gain.push_back(l20[i] - l1[i]);
  }
  const vae::Summary g = vae::summarize(gain);
  CHECK(g.mean > 4 * g.se_mean);
  CHECK(vae::iwae_bound(given_labels, x, rng, 5).shape() == ad::Shape{3});
  CHECK_THROWS_AS(vae::iwae_bound(given_labels, x, rng, 0), ad::Error);
}
