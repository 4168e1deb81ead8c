// Estimators of the gradient of a VAE's ELBO with respect to the encoder's parameters phi,
// all written on the tape, and the statistics that compare them (tutorial 12).
//
// For one example x, with f(z) = log p_theta(x, z) - log q_phi(z|x),
//   ELBO(x) = E_{q_phi(z|x)}[f(z)]                                  (notes 003, eqs. 18-26)
// and the estimators of grad_phi ELBO, each averaged over L samples z^[l] and the batch:
//
//   reparameterization (eq. 28, 46):  z^[l] = mu + sigma * eps^[l] on the tape,
//       g = 1/L sum_l grad_phi f(mu + sigma * eps^[l])
//   score function (log-derivative trick, eq. 27, 37):  z^[l] ~ q_phi, a constant,
//       g = 1/L sum_l (f(z^[l]) - b) grad_phi log q_phi(z^[l]|x)
//     (the term E_q[grad_phi f] = -E_q[grad_phi log q_phi] = 0 is left out)
//   control variates b, each independent of the sample it multiplies, so E[g] is unchanged:
//     moving_average  b = the running mean of f over earlier estimates (one number)
//     learned         b = c + net_psi(x): the moving average plus a small network of x
//                     trained on the squared error (f - c - net_psi(x))^2 (NVIL's baseline)
//     leave_one_out   b^[l] = 1/(L-1) sum_{j != l} f(z^[j]) (RLOO; needs L >= 2)
//   analytic or Monte Carlo KL (L28): with KlTerm::analytic the ELBO is written
//       E_q[log p_theta(x|z)] - KL(q_phi(z|x) || N(0, I))
//     and only the first term is estimated (f(z) = log p_theta(x|z)); the KL's gradient is
//     exact. With KlTerm::monte_carlo the whole f(z) above is sampled.
//
// Each estimator returns a surrogate loss: a scalar whose gradient (by ad::backward) is the
// estimate of grad -ELBO, averaged over the batch, for the encoder and the decoder alike.
//
//   vae::LatentModel model = vae::latent_model(vae);
//   vae::EncoderGradientEstimator score({.estimator = vae::Estimator::score_function,
//                                        .baseline = vae::Baseline::leave_one_out,
//                                        .samples = 10}, 784, rng);
//   vae::SurrogateLoss s = score.surrogate(model, x, rng);
//   ad::backward(s.loss);                       // encoder grads: the score-function estimate
//   score.update_baseline(x, s.learning_signal);
//   auto stats = vae::encoder_gradient_statistics(score, model, x, 200, rng);
//   stats[0].snr();                             // |E g| / std g for encoder.0.weight
#pragma once
#include <cstdint>
#include <concepts>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autodiff/rng.h"
#include "autodiff/tensor.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/optim.h"
#include "vae/distributions.h"
#include "vae/latent_model.h"

namespace vae {

// What the estimators need of a model with a diagonal Gaussian encoder and prior N(0, I):
// a ReparameterizedModel of latent_model.h, seen through std::functions so that the
// estimators and their statistics are compiled once (latent_model() below builds it).
struct LatentModel {
  std::function<DiagGaussian(const ad::Tensor& x)> encode;  // q_phi(z|x), recorded
  // log p_theta(x|z) of each row: x [n, d], z [n, k] -> [n], recorded.
  std::function<ad::Tensor(const ad::Tensor& x, const ad::Tensor& z)> log_likelihood;
  std::vector<nn::NamedTensor> encoder_parameters;  // phi
  std::vector<nn::NamedTensor> decoder_parameters;  // theta
};
// Each parameter's name with `prefix` in front ("encoder." + "0.weight").
std::vector<nn::NamedTensor> prefixed(const std::vector<nn::NamedTensor>& params,
                                      const std::string& prefix);

// The LatentModel of any model with a diagonal Gaussian q_phi(z|x) and members encoder and
// decoder (vae::Vae, vae::ConvVae; parameters named as in model.named_parameters()).
template <ReparameterizedModel M>
  requires std::same_as<decltype(std::declval<M&>().encode(std::declval<ad::Tensor>())),
                        DiagGaussian>
LatentModel latent_model(M& model) {
  LatentModel m;
  m.encode = [&model](const ad::Tensor& x) { return model.encode(x); };
  m.log_likelihood = [&model](const ad::Tensor& x, const ad::Tensor& z) {
    return -negative_log_likelihood(model, x, z);
  };
  m.encoder_parameters = prefixed(model.encoder.named_parameters(), "encoder.");
  m.decoder_parameters = prefixed(model.decoder.named_parameters(), "decoder.");
  return m;
}

enum class Estimator { reparameterization, score_function };
enum class KlTerm { analytic, monte_carlo };
enum class Baseline { none, moving_average, learned, leave_one_out };

struct EstimatorConfig {
  Estimator estimator = Estimator::reparameterization;
  KlTerm kl = KlTerm::analytic;
  Baseline baseline = Baseline::none;  // the score function's control variate
  int samples = 1;                     // L
};
// A short name for tables: "reparam", "reparam-mc-kl", "score", "score+rloo", ...
std::string estimator_name(const EstimatorConfig& config);

// A running mean with exponential forgetting: value <- decay value + (1 - decay) x.
// The first update sets it (no start-up bias towards 0).
class MovingAverage {
 public:
  explicit MovingAverage(double decay = 0.9) : decay_(decay) {}
  void update(double x);
  double value() const { return value_; }
  bool started() const { return started_; }

