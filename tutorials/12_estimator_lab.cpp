// Tutorial 12: the estimator lab. The score-function (log-derivative) and reparameterization
// estimators of the encoder's gradient, measured on a real VAE rather than on the
// one-dimensional functions of tutorial 07.
//
// Note 003 says of the log-derivative trick (eq. 27) that it "is known to have high
// variance and is not sufficient to backpropagate huge neural nets", and that "the
// variance tends to be very high up to a point where it is impractical". Here:
//   1. On a Bernoulli VAE on Fashion-MNIST at initialisation, after one epoch and trained:
//      the variance and signal-to-noise ratio of every estimator of grad_phi ELBO, per
//      encoder parameter tensor, at L = 1 and L = 10; every estimator's mean against the
//      reparameterization mean; every baseline against the plain score function (L24, L28).
//   2. The same VAE trained with each estimator for the same number of steps (L24).
//   3. Where reparameterization does not apply (L25): a VAE with categorical latents, the
//      score function against the Gumbel-softmax relaxation, whose bias is measured
//      against the exact gradient (a sum over every code of a small model); then a VAE
//      with 20 categorical variables of 10 classes trained by each.
//   4. A full-covariance Gaussian posterior through a Cholesky factor (L29) against the
//      diagonal one of the same size: the closed forms checked, test ELBO, correlations.
//
// Every estimator is a surrogate loss on the tape whose gradient is the estimate
// (vae/encoder_gradients.h, vae/discrete_vae.h); vae::gradient_statistics repeats it R
// times on a fixed batch and returns each coordinate's mean and variance.
//
//   build/release/tutorials/12_estimator_lab [--data DIR] [--epochs 10] [--repeats 100]
//       [--batch 64] [--latent 10] [--steps 1500] [--seed 42] [--out DIR] [--quick]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "autodiff/autodiff.h"
#include "nn/dataset.h"
#include "nn/nn.h"
#include "tutorials/common/data.h"
#include "tutorials/common/plot.h"
#include "tutorials/common/training.h"
#include "tutorials/common/tutorial.h"
#include "vae/discrete_vae.h"
#include "vae/encoder_gradients.h"
#include "vae/per_sample_gradients.h"
#include "vae/full_cov_vae.h"
#include "vae/kl.h"
#include "vae/mlp_vae.h"

using ad::Tensor;
using vae::Baseline, vae::Estimator, vae::KlTerm;

