// vae/encoder_gradients on a model whose ELBO gradient is known exactly: the
// linear-Gaussian model p(z) = N(0, I), p(x|z) = N(W z + b, sigma^2 I) with a linear
// encoder [mu, logvar] = x A + c. For a diagonal q = N(m, diag s^2) the ELBO is closed form
// (vae/linear_gaussian.h), so its gradient with respect to the encoder's A and c follows
// by the tape with no sampling. Every estimator's mean over R repeats must lie within
// 4 standard errors of it, coordinate by coordinate, and each baseline must lower the
// score function's variance.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autodiff/autodiff.h"
#include "nn/linear.h"
#include "vae/encoder_gradients.h"
#include "vae/linear_gaussian.h"

using ad::Tensor;

namespace {

constexpr int kData = 3, kLatent = 2;

// The model, its encoder and a fixed batch, all in double.
struct LinearGaussianVae {
  vae::LinearGaussian truth;
  nn::Linear encoder;
  Tensor w, b, x;  // W [d, k], b [d], the batch [n, d]

  LinearGaussianVae(ad::Rng& rng, int n)
      : truth(vae::LinearGaussian::random(kData, kLatent, 1.0, rng)),
        encoder(kData, 2 * kLatent, rng, true, ad::f64) {
    w = Tensor::from(truth.w.values, {kData, kLatent}, ad::f64);
    b = Tensor::from(truth.b, {kData}, ad::f64);
    std::vector<double> xs;
    for (int i = 0; i < n; ++i)
      for (double v : truth.sample_x(rng)) xs.push_back(v);
    x = Tensor::from(xs, {n, kData}, ad::f64);
  }

  vae::DiagGaussian encode(const Tensor& input) {
    Tensor h = encoder(input);
    return {ad::slice(h, 1, 0, kLatent), ad::slice(h, 1, kLatent, 2 * kLatent)};
  }

  vae::LatentModel latent_model() {
    vae::LatentModel m;
    m.encode = [this](const Tensor& input) { return encode(input); };
    // log N(x; W z + b, I) = -d/2 log(2 pi) - 1/2 |x - W z - b|^2
    m.log_likelihood = [this](const Tensor& input, const Tensor& z) {
      Tensor r = input - ad::matmul(z, ad::transpose(w)) - b;
      return -0.5 * kData * vae::kLog2Pi - 0.5 * ad::sum(r * r, -1);
    };
    m.encoder_parameters = {{"weight", encoder.weight}, {"bias", encoder.bias}};
    return m;
  }

  // -ELBO in closed form, mean over the batch, on the tape:
  //   -E_q[log p(x|z)] = d/2 log(2 pi) + 1/2 (|x - W m - b|^2 + sum_k |W_:k|^2 s_k^2)
  //   plus KL(q || N(0, I)).
  Tensor exact_negative_elbo(const vae::DiagGaussian& q) const {
    Tensor r = x - ad::matmul(q.mu, ad::transpose(w)) - b;
    Tensor column_norms = ad::sum(w * w, 0);  // |W_:k|^2, [k]
    Tensor expected_nll = 0.5 * kData * vae::kLog2Pi +
                          0.5 * (ad::sum(r * r, -1) + ad::sum(ad::exp(q.logvar) * column_norms, -1));
    return ad::mean(expected_nll + q.kl_to_standard());
  }

  // grad_phi -ELBO, exactly: [weight, bias] flattened.
  std::vector<std::vector<double>> exact_gradient() {
    encoder.zero_grad();
    ad::backward(exact_negative_elbo(encode(x)));
    std::vector<std::vector<double>> g = {encoder.weight.grad().to_vector(),
                                          encoder.bias.grad().to_vector()};
    encoder.zero_grad();
    return g;
  }
};

}  // namespace

TEST_CASE("linear-Gaussian VAE: the closed-form ELBO on the tape matches vae::elbo") {
  ad::Rng rng(3);
  LinearGaussianVae m(rng, 4);
  const vae::DiagGaussian q = m.encode(m.x);
  const std::vector<double> mu = q.mu.to_vector(), logvar = q.logvar.to_vector();
  const std::vector<double> xs = m.x.to_vector();
  double total = 0;
  for (int i = 0; i < 4; ++i) {
    std::vector<double> mean, sd, xi;
    for (int k = 0; k < kLatent; ++k) {
      mean.push_back(mu[i * kLatent + k]);
      sd.push_back(std::exp(logvar[i * kLatent + k] / 2));
    }
    for (int j = 0; j < kData; ++j) xi.push_back(xs[i * kData + j]);
    total += vae::elbo(m.truth, xi, vae::Gaussian::diagonal(mean, sd));
  }
  ad::NoGrad plain;
  CHECK(m.exact_negative_elbo(q).item() == doctest::Approx(-total / 4).epsilon(1e-12));
}