 private:
  double decay_, value_ = 0.0;
  bool started_ = false;
};

// b_psi(x) = c + net_psi(x): c a moving average of the learning signal, net_psi an MLP
// d -> hidden -> 1 fitted by Adam to the residual f - c (NVIL, Mnih & Gregor 2014, 3.2).
class LearnedBaseline : public nn::Module {
 public:
  LearnedBaseline(int64_t input_dim, int64_t hidden, ad::Rng& rng, ad::DType dtype);
  // b_psi(x) for each row, [n], not recorded.
  ad::Tensor predict(const ad::Tensor& x);
  // One Adam step on mean_i (mean_l f_il - c - net_psi(x_i))^2; f is [L, n]. Returns the
  // squared error before the step.
  double fit(const ad::Tensor& x, const ad::Tensor& f);

  nn::Sequential net;
  MovingAverage average;

 private:
  std::unique_ptr<nn::Adam> adam_;
};

// The control variate b of a score-function estimator, of any latent distribution: the
// learning signal f is [L, n] (sample l of example i), x the batch [n, d].
class ControlVariate {
 public:
  // input_dim sizes the learned baseline's network. Throws for leave-one-out with L < 2.
  ControlVariate(Baseline kind, int samples, int64_t input_dim, ad::Rng& rng);
  // b for each sample, [L, n], from state fixed before the samples were drawn (or, for
  // leave-one-out, from the other samples); zeros when there is none. Not recorded.
  ad::Tensor values(const ad::Tensor& x, const ad::Tensor& f);
  // Feeds a finished estimate's f to the moving-average or learned baseline.
  void update(const ad::Tensor& x, const ad::Tensor& f);
  Baseline kind() const { return kind_; }

 private:
  Baseline kind_;
  MovingAverage average_;
  std::unique_ptr<LearnedBaseline> learned_;
};

// The score-function surrogate loss, for any latent distribution: with the learning signal
// f = log p_theta(x|z) (a constant, [L, n]), b = baseline.values(x, f),
//   loss = kl - 1/(L n) sum (f - b) log q_phi(z|x) - 1/(L n) sum log p_theta(x|z)
// whose gradient is the score-function estimate of grad_phi -ELBO (and the decoder's
// exact one). log_q_z and log_likelihood are [L, n], recorded.
ad::Tensor score_function_loss(const ad::Tensor& kl, const ad::Tensor& log_q_z,
                               const ad::Tensor& log_likelihood, const ad::Tensor& learning_signal,
                               ControlVariate& baseline, const ad::Tensor& x);

// The estimator's output for one batch.
struct SurrogateLoss {
  ad::Tensor loss;             // recorded: grad loss = the estimate of grad -ELBO
  double negative_elbo = 0;    // the L-sample estimate of -ELBO, mean over the batch
  ad::Tensor learning_signal;  // f(z^[l]) of each sample, [L, batch], a constant
};

// Throws, naming `who`, when L < 1 or when a baseline is given to an estimator that is not
// the score function.
void check_samples_and_baseline(const std::string& who, int samples, bool score_function,
                                Baseline baseline);

// What every estimator of a VAE's gradient holds: its configuration (with .samples L and
// .baseline; estimator_name(config) names it) and the control variate of its score-function
// form. input_dim sizes the learned baseline's network (unused by the other baselines).
template <class Config>
class BaselinedEstimator {
 public:
  // Feeds the learning signal of a finished estimate to the moving-average or learned
  // baseline (the next estimate uses it); a no-op for the others.
  void update_baseline(const ad::Tensor& x, const ad::Tensor& learning_signal) {
    baseline_.update(x, learning_signal);
  }
  const Config& config() const { return config_; }
  std::string name() const { return estimator_name(config_); }