namespace {

const std::vector<int64_t>& kHidden = tut::hidden_sizes;  // as tutorial 08: 784-256-64-k
constexpr int kDirections = 8;  // random directions for the test of equal means

// The lab's settings, from the flags.
struct Settings {
  int epochs = 10;      // training of the "trained" checkpoint
  int repeats = 100;    // R: estimates per estimator on the fixed batch
  int64_t batch = 64;   // the fixed batch's size (and the training batch of part 2)
  int64_t latent = 10;  // k
  int steps = 1500;     // part 2: training steps per estimator
  int warm_up = 200;    // batches to fit a baseline on before it is measured
  int exact_steps = 500;  // part 3: steps of training the small discrete VAE exactly
  int full_epochs = 5;    // part 4: epochs of the full-covariance and diagonal VAEs
};

// The first `count` binarised training batches, for warming up a baseline.
std::vector<Tensor> training_batches(const nn::Dataset& train, int64_t batch_size, int count,
                                     uint64_t seed) {
  nn::BatchIterator batches(train, {.batch_size = batch_size, .binarize = true, .seed = seed});
  std::vector<Tensor> out;
  nn::Batch b;
  while (static_cast<int>(out.size()) < count) {
    if (!batches.next(b)) continue;  // the end of an epoch: the next call starts another
    out.push_back(b.x);
  }
  return out;
}

// The estimators of the lab, at L samples (leave-one-out only when L >= 2).
std::vector<vae::EstimatorConfig> lab_estimators(int L) {
  std::vector<vae::EstimatorConfig> list = {
      {Estimator::reparameterization, KlTerm::analytic, Baseline::none, L},
      {Estimator::reparameterization, KlTerm::monte_carlo, Baseline::none, L},
      {Estimator::score_function, KlTerm::analytic, Baseline::none, L},
      {Estimator::score_function, KlTerm::monte_carlo, Baseline::none, L},
      {Estimator::score_function, KlTerm::monte_carlo, Baseline::moving_average, L},
      {Estimator::score_function, KlTerm::monte_carlo, Baseline::learned, L},
  };
  if (L >= 2) list.push_back({Estimator::score_function, KlTerm::monte_carlo, Baseline::leave_one_out, L});
  return list;
}

// All encoder tensors as one: |E g| / std g over every coordinate of phi.
vae::ParameterStatistics whole_encoder(const std::vector<vae::ParameterStatistics>& stats) {
  vae::ParameterStatistics all{"all", {}, stats.front().repeats, {}, {}};
  for (const vae::ParameterStatistics& s : stats) {
    all.mean.insert(all.mean.end(), s.mean.begin(), s.mean.end());
    all.variance.insert(all.variance.end(), s.variance.begin(), s.variance.end());
  }
  all.shape = {static_cast<int64_t>(all.mean.size())};
  return all;
}

// ---------------------------------------------------------------- part 1: SNR at a checkpoint

struct Measurement {
  std::string checkpoint, estimator;
  int L = 1;
  std::vector<vae::ParameterStatistics> stats;
  std::vector<vae::Summary> along;  // u_d . g over the R estimates, for each direction u_d
};

// Random unit directions over all P coordinates of phi (fixed by the seed).
std::vector<std::vector<double>> random_directions(int count, int64_t P, uint64_t seed) {
  ad::Rng rng(seed);
  std::vector<std::vector<double>> directions(count, std::vector<double>(P));
  for (std::vector<double>& u : directions) {
    double norm = 0;
    for (double& v : u) {
      v = rng.normal();
      norm += v * v;
    }
    for (double& v : u) v /= std::sqrt(norm);
  }
  return directions;
}

// The largest |z| over the directions, z_d = (u_d . mean - u_d . reference mean) / se,
// se^2 the sum of the two projections' squared standard errors.
double largest_projected_z(const Measurement& m, const Measurement& reference) {
  double worst = 0;
  for (size_t d = 0; d < m.along.size(); ++d) {
    const vae::Summary &a = m.along[d], &b = reference.along[d];
    worst = std::max(worst, std::abs(a.mean - b.mean) / std::hypot(a.se_mean, b.se_mean));
  }
  return worst;
}

// The reference mean E g of a checkpoint: the reparameterization estimator at L = 10.
const Measurement& reference_of(const std::vector<Measurement>& list) {
  for (const Measurement& m : list)
    if (m.estimator == "reparam" && m.L == 10) return m;
  throw std::logic_error("no reparam L = 10 measurement");
}

// Every estimator at L = 1 and L = 10 on the fixed batch x: statistics, checks, table rows.
// R estimates of grad_phi -ELBO on x by every estimator of the lab at L = 1 and 10 (baselines
// warmed up first), with their projections on kDirections random unit directions.
std::vector<Measurement> estimate_all(const tut::Tutorial& t, const vae::LatentModel& lm,
                                      const std::string& checkpoint, const Tensor& x,
                                      const nn::Dataset& train, const Settings& s) {
  ad::Rng rng(t.seed() + 100);
  const std::vector<Tensor> warm = training_batches(train, s.batch, s.warm_up, t.seed() + 101);
  int64_t P = 0;
  for (const nn::NamedTensor& p : lm.encoder_parameters) P += p.tensor.numel();
  const std::vector<std::vector<double>> directions =
      random_directions(kDirections, P, t.seed() + 102);
  std::vector<Measurement> out;
  for (int L : {1, 10})
    for (const vae::EstimatorConfig& config : lab_estimators(L)) {
      vae::EncoderGradientEstimator estimator(config, x.dim(1), rng);
      vae::warm_up_baseline(estimator, lm, warm, rng);
      std::vector<std::vector<double>> projections;
      Measurement m{checkpoint, estimator.name(), L,
                    vae::gradient_statistics(
                        lm.encoder_parameters, lm.decoder_parameters, s.repeats,
                        [&] { return estimator.surrogate(lm, x, rng).loss; }, directions,
                        &projections),
                    {}};
      for (const std::vector<double>& p : projections) m.along.push_back(vae::summarize(p));
      out.push_back(std::move(m));
    }
  return out;
}

std::vector<Measurement> measure_checkpoint(tut::Tutorial& t, vae::Vae& model,
                                            const std::string& checkpoint, const Tensor& x,
                                            const nn::Dataset& train, const Settings& s) {
  t.section("L24", fmt::format("Encoder-gradient estimators at the checkpoint '{}'", checkpoint));
  t.note("grad_phi of -ELBO on one fixed batch of {} test images, R = {} estimates each with",
         x.dim(0), s.repeats);
  t.note("fresh noise; the baselines first fitted on {} training batches", s.warm_up);
  const vae::LatentModel lm = vae::latent_model(model);
  std::vector<Measurement> out = estimate_all(t, lm, checkpoint, x, train, s);
  const Measurement& reference = reference_of(out);
  const vae::ParameterStatistics reference_all = whole_encoder(reference.stats);
  for (int L : {1, 10}) {
    std::map<std::string, double> variance;  // total variance by estimator name
    t.note("");
    t.note("L = {}: SNR |E g| / std g per encoder tensor and over all of phi (E g: reparam, L = 10)",
           L);
    std::string header = fmt::format("  {:<20}", "estimator");
    for (const nn::NamedTensor& p : lm.encoder_parameters)
      header += fmt::format(" {:>9}", p.name.substr(std::string("encoder.").size()));
    t.note("{} {:>9} {:>11}", header, "all", "total var");
    for (const Measurement& m : out) {
      if (m.L != L) continue;
      std::string row = fmt::format("  {:<20}", m.estimator);
      for (size_t i = 0; i < m.stats.size(); ++i)
        row += fmt::format(" {:>9.3g}", m.stats[i].snr_against(reference.stats[i]));
      variance[m.estimator] = vae::total_variance(m.stats);
      t.note("{} {:>9.3g} {:>11.4g}", row, whole_encoder(m.stats).snr_against(reference_all),
             variance[m.estimator]);
    }
    // Same mean? Along each of kDirections random unit directions u_d the projection u_d . g
    // of every estimate is a number whose mean and standard error the R repeats give; for
    // two unbiased estimators z_d = (difference of the means) / se is about N(0, 1). The
    // check asks max_d |z_d| < 4.5: for unbiased estimators a false alarm has probability
    // below kDirections * 7e-6 for normal z (about kDirections * 2e-5 with Student's t
    // tails at R = 100), whatever the dependence between directions (Bonferroni).
    // Every coordinate of phi enters every direction. The per-coordinate fraction within
    // 3 se is printed too, but not checked: the coordinates share the same R draws, so
    // the fraction moves like a handful of tests, not like 10^5 independent ones.
    for (const Measurement& m : out) {
      if (m.L != L || &m == &reference) continue;
      const vae::MeanAgreement a = vae::compare_means(m.stats, reference.stats);
      const bool kl_variant = m.estimator == "reparam-mc-kl" || m.estimator == "score";
      const double worst = largest_projected_z(m, reference);
      t.check_true(kl_variant ? "L28" : "L24",
                   fmt::format("L = {:2}: {} has the reference mean along {} random directions: "
                               "largest |z| {:.2f} < 4.5",
                               L, m.estimator, kDirections, worst),
                   worst < 4.5,
                   fmt::format("{:.2f}% of {} coordinates within 3 se", 100 * a.within_3,
                               a.coordinates));
    }
    const double plain = variance["score-mc-kl"];
    for (const std::string b : {"score-mc-kl+average", "score-mc-kl+learned", "score-mc-kl+rloo"}) {
      if (!variance.count(b)) continue;
      t.check_less("L24", fmt::format("L = {:2}: total variance of {} < score-mc-kl", L, b),
                   variance[b], plain);
    }
    t.note("L = {:2}: total variance, score function over reparameterization: {:.3g}x; analytic over",
           L, variance["score-mc-kl"] / variance["reparam-mc-kl"]);
    t.note("        Monte Carlo KL: {:.3g} (reparam), {:.3g} (score)",
           variance["reparam"] / variance["reparam-mc-kl"], variance["score"] / variance["score-mc-kl"]);
  }
  return out;
}

// ---------------------------------------------------------------- part 2: training curves

struct Curve {
  std::string name;
  std::vector<double> steps, test_loss;
};

// `steps` Adam steps on the estimator's surrogate loss, each on the next training batch;
// evaluate() (a test -ELBO) is recorded into c at step 0, every steps / 20 and at the end.
template <class GradientEstimator, class Surrogate, class Evaluate>
void train_steps(nn::Adam& adam, nn::BatchIterator& batches, int steps,
                 GradientEstimator& estimator, const Surrogate& surrogate,
                 const Evaluate& evaluate, Curve& c) {
  const int every = std::max(1, steps / 20);
  nn::Batch b;
  for (int step = 0; step <= steps; ++step) {
    if (step % every == 0 || step == steps) {
      c.steps.push_back(step);
      c.test_loss.push_back(evaluate());
    }
    if (step == steps) break;
    while (!batches.next(b)) {  // false at the end of an epoch: the next call starts another
    }
    adam.zero_grad();
    const vae::SurrogateLoss loss = surrogate(b.x);
    ad::backward(loss.loss);
    estimator.update_baseline(b.x, loss.learning_signal);
    adam.step();
  }
}

// -ELBO on the test images with the reparameterization estimate at L = 1, the same noise
// for every model and every evaluation (mean over the images).
double test_negative_elbo(vae::Vae& model, const Tensor& test_x, uint64_t seed) {
  ad::NoGrad plain;
  ad::Rng rng(seed);
  return vae::negative_elbo(model, test_x, rng).loss.item();
}

Curve train_with(tut::Tutorial& t, const vae::EstimatorConfig& config, const nn::Dataset& train,
                 const Tensor& test_x, const Settings& s) {
  ad::Rng init(t.seed() + 200), rng(t.seed() + 201);  // every run starts from the same phi, theta
  vae::Vae model({.input_dim = train.pixels_per_image(), .hidden = kHidden, .latent_dim = s.latent},
                 init);
  const vae::LatentModel lm = vae::latent_model(model);
  vae::EncoderGradientEstimator estimator(config, train.pixels_per_image(), rng);
  nn::Adam adam(model, {.lr = 1e-3});
  nn::BatchIterator batches(train, {.batch_size = s.batch, .binarize = true, .seed = t.seed() + 202});
  Curve c{estimator.name() + (config.samples > 1 ? fmt::format(" L={}", config.samples) : ""), {}, {}};
  const auto start = std::chrono::steady_clock::now();
  train_steps(
      adam, batches, s.steps, estimator, [&](const Tensor& x) { return estimator.surrogate(lm, x, rng); },
      [&] { return test_negative_elbo(model, test_x, t.seed() + 203); }, c);
  t.note("  {:<26} test -ELBO {:8.2f} -> {:8.2f}   ({:.1f} s)", c.name, c.test_loss.front(),
         c.test_loss.back(), tut::seconds_since(start));
  return c;
}

void training_curves(tut::Tutorial& t, const nn::Dataset& train, const Tensor& test_x,
                     const Settings& s) {
  t.section("L24", "Training the same VAE with each estimator for the same steps");
  t.note("{} steps of Adam (lr 1e-3), batch {}, from the same initialisation; test -ELBO on {}",
         s.steps, s.batch, test_x.dim(0));
  t.note("images (reparameterization estimate, L = 1, the same noise at every evaluation)");
  const std::vector<vae::EstimatorConfig> configs = {
      {Estimator::reparameterization, KlTerm::analytic, Baseline::none, 1},
      {Estimator::reparameterization, KlTerm::monte_carlo, Baseline::none, 1},
      {Estimator::score_function, KlTerm::analytic, Baseline::none, 1},
      {Estimator::score_function, KlTerm::monte_carlo, Baseline::none, 1},
      {Estimator::score_function, KlTerm::monte_carlo, Baseline::moving_average, 1},
      {Estimator::score_function, KlTerm::monte_carlo, Baseline::learned, 1},
      {Estimator::score_function, KlTerm::monte_carlo, Baseline::leave_one_out, 4},
      {Estimator::reparameterization, KlTerm::analytic, Baseline::none, 4},
  };
  tut::Plot plot("training_curves", "Test -ELBO while training with each encoder-gradient estimator");
  plot.xlabel("training step").ylabel("test -ELBO (nats)");
  std::map<std::string, double> final_loss;
  double initial = 0;
  for (const vae::EstimatorConfig& config : configs) {
    const Curve c = train_with(t, config, train, test_x, s);
    plot.line(c.name, c.steps, c.test_loss,
              config.estimator == Estimator::reparameterization ? tut::LineStyle::solid
                                                                : tut::LineStyle::dashed);
    final_loss[c.name] = c.test_loss.back();
    initial = c.test_loss.front();
  }
  plot.y_range(std::floor(std::min(final_loss["reparam L=4"], final_loss["reparam"]) / 50) * 50,
               initial < 600 ? initial + 10 : 600);  // the start, far above, is cut off
  t.save_figure(plot);  // training_curves.csv: series = estimator, x = step, y = test -ELBO
  // The claim of note 003, measured: after the same steps, the plain score function
  // (f = log p(x, z) - log q(z|x), no baseline) against the reparameterization estimator.
  t.check_less("L24",
               "after the same steps, test -ELBO: reparam < score-mc-kl (the notes' claim)",
               final_loss["reparam"], final_loss["score-mc-kl"]);
  t.check_less("L24", "every run starts from the same test -ELBO; reparam improves on it",
               final_loss["reparam"], initial);
  const double best_score = std::min({final_loss["score-mc-kl+average"],
                                      final_loss["score-mc-kl+learned"],
                                      final_loss["score-mc-kl+rloo L=4"]});
  t.note("the best score function with a baseline ends at {:.2f}, the plain one at {:.2f},",
         best_score, final_loss["score-mc-kl"]);
  t.note("reparameterization at {:.2f} (L = 1) and {:.2f} (L = 4)", final_loss["reparam"],
         final_loss["reparam L=4"]);
}

// ---------------------------------------------------------------- part 3: discrete latents (L25)

// How far one estimator's mean is from the exact gradient g*, and how noisy one estimate is,
// both relative to |g*|:
//   bias  = sqrt(max(0, sum_j (m_j - g*_j)^2 - v_j / R)) / |g*|   (the noise floor removed)
//   noise = sqrt(sum_j v_j) / |g*|
struct BiasNoise {
  double bias = 0, noise = 0, floor = 0;  // floor: sqrt(sum_j v_j / R) / |g*|
  vae::MeanAgreement agreement;
  vae::Summary along;  // u . g over the R estimates, u = g* / |g*| (exact: |g*|)
};
BiasNoise bias_and_noise(const std::vector<vae::ParameterStatistics>& est,
                         const std::vector<vae::ParameterStatistics>& exact) {
  double squared_error = 0, variance = 0, norm = 0;
  for (size_t t = 0; t < est.size(); ++t)
    for (size_t j = 0; j < est[t].mean.size(); ++j) {
      squared_error += std::pow(est[t].mean[j] - exact[t].mean[j], 2);
      variance += est[t].variance[j];
      norm += exact[t].mean[j] * exact[t].mean[j];
    }
  const double R = static_cast<double>(est.front().repeats);
  norm = std::sqrt(norm);
  return {std::sqrt(std::max(squared_error - variance / R, 0.0)) / norm, std::sqrt(variance) / norm,
          std::sqrt(variance / R) / norm, vae::compare_means(est, exact), {}};
}

std::vector<nn::NamedTensor> named_with(const std::string& prefix, const nn::Module& m) {
  std::vector<nn::NamedTensor> out;
  for (const nn::NamedTensor& p : m.named_parameters()) out.push_back({prefix + p.name, p.tensor});
  return out;
}

// The discrete VAE of part 3 trained on its exact gradient (a sum over all C^K codes); its
// exact -ELBO is then checked against Monte Carlo with one hard code per image.
void train_on_exact_gradient(tut::Tutorial& t, vae::DiscreteVae& model, const nn::Dataset& train,
                             const Tensor& x, const Settings& s, ad::Rng& rng) {
  nn::Adam adam(model, {.lr = 1e-3});
  nn::BatchIterator batches(train, {.batch_size = s.batch, .binarize = true, .seed = t.seed() + 302});
  nn::Batch b;
  for (int step = 0; step < s.exact_steps; ++step) {
    while (!batches.next(b)) {
    }
    adam.zero_grad();
    ad::backward(model.exact_negative_elbo(b.x));
    adam.step();
  }
  ad::NoGrad plain;
  const double exact = model.exact_negative_elbo(x).item();
  std::vector<double> draws;
  for (int r = 0; r < s.repeats; ++r) draws.push_back(model.negative_elbo(x, 1, rng));
  const vae::Summary mc = vae::summarize(draws);
  t.check_within_se("L25", "-ELBO: sum over all codes vs Monte Carlo with one code per image",
                    mc.mean, mc.se_mean, exact, 4.0);
}

// The exact gradient g* of the encoder, and its direction u = g* / |g*| over all coordinates.
struct ExactGradient {
  std::vector<vae::ParameterStatistics> statistics;
  std::vector<double> direction;
  double norm = 0;
};
ExactGradient exact_gradient(vae::DiscreteVae& model, const std::vector<nn::NamedTensor>& encoder,
                             const Tensor& x) {
  ExactGradient g;
  model.zero_grad();
  ad::backward(model.exact_negative_elbo(x));
  g.statistics = vae::exact_statistics(encoder);
  model.zero_grad();
  for (const vae::ParameterStatistics& e : g.statistics)
    g.direction.insert(g.direction.end(), e.mean.begin(), e.mean.end());
  for (double v : g.direction) g.norm += v * v;
  g.norm = std::sqrt(g.norm);
  for (double& v : g.direction) v /= g.norm;
  return g;
}

// R estimates of grad_phi -ELBO on x by each estimator (baselines warmed up first), their bias
// and noise against g*, printed as a table and written to discrete_estimators.csv.
std::map<std::string, BiasNoise> measure_discrete_estimators(
    tut::Tutorial& t, vae::DiscreteVae& model, const nn::Dataset& train, const Tensor& x,
    const Settings& s, const std::vector<vae::DiscreteEstimatorConfig>& configs,
    const ExactGradient& exact, ad::Rng& rng) {
  const std::vector<nn::NamedTensor> encoder = named_with("encoder.", model.encoder),
                                     decoder = named_with("decoder.", model.decoder);
  const std::vector<Tensor> warm = training_batches(train, s.batch, s.warm_up, t.seed() + 303);
  std::string csv =
      "estimator,L,relative_bias,relative_noise,noise_floor,within_3se,along_exact,along_exact_se\n";
  std::map<std::string, BiasNoise> by_name;
  t.note("  {:<16} {:>3} {:>12} {:>12} {:>12} {:>20}", "estimator", "L", "bias / |g*|",
         "std / |g*|", "within 3 se", "u.g / |g*| (+- se)");
  for (const vae::DiscreteEstimatorConfig& config : configs) {
    vae::DiscreteGradientEstimator estimator(config, x.dim(1), rng);
    for (const Tensor& w : warm) {
      Tensor signal;
      {
        ad::NoGrad plain;
        signal = estimator.surrogate(model, w, rng).learning_signal;
      }
      estimator.update_baseline(w, signal);
    }
    std::vector<std::vector<double>> projections;
    const auto stats = vae::gradient_statistics(
        encoder, decoder, s.repeats, [&] { return estimator.surrogate(model, x, rng).loss; },
        {exact.direction}, &projections);
    BiasNoise bn = bias_and_noise(stats, exact.statistics);
    bn.along = vae::summarize(projections[0]);
    by_name[estimator.name()] = bn;
    t.note("  {:<16} {:>3} {:>12.3g} {:>12.3g} {:>11.1f}% {:>12.3f} +- {:.3f}", estimator.name(),
           config.samples, bn.bias, bn.noise, 100 * bn.agreement.within_3,
           bn.along.mean / exact.norm, bn.along.se_mean / exact.norm);
    csv += fmt::format("{},{},{},{},{},{},{},{}\n", estimator.name(), config.samples, bn.bias,
                       bn.noise, bn.floor, bn.agreement.within_3, bn.along.mean / exact.norm,
                       bn.along.se_mean / exact.norm);
  }
  t.note("(bias: |mean of the R estimates - g*| with the noise floor sqrt(sum var / R) removed)");
  t.save_text("discrete_estimators.csv", csv);
  return by_name;
}

// Gumbel-softmax bias, noise floor and noise against the temperature, the score function's
// noise as level lines.
void plot_discrete_bias_and_noise(tut::Tutorial& t, const std::vector<double>& temperatures,
                                  std::map<std::string, BiasNoise>& by_name) {
  std::vector<double> gumbel_bias, gumbel_noise, gumbel_floor;
  for (double tau : temperatures) {
    const BiasNoise& bn = by_name[fmt::format("gumbel tau={:g}", tau)];
    gumbel_bias.push_back(bn.bias);
    gumbel_noise.push_back(bn.noise);
    gumbel_floor.push_back(bn.floor);
  }
  tut::Plot plot("discrete_bias_variance",
                 "Gumbel-softmax bias and noise against temperature; score function noise (lines)");
  plot.xlabel("temperature tau").ylabel("relative to |exact gradient|").log_x().log_y();
  // the key in the empty lower left (at the top right it hid the score function's line)
  plot.x_range(0.08, 2.5).y_range(1e-3, 100).legend(tut::LegendPlace::bottom_left);
  plot.line("Gumbel-softmax bias", temperatures, gumbel_bias);
  plot.points("smallest bias R estimates can see (noise floor)", temperatures, gumbel_floor);
  plot.line("Gumbel-softmax std of one estimate", temperatures, gumbel_noise);
  for (const std::string name : {"score", "score+rloo"}) {
    const double v = by_name[name].noise;
    plot.line(fmt::format("{} std (bias 0)", name), std::vector<double>{temperatures.front(), temperatures.back()},
              std::vector<double>{v, v}, tut::LineStyle::dashed);
  }
  t.save_figure(plot);
}

void discrete_bias_and_variance(tut::Tutorial& t, const nn::Dataset& train, const Tensor& x,
                                const Settings& s) {
  t.section("L25", "Discrete latents: the relaxation's bias against the score function's variance");
  const int64_t K = 4, C = 4;
  t.note("a VAE with K = {} categorical latents of C = {} classes ({} codes, few enough to sum", K,
         C, static_cast<int>(std::pow(C, K)));
  t.note("the ELBO over all of them), trained {} steps on that exact gradient; then on a fixed",
         s.exact_steps);
  t.note("batch of {} test images, R = {} estimates of grad_phi -ELBO by each estimator", x.dim(0),
         s.repeats);
  ad::Rng init(t.seed() + 300), rng(t.seed() + 301);
  vae::DiscreteVae model({.input_dim = train.pixels_per_image(), .hidden = kHidden,
                          .variables = K, .classes = C}, init);
  train_on_exact_gradient(t, model, train, x, s, rng);
  const ExactGradient exact = exact_gradient(model, named_with("encoder.", model.encoder), x);

  using vae::DiscreteEstimator;
  std::vector<vae::DiscreteEstimatorConfig> configs = {
      {DiscreteEstimator::score_function, Baseline::none, 1, 1.0},
      {DiscreteEstimator::score_function, Baseline::moving_average, 1, 1.0},
      {DiscreteEstimator::score_function, Baseline::learned, 1, 1.0},
      {DiscreteEstimator::score_function, Baseline::leave_one_out, 10, 1.0},
  };
  const std::vector<double> temperatures = {0.1, 0.2, 0.5, 1.0, 2.0};
  for (double tau : temperatures) configs.push_back({DiscreteEstimator::gumbel_softmax, Baseline::none, 1, tau});
  std::map<std::string, BiasNoise> by_name =
      measure_discrete_estimators(t, model, train, x, s, configs, exact, rng);
  // Unbiased: the mean of u . g over the R estimates against u . g* = |g*|. (The per-coordinate
  // fractions are not checked here: where q puts nearly all its mass on one class, the rare
  // other class carries the gradient, and R draws rarely see it, so the sample variance
  // understates the variance; along u these coordinates weigh little.)
  for (const auto& [name, bn] : by_name) {
    if (name.rfind("score", 0) != 0) continue;
    t.check_within_se("L25", fmt::format("{}: u . E[g] against |g*| = {:.4g}", name, exact.norm),
                      bn.along.mean, bn.along.se_mean, exact.norm, 4.0);
  }
  // Biased: at the largest temperature the relaxed sample is a smooth function of the noise
  // (no rare events), so the per-coordinate z's are trustworthy, and most are far off.
  const BiasNoise& hot = by_name[fmt::format("gumbel tau={:g}", temperatures.back())];
  t.check_true("L25",
               fmt::format("the relaxation at tau = {:g} is biased: {:.1f}% of {} coordinates "
                           "within 3 se of g* (< 90%)",
                           temperatures.back(), 100 * hot.agreement.within_3,
                           hot.agreement.coordinates),
               hot.agreement.within_3 < 0.9,
               fmt::format("relative bias {:.3g}, mean z^2 {:.1f}", hot.bias, hot.agreement.mean_z2));
  plot_discrete_bias_and_noise(t, temperatures, by_name);
}

// The K = 20, C = 10 discrete VAE trained with each estimator for the same steps.
void discrete_training(tut::Tutorial& t, const nn::Dataset& train, const Tensor& test_x,
                       const Settings& s) {
  t.section("L25", "Training a VAE with 20 categorical latents of 10 classes");
  t.note("{} steps of Adam (lr 1e-3), batch {}; test -ELBO with one hard code per image", s.steps,
         s.batch);
  using vae::DiscreteEstimator;
  const std::vector<vae::DiscreteEstimatorConfig> configs = {
      {DiscreteEstimator::score_function, Baseline::none, 1, 1.0},
      {DiscreteEstimator::score_function, Baseline::moving_average, 1, 1.0},
      {DiscreteEstimator::score_function, Baseline::learned, 1, 1.0},
      {DiscreteEstimator::score_function, Baseline::leave_one_out, 4, 1.0},
      {DiscreteEstimator::gumbel_softmax, Baseline::none, 1, 0.5},
      {DiscreteEstimator::gumbel_softmax, Baseline::none, 1, 1.0},
      {DiscreteEstimator::gumbel_softmax, Baseline::none, 1, 2.0},
  };
  tut::Plot plot("discrete_training_curves", "Test -ELBO of the categorical VAE by estimator");
  plot.xlabel("training step").ylabel("test -ELBO (nats)");
  std::map<std::string, double> first, last;
  for (const vae::DiscreteEstimatorConfig& config : configs) {
    ad::Rng init(t.seed() + 400), rng(t.seed() + 401);
    vae::DiscreteVae model({.input_dim = train.pixels_per_image(), .hidden = kHidden}, init);
    vae::DiscreteGradientEstimator estimator(config, train.pixels_per_image(), rng);
    nn::Adam adam(model, {.lr = 1e-3});
    nn::BatchIterator batches(train, {.batch_size = s.batch, .binarize = true, .seed = t.seed() + 402});
    const std::string name =
        estimator.name() + (config.samples > 1 ? fmt::format(" L={}", config.samples) : "");
    Curve c{name, {}, {}};
    const auto start = std::chrono::steady_clock::now();
    train_steps(
        adam, batches, s.steps, estimator,
        [&](const Tensor& x) { return estimator.surrogate(model, x, rng); },
        [&] {
          ad::Rng eval(t.seed() + 403);  // the same codes at every evaluation
          return model.negative_elbo(test_x, 1, eval);
        },
        c);
    const std::vector<double>&steps = c.steps, &losses = c.test_loss;
    first[name] = losses.front();
    last[name] = losses.back();
    t.note("  {:<20} test -ELBO {:8.2f} -> {:8.2f}   ({:.1f} s)", name, losses.front(),
           losses.back(), tut::seconds_since(start));
    plot.line(name, steps, losses,
              config.estimator == DiscreteEstimator::gumbel_softmax ? tut::LineStyle::solid
                                                                    : tut::LineStyle::dashed);
  }
  double lowest = 1e300;
  for (const auto& [name, value] : last) lowest = std::min(lowest, value);
  plot.y_range(std::floor(lowest / 50) * 50, 500);  // the start, above, is cut off
  t.save_figure(plot);  // discrete_training_curves.csv: the same columns
  for (const std::string name : {"score+rloo L=4", "gumbel tau=1"})
    t.check_less("L25", fmt::format("{} lowers the test -ELBO from its start", name), last[name],
                 first[name]);
}

// ---------------------------------------------------------------- part 4: full covariance (L29)

// -ELBO of each test image with one sample z (the same noise for every call), not recorded.
template <vae::ReparameterizedModel Model>
std::vector<double> per_image_negative_elbo(Model& model, const Tensor& x, uint64_t seed) {
  ad::NoGrad plain;
  ad::Rng rng(seed);
  const auto q = model.encode(x);
  const Tensor z = q.rsample_from(rng.normal({x.dim(0), model.latent_dim()}, x.dtype()));
  return (q.kl_to_standard() + vae::negative_log_likelihood(model, x, z)).to_vector();
}

// The closed forms of N(mu, L L^T) checked on one test image of the untrained model.
void cholesky_checks(tut::Tutorial& t, vae::FullCovVae& model, const Tensor& image, int draws) {
  ad::NoGrad plain;
  const int64_t k = model.config().latent_dim;
  // the image repeated: every row has the same q, so the rows are `draws` samples of it
  const vae::CholeskyGaussian q = model.encode(vae::tile_rows(image, draws));
  ad::Rng rng(t.seed() + 500);
  const Tensor eps = rng.normal({draws, k}, ad::f32);
  const Tensor z = q.rsample_from(eps);
  const std::vector<double> mu = ad::slice(q.mu, 0, 0, 1).to_vector();
  const std::vector<double> factor = ad::slice(q.L, 0, 0, 1).to_vector();
  vae::Matrix l(static_cast<int>(k), static_cast<int>(k));
  for (int64_t a = 0; a < k; ++a)
    for (int64_t b = 0; b < k; ++b) l(a, b) = factor[a * k + b];
  const vae::Matrix sigma = l * vae::transpose(l);
  const double kl = q.kl_to_standard().to_vector()[0];
  t.check_close("L29", "KL(N(mu, L L^T) || N(0, I)): the Cholesky form vs the general formula (L05)",
                kl, vae::kl_gaussian(mu, sigma, std::vector<double>(k, 0.0),
                                     vae::Matrix::identity(static_cast<int>(k))),
                1e-4);
  // KL = E_q[log q(z) - log p(z)], log q from the change of variables (eq. 44)
  const Tensor log_ratio = q.log_prob_from_eps(eps) - ad::sum(-0.5 * vae::kLog2Pi - 0.5 * z * z, -1);
  const vae::Summary mc = vae::summarize(log_ratio.to_vector());
  t.check_within_se("L29", fmt::format("KL by Monte Carlo over {} draws, log q by the change of variables", draws),
                    mc.mean, mc.se_mean, kl, 4.0);
  // the sample covariance of z = mu + L eps against Sigma = L L^T, entry by entry: the
  // standard error of a sample covariance is sqrt((S_aa S_bb + S_ab^2) / draws)
  const std::vector<double> zs = z.to_vector();
  double worst = 0;
  for (int64_t a = 0; a < k; ++a)
    for (int64_t b = 0; b <= a; ++b) {
      double c = 0;
      for (int64_t r = 0; r < draws; ++r) c += (zs[r * k + a] - mu[a]) * (zs[r * k + b] - mu[b]);
      c /= draws;
      const double se = std::sqrt((sigma(a, a) * sigma(b, b) + sigma(a, b) * sigma(a, b)) / draws);
      worst = std::max(worst, std::abs(c - sigma(a, b)) / se);
    }
  t.check_true("L29",
               fmt::format("sample covariance of mu + L eps vs L L^T: every one of the {} entries "
                           "within 4 se", k * (k + 1) / 2),
               worst < 4.0, fmt::format("largest |z| {:.2f}", worst));
}

// The learned posterior correlations rho_ab = Sigma_ab / sqrt(Sigma_aa Sigma_bb) of the
// full-covariance VAE over the test images: summarised, checked to lie in [0, 1], drawn.
void posterior_correlations(tut::Tutorial& t, vae::FullCovVae& full, const Tensor& test_x) {
  const int64_t k = full.config().latent_dim;
  ad::NoGrad plain;
  const std::vector<double> cov = full.encode(test_x).covariance().to_vector();
  std::vector<double> rho;
  for (int64_t i = 0; i < test_x.dim(0); ++i) {
    const double* S = cov.data() + i * k * k;
    for (int64_t p = 0; p < k; ++p)
      for (int64_t q = 0; q < p; ++q)
        rho.push_back(std::abs(S[p * k + q]) / std::sqrt(S[p * k + p] * S[q * k + q]));
  }
  std::sort(rho.begin(), rho.end());
  const vae::Summary r = vae::summarize(rho);
  const auto quantile = [&](double p) { return rho[static_cast<size_t>(p * (rho.size() - 1))]; };
  t.note("learned |correlations| over {} pairs x {} images: mean {:.3f}, median {:.3f}, 90% {:.3f}, max {:.3f}",
         k * (k - 1) / 2, test_x.dim(0), r.mean, quantile(0.5), quantile(0.9), rho.back());
  t.note("(the diagonal VAE's are 0 by construction)");
  t.check_true("L29", "every learned correlation lies in [0, 1] (Sigma = L L^T is a covariance)",
               rho.front() >= 0 && rho.back() <= 1 + 1e-6,
               fmt::format("{:.3g} .. {:.3g}", rho.front(), rho.back()));
  std::vector<double> fraction;
  for (size_t i = 0; i < rho.size(); ++i) fraction.push_back((i + 0.5) / static_cast<double>(rho.size()));
  tut::Plot spread("posterior_correlations",
                   "Learned posterior |correlations| of the full-covariance VAE (sorted)");
  spread.xlabel("fraction of (image, pair)").ylabel("|rho_ab| = |Sigma_ab| / sqrt(Sigma_aa Sigma_bb)");
  spread.line("full covariance", fraction, rho);
  t.save_figure(spread);
}

void full_covariance(tut::Tutorial& t, const nn::Dataset& train, const Tensor& test_x,
                     const Settings& s) {
  t.section("L29", "A full-covariance Gaussian posterior through a Cholesky factor");
  const int64_t k = s.latent;
  t.note("encoder_phi(x) = [mu | d | l]: L_ii = exp(d_i), L_ij = l_(ij) below the diagonal;");
  t.note("z = mu + L eps; KL = 1/2 (sum_ij L_ij^2 + |mu|^2 - k) - sum_i d_i; k = {}", k);
  ad::Rng init(t.seed() + 501), rng(t.seed() + 502);
  vae::FullCovVae full({.input_dim = train.pixels_per_image(), .hidden = kHidden, .latent_dim = k},
                       init);
  vae::Vae diagonal({.input_dim = train.pixels_per_image(), .hidden = kHidden, .latent_dim = k},
                    init);
  cholesky_checks(t, full, ad::slice(test_x, 0, 0, 1), t.quick() ? 2000 : 20000);

  t.note("training both VAEs (the same widths, k = {}) for {} epochs, batch 128, Adam 1e-3", k,
         s.full_epochs);
  nn::Adam adam_full(full, {.lr = 1e-3}), adam_diagonal(diagonal, {.lr = 1e-3});
  nn::BatchIterator batches(train, {.batch_size = 128, .binarize = true, .seed = t.seed() + 503});
  std::vector<double> epochs, loss_full, loss_diagonal;
  const uint64_t eval_seed = t.seed() + 504;
  auto evaluate = [&](int epoch) {
    epochs.push_back(epoch);
    loss_full.push_back(vae::summarize(per_image_negative_elbo(full, test_x, eval_seed)).mean);
    loss_diagonal.push_back(vae::summarize(per_image_negative_elbo(diagonal, test_x, eval_seed)).mean);
  };
  evaluate(0);
  const auto start = std::chrono::steady_clock::now();
  for (int epoch = 1; epoch <= s.full_epochs; ++epoch) {
    for (nn::Batch b; batches.next(b);) {  // the same batches for both models
      adam_full.zero_grad();
      ad::backward(vae::negative_elbo(full, b.x, rng).loss);
      adam_full.step();
      adam_diagonal.zero_grad();
      ad::backward(vae::negative_elbo(diagonal, b.x, rng).loss);
      adam_diagonal.step();
    }
    evaluate(epoch);
    t.note("  epoch {}: test -ELBO full covariance {:.2f}, diagonal {:.2f}", epoch, loss_full.back(),
           loss_diagonal.back());
  }
  t.note("  {:.1f} s", tut::seconds_since(start));
  // From epoch 1: the untrained models' -ELBO (about 1000 and 900) would flatten the
  // curves that are compared into one line.
  auto trained = [](const std::vector<double>& v) { return std::vector<double>(v.begin() + 1, v.end()); };
  t.note("  untrained: test -ELBO full covariance {:.2f}, diagonal {:.2f} (not drawn)", loss_full[0],
         loss_diagonal[0]);
  tut::Plot curves("full_covariance_curves",
                   "Test -ELBO after each epoch: full-covariance vs diagonal posterior");
  const std::vector<double> trained_epochs = trained(epochs);
  curves.xlabel("epoch").ylabel("test -ELBO (nats)").x_tics(trained_epochs);
  curves.line("full covariance (Cholesky)", trained_epochs, trained(loss_full));
  curves.line("diagonal", trained_epochs, trained(loss_diagonal), tut::LineStyle::dashed);
  t.save_figure(curves);

  // the paired difference per test image (the same images and noise for both)
  const std::vector<double> a = per_image_negative_elbo(full, test_x, eval_seed),
                            b = per_image_negative_elbo(diagonal, test_x, eval_seed);
  std::vector<double> difference;
  for (size_t i = 0; i < a.size(); ++i) difference.push_back(a[i] - b[i]);
  const vae::Summary d = vae::summarize(difference);
  t.note("test -ELBO, full minus diagonal: {:+.2f} +- {:.2f} nats per image (paired over {} images)",
         d.mean, d.se_mean, difference.size());
  t.check_less("L29", "training lowers the full-covariance VAE's test -ELBO", loss_full.back(),
               loss_full.front());

  posterior_correlations(t, full, test_x);
}

// ---------------------------------------------------------------- the SNR table and figure

void save_snr(tut::Tutorial& t, const std::vector<Measurement>& all) {
  // snr: E g from the checkpoint's reparam L = 10 run; snr_own_mean: from the row's own mean
  std::string csv = "checkpoint,estimator,L,parameter,mean_abs,std,snr,snr_own_mean\n";
  std::map<std::string, std::vector<vae::ParameterStatistics>> references;
  for (const Measurement& m : all)
    if (m.estimator == "reparam" && m.L == 10) {
      references[m.checkpoint] = m.stats;
      references[m.checkpoint].push_back(whole_encoder(m.stats));
    }
  for (const Measurement& m : all) {
    std::vector<vae::ParameterStatistics> rows = m.stats;
    rows.push_back(whole_encoder(m.stats));
    for (size_t i = 0; i < rows.size(); ++i)
      csv += fmt::format("{},{},{},{},{:.6g},{:.6g},{:.6g},{:.6g}\n", m.checkpoint, m.estimator,
                         m.L, rows[i].name, rows[i].mean_abs(), rows[i].stddev(),
                         rows[i].snr_against(references[m.checkpoint][i]), rows[i].snr());
  }
  t.save_text("encoder_gradient_snr.csv", csv);
  // SNR over all of phi against the checkpoint, one line per estimator and L
  std::vector<std::string> checkpoints;
  for (const Measurement& m : all)
    if (std::find(checkpoints.begin(), checkpoints.end(), m.checkpoint) == checkpoints.end())
      checkpoints.push_back(m.checkpoint);
  // One colour per estimator: L = 10 solid, L = 1 dashed beside it. The "-mc-kl" twin of
  // reparam and the analytic-KL score lie on the lines drawn (see the CSV), so they are left out.
  std::vector<std::string> names;
  for (const std::string& checkpoint : checkpoints)
    names.push_back(checkpoint == "epoch1" ? "one epoch" : checkpoint);
  tut::Plot plot("snr_by_checkpoint",
                 "SNR of ∇_φ(−ELBO) over all encoder parameters\n"
                 "solid L = 10, dashed L = 1 sample per image");
  plot.xlabel("checkpoint of one training run").ylabel("SNR |E g| / std g").log_y();
  plot.x_categories(names).legend(tut::LegendPlace::outside).size(760, 480);
  auto snr_line = [&](const std::string& estimator, int L) {
    std::vector<double> x, y;
    for (const Measurement& m : all)
      if (m.estimator == estimator && m.L == L) {
        x.push_back(static_cast<double>(
            std::find(checkpoints.begin(), checkpoints.end(), m.checkpoint) - checkpoints.begin()));
        y.push_back(whole_encoder(m.stats).snr_against(references[m.checkpoint].back()));
      }
    return std::pair{x, y};
  };
  for (const char* estimator : {"reparam", "score-mc-kl", "score-mc-kl+average",
                                "score-mc-kl+learned", "score-mc-kl+rloo"}) {
    const auto [x10, y10] = snr_line(estimator, 10);
    const auto [x1, y1] = snr_line(estimator, 1);
    if (x10.empty()) continue;
    plot.line(estimator, x10, y10);
    if (!x1.empty()) plot.companion_line(x1, y1);
  }
  t.save_figure(plot);
}

}  // namespace

