// Encoder-gradient estimators of the ELBO and their statistics: see encoder_gradients.h.
#include "vae/encoder_gradients.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autodiff/ops.h"
#include "autodiff/shape.h"
#include "autodiff/tape.h"

namespace vae {

namespace {

// log N(z; 0, I) = sum_i (-1/2 log(2 pi) - 1/2 z_i^2), over the last axis.
ad::Tensor standard_normal_log_prob(const ad::Tensor& z) {
  return ad::sum(-0.5 * kLog2Pi - 0.5 * z * z, -1);
}

// log p_theta(x | z^[l]) of every sample: z [L, n, k] -> [L, n], one decoder pass.
ad::Tensor log_likelihood_of_samples(const LatentModel& model, const ad::Tensor& x,
                                     const ad::Tensor& z) {
  const int64_t L = z.dim(0), n = z.dim(1), k = z.dim(2);
  ad::Tensor per_row = model.log_likelihood(tile_rows(x, L), ad::reshape(z, {L * n, k}));
  return ad::reshape(per_row, {L, n});
}

// Sets requires_grad off on some parameters while it lives, then restores it.
class FrozenParameters {
 public:
  explicit FrozenParameters(const std::vector<nn::NamedTensor>& params) : params_(params) {
    for (nn::NamedTensor& p : params_) {
      was_.push_back(p.tensor.requires_grad());
      p.tensor.requires_grad_(false);
    }
  }
  ~FrozenParameters() {
    for (size_t i = 0; i < params_.size(); ++i) params_[i].tensor.requires_grad_(was_[i]);
  }
  FrozenParameters(const FrozenParameters&) = delete;
  FrozenParameters& operator=(const FrozenParameters&) = delete;