 protected:
  BaselinedEstimator(const Config& config, int64_t input_dim, ad::Rng& rng)
      : config_(config), baseline_(config.baseline, config.samples, input_dim, rng) {}

  Config config_;
  ControlVariate baseline_;
};

class EncoderGradientEstimator : public BaselinedEstimator<EstimatorConfig> {
 public:
  // Throws when the configuration makes no sense (a baseline with the reparameterization
  // estimator, leave-one-out with L < 2, L < 1).
  EncoderGradientEstimator(const EstimatorConfig& config, int64_t input_dim, ad::Rng& rng);

  // Draws the L samples for the batch x [n, d] and records the surrogate loss.
  SurrogateLoss surrogate(const LatentModel& model, const ad::Tensor& x, ad::Rng& rng);
};

// ---- comparing estimators ----

// One parameter tensor's gradient estimates over R repeats: per coordinate j the mean
// and the unbiased variance of the R estimates.
struct ParameterStatistics {
  std::string name;
  ad::Shape shape;
  int64_t repeats = 0;
  std::vector<double> mean, variance;

  double mean_abs() const;  // 1/P sum_j |mean_j|
  double stddev() const;    // sqrt(1/P sum_j variance_j): the typical noise of one estimate
  // |E g| / std g for the tensor: sqrt(max(0, 1/P sum_j (mean_j^2 - variance_j / R))) /
  // stddev(); mean_j^2 - variance_j / R removes the noise floor of the R-repeat mean.
  double snr() const;
  // The same ratio with E g taken from another, more precise estimate of the same gradient
  // (e.g. the reparameterization estimator at large L): sqrt(1/P sum_j (m_j^2 - v_j / R))
  // of the reference over this estimator's stddev().
  double snr_against(const ParameterStatistics& reference) const;
};

// Runs the estimator `repeats` times on the same batch x with fresh noise and returns
// the statistics of every encoder parameter's estimate (of grad -ELBO). The decoder's
// parameters are held fixed meanwhile (their gradients are not needed). Baselines are
// not updated (warm them up before: see warm_up_baseline).
std::vector<ParameterStatistics> encoder_gradient_statistics(EncoderGradientEstimator& estimator,
                                                             const LatentModel& model,
                                                             const ad::Tensor& x, int repeats,
                                                             ad::Rng& rng);

// The same for any estimator: `surrogate` records a loss whose gradient is one estimate;
// it runs `repeats` times and the statistics of `params`' gradients are returned, with the
// `fixed` parameters' requires_grad off meanwhile. With `projections`, each estimate g is
// also projected on every direction u (a vector over all of params' coordinates, in order):
// (*projections)[d][r] = u_d . g_r.
std::vector<ParameterStatistics> gradient_statistics(
    const std::vector<nn::NamedTensor>& params, const std::vector<nn::NamedTensor>& fixed,
    int repeats, const std::function<ad::Tensor()>& surrogate,
    const std::vector<std::vector<double>>& directions = {},
    std::vector<std::vector<double>>* projections = nullptr);

// The current gradients of `params` as statistics of one exact value (variance 0,
// repeats 1): a reference for compare_means.
std::vector<ParameterStatistics> exact_statistics(const std::vector<nn::NamedTensor>& params);

// x [n, d] stacked L times, [L n, d]: row l n + i is x_i (the example of sample l of x_i).
ad::Tensor tile_rows(const ad::Tensor& x, int64_t L);

// Fits the moving-average or learned baseline on each of the given batches in turn
// without touching the model (nothing else is recorded).
void warm_up_baseline(EncoderGradientEstimator& estimator, const LatentModel& model,
                      const std::vector<ad::Tensor>& batches, ad::Rng& rng);

// Do two estimators have the same mean? Per coordinate (where either varies),
//   z_j = (mean_j - reference_j) / sqrt(variance_j / R + reference variance_j / R_ref),
// approximately N(0, 1) when both are unbiased for the same gradient.
struct MeanAgreement {
  int64_t coordinates = 0;
  double within_2 = 0, within_3 = 0;  // fractions with |z| < 2 and < 3 (normal: 0.954, 0.997)
  double mean_z2 = 0;                 // 1 when the standard errors are right
};
MeanAgreement compare_means(const std::vector<ParameterStatistics>& estimate,
                            const std::vector<ParameterStatistics>& reference);

// The total variance sum_j variance_j over all tensors (what a baseline must lower).
double total_variance(const std::vector<ParameterStatistics>& stats);

}  // namespace vae