// Part 1: every estimator measured at three checkpoints of one training run (the untrained
// model, after one epoch, trained), written to encoder_gradient_snr.csv.
static void three_checkpoints(tut::Tutorial& t, const nn::Dataset& train, const Tensor& fixed_batch,
                       const Tensor& test_x, const Settings& s) {
  ad::Rng init(t.seed() + 2), rng(t.seed() + 3);
  vae::Vae model({.input_dim = train.pixels_per_image(), .hidden = kHidden, .latent_dim = s.latent},
                 init);
  nn::Adam adam(model, {.lr = 1e-3});
  std::vector<Measurement> all;
  auto measure = [&](const std::string& name) {
    const auto start = std::chrono::steady_clock::now();
    for (Measurement& m : measure_checkpoint(t, model, name, fixed_batch, train, s))
      all.push_back(std::move(m));
    t.note("test -ELBO at '{}': {:.2f}; measured in {:.1f} s", name,
           test_negative_elbo(model, test_x, t.seed() + 203), tut::seconds_since(start));
  };
  measure("init");
  // the standard VAE training (the reparameterization estimator), measured after epoch 1
  // and at the end; the progress line of each epoch ends with the test -ELBO
  tut::train_vae(
      model, adam, train, {.epochs = s.epochs, .batch_size = 128, .binarize = true, .seed = t.seed() + 4},
      rng,
      [&, epoch = 0]() mutable {
        if (++epoch == 1) measure("epoch1");
        return test_negative_elbo(model, test_x, t.seed() + 203);
      },
      [](const tut::VaeHistory& h) { return fmt::format("test -ELBO {:.2f}", h.validation.back()); });
  measure(fmt::format("trained"));
  save_snr(t, all);
}