TEST_CASE("every encoder-gradient estimator is unbiased on the linear-Gaussian VAE") {
  ad::Rng rng(11);
  LinearGaussianVae m(rng, 4);
  const vae::LatentModel model = m.latent_model();
  const std::vector<std::vector<double>> exact = m.exact_gradient();
  using vae::Baseline, vae::Estimator, vae::KlTerm;
  const std::vector<vae::EstimatorConfig> configs = {
      {Estimator::reparameterization, KlTerm::analytic, Baseline::none, 1},
      {Estimator::reparameterization, KlTerm::monte_carlo, Baseline::none, 2},
      {Estimator::score_function, KlTerm::analytic, Baseline::none, 1},
      {Estimator::score_function, KlTerm::monte_carlo, Baseline::none, 1},
      {Estimator::score_function, KlTerm::monte_carlo, Baseline::moving_average, 1},
      {Estimator::score_function, KlTerm::monte_carlo, Baseline::learned, 1},
      {Estimator::score_function, KlTerm::monte_carlo, Baseline::leave_one_out, 4},
  };
  for (const vae::EstimatorConfig& config : configs) {
    vae::EncoderGradientEstimator estimator(config, kData, rng);
    INFO("estimator ", estimator.name(), " L = ", config.samples);
    vae::warm_up_baseline(estimator, model, std::vector<Tensor>(200, m.x), rng);
    const auto stats = vae::encoder_gradient_statistics(estimator, model, m.x, 600, rng);
    REQUIRE(stats.size() == 2);
    for (size_t t = 0; t < 2; ++t)
      for (size_t j = 0; j < exact[t].size(); ++j) {
        const double se = std::sqrt(stats[t].variance[j] / stats[t].repeats);
        INFO(stats[t].name, "[", j, "]: mean ", stats[t].mean[j], " exact ", exact[t][j],
             " se ", se);
        CHECK(std::abs(stats[t].mean[j] - exact[t][j]) <= 4 * se);
      }
  }
}

TEST_CASE("each baseline lowers the score function's variance; L samples divide it by L") {
  ad::Rng rng(5);
  LinearGaussianVae m(rng, 4);
  const vae::LatentModel model = m.latent_model();
  using vae::Baseline, vae::Estimator, vae::KlTerm;
  auto variance = [&](Baseline baseline, int L) {
    vae::EncoderGradientEstimator estimator(
        {Estimator::score_function, KlTerm::monte_carlo, baseline, L}, kData, rng);
    vae::warm_up_baseline(estimator, model, std::vector<Tensor>(300, m.x), rng);
    return vae::total_variance(vae::encoder_gradient_statistics(estimator, model, m.x, 800, rng));
  };
  const double plain_1 = variance(Baseline::none, 1), plain_4 = variance(Baseline::none, 4);
  INFO("variance without a baseline: L = 1 ", plain_1, ", L = 4 ", plain_4);
  // Var of a mean of 4 independent estimates = Var / 4 (the sample variances are within ~15%)
  CHECK(plain_4 * 4 == doctest::Approx(plain_1).epsilon(0.3));
  for (Baseline b : {Baseline::moving_average, Baseline::learned}) {
    const double v = variance(b, 1);
    INFO("baseline ", static_cast<int>(b), ": ", v, " vs ", plain_1);
    CHECK(v < 0.8 * plain_1);
  }
  const double rloo = variance(Baseline::leave_one_out, 4);
  INFO("leave-one-out, L = 4: ", rloo, " vs ", plain_4);
  CHECK(rloo < 0.8 * plain_4);
}

TEST_CASE("the estimators refuse configurations that make no sense") {
  ad::Rng rng(1);
  using vae::Baseline, vae::Estimator, vae::KlTerm;
  CHECK_THROWS_AS(vae::EncoderGradientEstimator(
                      {Estimator::score_function, KlTerm::analytic, Baseline::leave_one_out, 1},
                      3, rng),
                  ad::Error);
  CHECK_THROWS_AS(vae::EncoderGradientEstimator(
                      {Estimator::reparameterization, KlTerm::analytic, Baseline::learned, 4}, 3,
                      rng),
                  ad::Error);
  CHECK_THROWS_AS(vae::EncoderGradientEstimator(
                      {Estimator::reparameterization, KlTerm::analytic, Baseline::none, 0}, 3, rng),
                  ad::Error);
}