 private:
  std::vector<nn::NamedTensor> params_;
  std::vector<bool> was_;
};

}  // namespace

std::vector<nn::NamedTensor> prefixed(const std::vector<nn::NamedTensor>& params,
                                      const std::string& prefix) {
  std::vector<nn::NamedTensor> out;
  for (const nn::NamedTensor& p : params) out.push_back({prefix + p.name, p.tensor});
  return out;
}

ad::Tensor tile_rows(const ad::Tensor& x, int64_t L) {
  return L == 1 ? x : ad::concat(std::vector<ad::Tensor>(L, x), 0);
}

std::string estimator_name(const EstimatorConfig& config) {
  std::string name =
      config.estimator == Estimator::reparameterization ? "reparam" : "score";
  if (config.kl == KlTerm::monte_carlo) name += "-mc-kl";
  switch (config.baseline) {
    case Baseline::none: break;
    case Baseline::moving_average: name += "+average"; break;
    case Baseline::learned: name += "+learned"; break;
    case Baseline::leave_one_out: name += "+rloo"; break;
  }
  return name;
}

// ---------------------------------------------------------------- baselines

void MovingAverage::update(double x) {
  // EXERCISE E05.2: the moving-average baseline
  value_ = started_ ? decay_ * value_ + (1 - decay_) * x : x;
  // END EXERCISE E05.2
  started_ = true;
}

LearnedBaseline::LearnedBaseline(int64_t input_dim, int64_t hidden, ad::Rng& rng,
                                 ad::DType dtype) {
  nn::add_mlp(net, {input_dim, hidden, 1}, rng, dtype);
  register_module("net", net);
  // A large step: the residuals are tens of nats while the output starts near 0.
  adam_ = std::make_unique<nn::Adam>(named_parameters(), nn::AdamOptions{.lr = 3e-3});
}

ad::Tensor LearnedBaseline::predict(const ad::Tensor& x) {
  ad::NoGrad constant;
  return ad::reshape(net(x), {x.dim(0)}) + average.value();
}

double LearnedBaseline::fit(const ad::Tensor& x, const ad::Tensor& f) {
  ad::Tensor target;
  {
    ad::NoGrad constant;
    average.update(ad::mean(f).item());
    target = ad::mean(f, 0) - average.value();  // the residual f - c, mean over the L samples
  }
  adam_->zero_grad();
  ad::Tensor error = ad::mean(ad::pow(ad::reshape(net(x), {x.dim(0)}) - target, 2));
  const double value = error.item();
  ad::backward(error);
  adam_->step();
  return value;
}

// ---------------------------------------------------------------- the estimators

ControlVariate::ControlVariate(Baseline kind, int samples, int64_t input_dim, ad::Rng& rng)
    : kind_(kind) {
  if (kind == Baseline::leave_one_out && samples < 2)
    throw ad::Error(fmt::format(
        "ControlVariate: the leave-one-out baseline needs L >= 2 samples, got {}", samples));
  if (kind == Baseline::learned)
    learned_ = std::make_unique<LearnedBaseline>(input_dim, 64, rng, ad::f32);
}

ad::Tensor ControlVariate::values(const ad::Tensor& x, const ad::Tensor& f) {
  ad::NoGrad constant;
  switch (kind_) {
    case Baseline::none: return ad::Tensor::zeros(f.shape(), f.dtype());
    case Baseline::moving_average:
      return ad::Tensor::full(f.shape(), average_.value(), f.dtype());
    case Baseline::learned:
      return ad::broadcast_to(learned_->predict(x.to(ad::f32)).to(f.dtype()), f.shape());
    case Baseline::leave_one_out: {  // b^[l] = (sum_j f^[j] - f^[l]) / (L - 1)
      // EXERCISE E05.3: the leave-one-out baseline (RLOO)
      const double L = static_cast<double>(f.dim(0));
      return (ad::sum(f, 0, true) - f) / (L - 1);
      // END EXERCISE E05.3
    }
  }
  return {};
}

void ControlVariate::update(const ad::Tensor& x, const ad::Tensor& f) {
  if (kind_ == Baseline::moving_average) {
    ad::NoGrad constant;
    average_.update(ad::mean(f).item());
  } else if (kind_ == Baseline::learned) {
    learned_->fit(x.to(ad::f32), f.to(ad::f32));
  }
}

// grad: -1/(L n) sum (f - b) grad_phi log q  - 1/(L n) sum grad_theta log p(x|z)  (+ grad KL)
ad::Tensor score_function_loss(const ad::Tensor& kl, const ad::Tensor& log_q_z,
                               const ad::Tensor& log_likelihood, const ad::Tensor& learning_signal,
                               ControlVariate& baseline, const ad::Tensor& x) {
  // EXERCISE E05.1: the score-function estimator
  const ad::Tensor weight = learning_signal - baseline.values(x, learning_signal);
  return kl - ad::mean(weight * log_q_z) - ad::mean(log_likelihood);
  // END EXERCISE E05.1
}

void check_samples_and_baseline(const std::string& who, int samples, bool score_function,
                                Baseline baseline) {
  if (samples < 1) throw ad::Error(who + ": L (samples) must be at least 1");
  if (!score_function && baseline != Baseline::none)
    throw ad::Error(who + ": a baseline belongs to the score-function estimator");
}

namespace {
const EstimatorConfig& checked(const EstimatorConfig& config) {
  check_samples_and_baseline("EncoderGradientEstimator", config.samples,
                             config.estimator == Estimator::score_function, config.baseline);
  return config;
}
}  // namespace

EncoderGradientEstimator::EncoderGradientEstimator(const EstimatorConfig& config,
                                                   int64_t input_dim, ad::Rng& rng)
    : BaselinedEstimator(checked(config), input_dim, rng) {}

SurrogateLoss EncoderGradientEstimator::surrogate(const LatentModel& model, const ad::Tensor& x,
                                                  ad::Rng& rng) {
  if (x.rank() != 2)
    throw ad::Error(fmt::format(
        "EncoderGradientEstimator::surrogate: x must be [batch, d], got {}", ad::to_string(x.shape())));
  const int64_t L = config_.samples, n = x.dim(0);
  const bool analytic = config_.kl == KlTerm::analytic;
  const DiagGaussian q = model.encode(x);
  const ad::Tensor eps = rng.normal({L, n, q.mu.dim(1)}, q.mu.dtype());
  // KL(q_phi(z|x) || N(0, I)) in closed form, mean over the batch (only when it is used).
  const ad::Tensor kl = analytic ? ad::sum(q.kl_to_standard()) / static_cast<double>(n)
                                 : ad::Tensor::scalar(0.0, q.mu.dtype());
  SurrogateLoss out;
  // excerpt: encoder_surrogate
  if (config_.estimator == Estimator::reparameterization) {
    const ad::Tensor z = q.rsample_from(eps);  // z = mu + sigma eps on the tape: a path to phi
    ad::Tensor f = log_likelihood_of_samples(model, x, z);
    // EXERCISE E04.6: the negative ELBO with a Monte Carlo KL
    if (!analytic) f = f + standard_normal_log_prob(z) - q.log_prob(z);
    // END EXERCISE E04.6
    out.loss = kl - ad::mean(f);  // -1/(L n) sum f (+ KL): its gradient is the estimate
    out.learning_signal = f.detach();
  } else {
    ad::Tensor z;
    {
      ad::NoGrad constant;  // z ~ q_phi with no path to phi
      z = q.rsample_from(eps);
    }
    const ad::Tensor log_q = q.log_prob(z);                             // [L, n], recorded
    const ad::Tensor log_lik = log_likelihood_of_samples(model, x, z);  // theta only
    {
      ad::NoGrad constant;
      out.learning_signal = analytic ? log_lik.detach()
                                     : log_lik + standard_normal_log_prob(z) - log_q;
    }
    out.loss = score_function_loss(kl, log_q, log_lik, out.learning_signal, baseline_, x);
  }
  out.negative_elbo = kl.item() - ad::mean(out.learning_signal).item();
  // end excerpt: encoder_surrogate
  return out;
}

// ---------------------------------------------------------------- statistics

double ParameterStatistics::mean_abs() const {
  double s = 0;
  for (double m : mean) s += std::abs(m);
  return s / static_cast<double>(mean.size());
}

double ParameterStatistics::stddev() const {
  double s = 0;
  for (double v : variance) s += v;
  return std::sqrt(s / static_cast<double>(variance.size()));
}

namespace {
// sqrt(1/P sum_j (m_j^2 - v_j / R)): the root mean square of E g without the noise floor.
double signal_rms(const ParameterStatistics& s) {
  double signal = 0;
  for (size_t j = 0; j < s.mean.size(); ++j)
    signal += s.mean[j] * s.mean[j] - s.variance[j] / static_cast<double>(s.repeats);
  return std::sqrt(std::max(signal, 0.0) / static_cast<double>(s.mean.size()));
}

// projected[d] += <g, the coordinates of directions[d] from `offset` on>, for every d. Four
// directions share each pass over g: each of the four sums still adds its terms in order
// (the bits of std::inner_product), but they advance side by side: a single sum waits for its
// own last addition at every term, four sums keep the adder busy.
void add_projections(const std::vector<double>& g,
                     const std::vector<std::vector<double>>& directions, size_t offset,
                     std::vector<double>& projected) {
  constexpr size_t group = 4;
  size_t d = 0;
  for (; d + group <= directions.size(); d += group) {
    const double* u[group];
    double sum[group] = {};
    for (size_t k = 0; k < group; ++k) u[k] = directions[d + k].data() + offset;
    for (size_t j = 0; j < g.size(); ++j)
#pragma GCC unroll 4
      for (size_t k = 0; k < group; ++k) sum[k] += g[j] * u[k][j];
    for (size_t k = 0; k < group; ++k) projected[d + k] += sum[k];
  }
  for (; d < directions.size(); ++d)  // the last few, one at a time
    projected[d] += std::inner_product(g.begin(), g.end(), directions[d].begin() + offset, 0.0);
}
}  // namespace

double ParameterStatistics::snr() const { return snr_against(*this); }

double ParameterStatistics::snr_against(const ParameterStatistics& reference) const {
  if (reference.mean.size() != mean.size())
    throw ad::Error("ParameterStatistics::snr_against: " + reference.name +
                                " differs in size from " + name);
  const double noise = stddev();
  return noise == 0 ? 0.0 : signal_rms(reference) / noise;
}

std::vector<ParameterStatistics> gradient_statistics(
    const std::vector<nn::NamedTensor>& params, const std::vector<nn::NamedTensor>& fixed,
    int repeats, const std::function<ad::Tensor()>& surrogate,
    const std::vector<std::vector<double>>& directions,
    std::vector<std::vector<double>>* projections) {
  if (repeats < 2) throw ad::Error("gradient_statistics: need at least 2 repeats");
  if (!directions.empty() && projections == nullptr)
    throw ad::Error("gradient_statistics: directions given but nowhere to project");
  if (projections) projections->assign(directions.size(), {});
  int64_t coordinates = 0;
  for (const nn::NamedTensor& p : params) coordinates += p.tensor.numel();
  for (const std::vector<double>& u : directions)
    if (static_cast<int64_t>(u.size()) != coordinates)
      throw ad::Error(fmt::format(
          "gradient_statistics: a direction has {} coordinates, the parameters {}", u.size(),
          coordinates));
  FrozenParameters frozen(fixed);
  std::vector<ParameterStatistics> stats;
  for (const nn::NamedTensor& p : params) {
    const size_t size = static_cast<size_t>(p.tensor.numel());
    stats.push_back({p.name, p.tensor.shape(), repeats, std::vector<double>(size, 0.0),
                     std::vector<double>(size, 0.0)});
  }
  for (int r = 0; r < repeats; ++r) {
    for (nn::NamedTensor p : params) p.tensor.zero_grad();
    ad::backward(surrogate());
    // Welford's update per coordinate; `variance` holds the sum of squares until the end.
    std::vector<double> projected(directions.size(), 0.0);
    size_t offset = 0;  // of this tensor's first coordinate in a direction vector
    for (size_t t = 0; t < stats.size(); ++t) {
      const ad::Tensor grad = params[t].tensor.grad();
      const std::vector<double> g =
          grad.defined() ? grad.to_vector() : std::vector<double>(stats[t].mean.size(), 0.0);
      for (size_t j = 0; j < g.size(); ++j) {
        const double delta = g[j] - stats[t].mean[j];
        stats[t].mean[j] += delta / (r + 1);
        stats[t].variance[j] += delta * (g[j] - stats[t].mean[j]);
      }
      add_projections(g, directions, offset, projected);
      offset += g.size();
    }
    for (size_t d = 0; d < directions.size(); ++d) (*projections)[d].push_back(projected[d]);
  }
  for (ParameterStatistics& s : stats)
    for (double& v : s.variance) v /= repeats - 1;
  for (nn::NamedTensor p : params) p.tensor.zero_grad();
  return stats;
}

std::vector<ParameterStatistics> encoder_gradient_statistics(EncoderGradientEstimator& estimator,
                                                             const LatentModel& model,
                                                             const ad::Tensor& x, int repeats,
                                                             ad::Rng& rng) {
  return gradient_statistics(model.encoder_parameters, model.decoder_parameters, repeats,
                             [&] { return estimator.surrogate(model, x, rng).loss; });
}

std::vector<ParameterStatistics> exact_statistics(const std::vector<nn::NamedTensor>& params) {
  std::vector<ParameterStatistics> stats;
  for (const nn::NamedTensor& p : params) {
    const ad::Tensor grad = p.tensor.grad();
    std::vector<double> g =
        grad.defined() ? grad.to_vector() : std::vector<double>(p.tensor.numel(), 0.0);
    stats.push_back({p.name, p.tensor.shape(), 1, g, std::vector<double>(g.size(), 0.0)});
  }
  return stats;
}

void warm_up_baseline(EncoderGradientEstimator& estimator, const LatentModel& model,
                      const std::vector<ad::Tensor>& batches, ad::Rng& rng) {
  const Baseline kind = estimator.config().baseline;
  if (kind != Baseline::moving_average && kind != Baseline::learned) return;  // nothing to fit
  for (const ad::Tensor& x : batches) {
    ad::Tensor signal;
    {
      ad::NoGrad constant;
      signal = estimator.surrogate(model, x, rng).learning_signal;
    }
    estimator.update_baseline(x, signal);
  }
}

MeanAgreement compare_means(const std::vector<ParameterStatistics>& estimate,
                            const std::vector<ParameterStatistics>& reference) {
  if (estimate.size() != reference.size())
    throw ad::Error("compare_means: the two lists hold different tensors");
  MeanAgreement a;
  int64_t within_2 = 0, within_3 = 0;
  double z2 = 0;
  for (size_t t = 0; t < estimate.size(); ++t) {
    const ParameterStatistics &e = estimate[t], &r = reference[t];
    if (e.mean.size() != r.mean.size())
      throw ad::Error("compare_means: " + e.name + " differs in size from " + r.name);
    for (size_t j = 0; j < e.mean.size(); ++j) {
      const double var = e.variance[j] / e.repeats + r.variance[j] / r.repeats;
      if (var <= 0) continue;  // a coordinate no estimate moves (e.g. a dead unit)
      const double z = (e.mean[j] - r.mean[j]) / std::sqrt(var);
      ++a.coordinates;
      within_2 += std::abs(z) < 2;
      within_3 += std::abs(z) < 3;
      z2 += z * z;
    }
  }
  if (a.coordinates > 0) {
    const double n = static_cast<double>(a.coordinates);
    a.within_2 = within_2 / n;
    a.within_3 = within_3 / n;
    a.mean_z2 = z2 / n;
  }
  return a;
}

double total_variance(const std::vector<ParameterStatistics>& stats) {
  double total = 0;
  for (const ParameterStatistics& s : stats)
    for (double v : s.variance) total += v;
  return total;
}

}  // namespace vae