static int run(int argc, char** argv) {
  tut::Tutorial t("12_estimator_lab", "The estimator lab: encoder gradients on a real VAE");
  std::string data_dir;
  Settings s;
  tut::add_data_flag(t, data_dir);
  t.flags()
      .add_option("--epochs", s.epochs, "epochs of training for the 'trained' checkpoint")
      ->check(CLI::Range(1, 1000));
  t.flags().add_option("--repeats", s.repeats, "R, gradient estimates per estimator")
      ->check(CLI::Range(2, 100000));
  t.flags().add_option("--batch", s.batch, "images in the fixed batch")->check(CLI::Range(2, 4096));
  t.flags().add_option("--latent", s.latent, "latent dimension k")->check(CLI::Range(1, 256));
  t.flags().add_option("--steps", s.steps, "training steps per estimator (part 2)")
      ->check(CLI::Range(1, 1000000));
  if (auto exit_code = t.parse(argc, argv)) return *exit_code;
  if (t.quick()) {  // smaller sizes, except those given explicitly
    if (!t.given("--epochs")) s.epochs = 2;
    if (!t.given("--repeats")) s.repeats = 50;
    if (!t.given("--batch")) s.batch = 16;
    if (!t.given("--steps")) s.steps = 60;
    s.warm_up = 20;
    s.exact_steps = 30;
    s.full_epochs = 1;
  }
  auto data = tut::load_image_splits(t, data_dir);
  if (!data) return 1;
  const nn::Dataset train = t.quick() ? data->train.first(2000) : data->train;
  t.note("data: {}", data->description);
  ad::Rng binarize_rng(t.seed() + 1);
  const Tensor fixed_batch = tut::binarize(data->test.first(s.batch).images, binarize_rng);
  const Tensor test_x = tut::binarize(data->test.first(t.quick() ? 200 : 2000).images, binarize_rng);

  // ---- part 1
  three_checkpoints(t, train, fixed_batch, test_x, s);

  // ---- part 2
  training_curves(t, train, test_x, s);

  // ---- part 3
  discrete_bias_and_variance(t, train, fixed_batch, s);
  discrete_training(t, train, test_x, s);

  // ---- part 4
  full_covariance(t, train, test_x, s);
  return t.finish();
}

// Any error after the flags are read ends the program with one line and exit status 1.
int main(int argc, char** argv) {
  return tut::report_errors("12_estimator_lab", [&] { return run(argc, argv); });
}
