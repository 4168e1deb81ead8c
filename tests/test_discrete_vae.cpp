// vae/discrete_vae on a tiny model (K = 2 variables of C = 3 classes, 5 pixels, double)
// where the ELBO is a sum over the 9 codes: the enumeration against Monte Carlo, the
// score-function gradient against the exact one (unbiased), and the Gumbel-softmax
// gradient against it (biased at a finite temperature).
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autodiff/autodiff.h"
#include "vae/discrete_vae.h"
#include "vae/encoder_gradients.h"
#include "vae/per_sample_gradients.h"

using ad::Tensor;

namespace {

struct Tiny {
  vae::DiscreteVae model;
  Tensor x;
  explicit Tiny(ad::Rng& rng)
      : model({.input_dim = 5, .hidden = {4}, .variables = 2, .classes = 3, .dtype = ad::f64},
              rng) {
    std::vector<double> pixels;
    for (int i = 0; i < 3 * 5; ++i) pixels.push_back(rng.uniform() < 0.5 ? 1.0 : 0.0);
    x = Tensor::from(pixels, {3, 5}, ad::f64);
  }
  std::vector<nn::NamedTensor> encoder() const {
    std::vector<nn::NamedTensor> p;
    for (const nn::NamedTensor& t : model.encoder.named_parameters()) p.push_back(t);
    return p;
  }
  std::vector<nn::NamedTensor> decoder() const { return model.decoder.named_parameters(); }
};

// Largest |z| over the coordinates of an estimate's mean against the exact gradient.
double largest_z(const std::vector<vae::ParameterStatistics>& est,
                 const std::vector<vae::ParameterStatistics>& exact) {
  double worst = 0;
  for (size_t t = 0; t < est.size(); ++t)
    for (size_t j = 0; j < est[t].mean.size(); ++j) {
      const double se = std::sqrt(est[t].variance[j] / est[t].repeats);
      if (se > 0) worst = std::max(worst, std::abs(est[t].mean[j] - exact[t].mean[j]) / se);
    }
  return worst;
}

}  // namespace

TEST_CASE("all_codes lists every code once, one-hot per variable") {
  const Tensor codes = vae::all_codes(2, 3, ad::f64);
  REQUIRE(codes.shape() == ad::Shape{9, 6});
  const std::vector<double> v = codes.to_vector();
  for (int m = 0; m < 9; ++m) {
    CHECK(v[m * 6 + m / 3] == 1.0);      // variable 0 has class m / 3
    CHECK(v[m * 6 + 3 + m % 3] == 1.0);  // variable 1 has class m % 3
    double total = 0;
    for (int j = 0; j < 6; ++j) total += v[m * 6 + j];
    CHECK(total == 2.0);
  }
}

TEST_CASE("discrete VAE: the exact -ELBO by enumeration matches the Monte Carlo estimate") {
  ad::Rng rng(4);
  Tiny t(rng);
  ad::NoGrad plain;
  const double exact = t.model.exact_negative_elbo(t.x).item();
  std::vector<double> draws;
  for (int r = 0; r < 400; ++r) draws.push_back(t.model.negative_elbo(t.x, 10, rng));
  const vae::Summary s = vae::summarize(draws);
  INFO("exact ", exact, " Monte Carlo ", s.mean, " +- ", s.se_mean);
  CHECK(std::abs(s.mean - exact) <= 4 * s.se_mean);
}

TEST_CASE("discrete VAE: the score function is unbiased, the Gumbel-softmax relaxation is not") {
  ad::Rng rng(9);
  Tiny t(rng);
  for (nn::NamedTensor p : t.encoder()) p.tensor.zero_grad();
  ad::backward(t.model.exact_negative_elbo(t.x));
  const auto exact = vae::exact_statistics(t.encoder());
  t.model.zero_grad();
  auto run = [&](const vae::DiscreteEstimatorConfig& config, int repeats) {
    vae::DiscreteGradientEstimator estimator(config, 5, rng);
    return vae::gradient_statistics(t.encoder(), t.decoder(), repeats, [&] {
      return estimator.surrogate(t.model, t.x, rng).loss;
    });
  };
  using vae::Baseline, vae::DiscreteEstimator;
  const auto score = run({DiscreteEstimator::score_function, Baseline::none, 1, 1.0}, 3000);
  const auto rloo = run({DiscreteEstimator::score_function, Baseline::leave_one_out, 4, 1.0}, 1000);
  CHECK(largest_z(score, exact) < 4.0);
  CHECK(largest_z(rloo, exact) < 4.0);
  const auto relaxed = run({DiscreteEstimator::gumbel_softmax, Baseline::none, 1, 1.0}, 3000);
  CHECK(largest_z(relaxed, exact) > 8.0);
}
