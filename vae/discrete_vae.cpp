// The discrete-latent VAE and its two gradient estimators: see discrete_vae.h.
#include "vae/discrete_vae.h"

#include <fmt/format.h>

#include <cmath>

#include "autodiff/ops.h"
#include "autodiff/shape.h"
#include "autodiff/tape.h"
#include "nn/loss.h"

namespace vae {

DiscreteVae::DiscreteVae(const DiscreteVaeConfig& config, ad::Rng& rng) : EncoderDecoder(config) {
  if (config.variables < 1 || config.classes < 2 || config.input_dim < 1)
    throw ad::Error("DiscreteVae: need input_dim >= 1, variables >= 1 and classes >= 2");
  add_mirrored_mlps(config.input_dim, code_size(), code_size(), config.input_dim, rng);
}

ad::Tensor DiscreteVae::encode(const ad::Tensor& x) {
  const ad::Tensor a = ad::reshape(encoder(x), {x.dim(0), config_.variables, config_.classes});
  return ad::log_softmax(a, -1);
}

ad::Tensor DiscreteVae::decode_mean(const ad::Tensor& z) { return ad::sigmoid(decode(z)); }

// -log p(x|z) = -sum_i [x_i l_i - softplus(l_i)] = bce_with_logits(l, x), l = decoder(z)
ad::Tensor DiscreteVae::negative_log_likelihood(const ad::Tensor& logits,
                                                const ad::Tensor& x) const {
  return nn::bce_with_logits_row_sums(logits, x);
}

// KL(q || uniform) = sum_k sum_c q_kc (log q_kc - log(1/C)) = sum q log q + K log C
ad::Tensor DiscreteVae::kl_to_uniform(const ad::Tensor& log_q) const {
  const double k_log_c =
      static_cast<double>(config_.variables) * std::log(static_cast<double>(config_.classes));
  return ad::sum(ad::sum(ad::exp(log_q) * log_q, -1), -1) + k_log_c;
}

ad::Tensor DiscreteVae::sample(const ad::Tensor& log_q, int64_t L, ad::Rng& rng) const {
  const int64_t n = log_q.dim(0), K = config_.variables, C = config_.classes;
  const std::vector<double> lq = log_q.to_vector();
  std::vector<double> z(static_cast<size_t>(L * n * K * C), 0.0);
  for (int64_t l = 0; l < L; ++l)
    for (int64_t row = 0; row < n * K; ++row) {  // one categorical variable per row
      const double u = rng.uniform();
      double cumulative = 0;
      int64_t c = 0;
      for (; c < C - 1; ++c) {  // the first class whose cumulative probability passes u
        cumulative += std::exp(lq[row * C + c]);
        if (u < cumulative) break;
      }
      z[(l * n * K + row) * C + c] = 1.0;
    }
  return ad::Tensor::from(z, {L, n, K, C}, log_q.dtype());
}

ad::Tensor DiscreteVae::relaxed_sample(const ad::Tensor& log_q, int64_t L, double tau,
                                       ad::Rng& rng) const {
  if (!(tau > 0)) throw ad::Error("DiscreteVae::relaxed_sample: tau must be > 0");
  // EXERCISE E05.5: the Gumbel-softmax sample
  const int64_t n = log_q.dim(0), K = config_.variables, C = config_.classes;
  std::vector<double> g(static_cast<size_t>(L * n * K * C));
  for (double& v : g) {
    double u;
    do u = rng.uniform();
    while (u <= 0.0);             // u in (0, 1): g finite
    v = -std::log(-std::log(u));  // Gumbel(0, 1)
  }
  const ad::Tensor gumbel = ad::Tensor::from(g, {L, n, K, C}, log_q.dtype());
  return ad::exp(ad::log_softmax((log_q + gumbel) / tau, -1));
  // END EXERCISE E05.5
}

ad::Tensor all_codes(int64_t variables, int64_t classes, ad::DType dtype) {
  int64_t count = 1;
  for (int64_t k = 0; k < variables; ++k) count *= classes;
  std::vector<double> codes(static_cast<size_t>(count * variables * classes), 0.0);
  for (int64_t m = 0; m < count; ++m) {
    int64_t rest = m;
    for (int64_t k = variables - 1; k >= 0; --k) {  // the last variable varies fastest
      codes[(m * variables + k) * classes + rest % classes] = 1.0;
      rest /= classes;
    }
  }
  return ad::Tensor::from(codes, {count, variables * classes}, dtype);
}

// ELBO(x) = sum_m q(z_m|x) log p(x|z_m) - KL(q || p), over every code z_m:
//   log p(x_i|z_m) = sum_j x_ij l_mj - softplus(l_mj)  ->  x l^T - sum_j softplus(l_mj)
//   log q(z_m|x_i) = sum_k log q_{k, c_mk}             ->  log q (flattened) codes^T
ad::Tensor DiscreteVae::exact_negative_elbo(const ad::Tensor& x) {
  const double count =
      std::pow(static_cast<double>(config_.classes), static_cast<double>(config_.variables));
  if (count > 4096)
    throw ad::Error(fmt::format(
        "DiscreteVae::exact_negative_elbo: {}^{} codes are too many to enumerate (at most 4096)",
        config_.classes, config_.variables));
  const ad::Tensor codes = all_codes(config_.variables, config_.classes, x.dtype());
  const ad::Tensor logits = decoder(codes);  // [M, d]
  const ad::Tensor log_lik =
      ad::matmul(x, ad::transpose(logits)) - ad::sum(ad::softplus(logits), -1);  // [n, M]
  const ad::Tensor log_q = encode(x);
  const ad::Tensor log_q_codes =
      ad::matmul(ad::reshape(log_q, {x.dim(0), code_size()}), ad::transpose(codes));  // [n, M]
  const ad::Tensor elbo = ad::sum(ad::exp(log_q_codes) * log_lik, -1) - kl_to_uniform(log_q);
  return -ad::mean(elbo);
}

double DiscreteVae::negative_elbo(const ad::Tensor& x, int64_t L, ad::Rng& rng) {
  ad::NoGrad plain;
  const ad::Tensor log_q = encode(x);
  const ad::Tensor z = ad::reshape(sample(log_q, L, rng), {L * x.dim(0), code_size()});
  return ad::mean(kl_to_uniform(log_q)).item() -
         ad::mean(-vae::negative_log_likelihood(*this, tile_rows(x, L), z)).item();
}

// ---------------------------------------------------------------- estimators

std::string estimator_name(const DiscreteEstimatorConfig& config) {
  if (config.estimator == DiscreteEstimator::gumbel_softmax)
    return fmt::format("gumbel tau={:g}", config.temperature);
  return estimator_name(
      {Estimator::score_function, KlTerm::analytic, config.baseline, config.samples});
}

namespace {
const DiscreteEstimatorConfig& checked(const DiscreteEstimatorConfig& config) {
  check_samples_and_baseline("DiscreteGradientEstimator", config.samples,
                             config.estimator == DiscreteEstimator::score_function,
                             config.baseline);
  if (!(config.temperature > 0))
    throw ad::Error("DiscreteGradientEstimator: the temperature must be > 0");
  return config;
}
}  // namespace

DiscreteGradientEstimator::DiscreteGradientEstimator(const DiscreteEstimatorConfig& config,
                                                     int64_t input_dim, ad::Rng& rng)
    : BaselinedEstimator(checked(config), input_dim, rng) {}

SurrogateLoss DiscreteGradientEstimator::surrogate(DiscreteVae& model, const ad::Tensor& x,
                                                   ad::Rng& rng) {
  const int64_t L = config_.samples, n = x.dim(0);
  const ad::Tensor log_q = model.encode(x);                    // [n, K, C]
  const ad::Tensor kl = ad::mean(model.kl_to_uniform(log_q));  // analytic
  const bool relaxed = config_.estimator == DiscreteEstimator::gumbel_softmax;
  // z: one-hot constants (score function) or relaxed points on the tape (Gumbel-softmax)
  const ad::Tensor z = relaxed ? model.relaxed_sample(log_q, L, config_.temperature, rng)
                               : model.sample(log_q, L, rng);
  const ad::Tensor log_lik = ad::reshape(
      -negative_log_likelihood(model, tile_rows(x, L), ad::reshape(z, {L * n, model.code_size()})),
      {L, n});
  SurrogateLoss out;
  out.learning_signal = log_lik.detach();
  if (relaxed) {
    out.loss = kl - ad::mean(log_lik);
  } else {
    const ad::Tensor log_q_z = ad::sum(ad::sum(z * log_q, -1), -1);  // log q_phi(z|x), [L, n]
    out.loss = score_function_loss(kl, log_q_z, log_lik, out.learning_signal, baseline_, x);
  }
  out.negative_elbo = kl.item() - ad::mean(out.learning_signal).item();
  return out;
}

}  // namespace vae
