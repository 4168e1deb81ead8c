// A VAE with a discrete latent code: K independent categorical variables of C classes.
// Reparameterization needs z = g_phi(eps) differentiable in phi (notes 003, Theorem 1.2);
// a class index is not, so the encoder's gradient must come from the score function, or
// from a continuous relaxation that changes the objective (L25, tutorial 12).
//
//   q_phi(z|x)   = prod_k Cat(z_k; softmax(a_k)),   a = encoder_phi(x), [n, K, C]
//   p(z)         = prod_k Cat(z_k; 1/C)              (uniform prior)
//   p_theta(x|z) = Bernoulli(sigmoid(decoder_theta(onehot(z))))   (z flattened to K C)
//   KL(q || p)   = sum_k sum_c q_kc log q_kc + K log C            (closed form)
//
// Gumbel-softmax (concrete) relaxation at temperature tau: with g_kc = -log(-log u_kc),
//   y_k = softmax((log q_k + g_k) / tau)
// a point of the simplex, differentiable in phi; as tau -> 0, y_k tends to the one-hot of
// argmax_c (log q_kc + g_kc), which is distributed as Cat(q_k) (the Gumbel-max trick). The
// decoder is fed y instead of a one-hot code, so the relaxed objective
//   E_g[log p_theta(x | y)] - KL(q || p)
// is not the ELBO, and its gradient is a biased estimate of the ELBO's.
//
// The model is a LatentVariableModel (vae/latent_model.h) but not a reparameterized one:
// the shared -ELBO and IWAE bound need z = g_phi(eps), so its -ELBO is written here, as a
// sum over the codes or with hard samples.
//
// For small C^K the ELBO is a finite sum over every code, so its exact gradient follows
// from the tape (exact_negative_elbo).
//
//   vae::DiscreteVae model({.variables = 20, .classes = 10}, rng);
//   vae::DiscreteGradientEstimator gs({.estimator = vae::DiscreteEstimator::gumbel_softmax,
//                                      .temperature = 0.5}, 784, rng);
//   ad::backward(gs.surrogate(model, x, rng).loss);
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/rng.h"
#include "autodiff/tensor.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "vae/encoder_decoder.h"
#include "vae/encoder_gradients.h"

namespace vae {

struct DiscreteVaeConfig {
  int64_t input_dim = 784;
  std::vector<int64_t> hidden = {256, 64};  // encoder widths; the decoder mirrors them
  int64_t variables = 20;                   // K
  int64_t classes = 10;                     // C
  ad::DType dtype = ad::f32;
};

class DiscreteVae : public EncoderDecoder<DiscreteVaeConfig> {
 public:
  DiscreteVae(const DiscreteVaeConfig& config, ad::Rng& rng);

  // log q_phi(z_k = c | x): log_softmax of the encoder's output, [n, K, C], recorded.
  ad::Tensor encode(const ad::Tensor& x);
  // The logits l of p_theta(x|z) for codes z [n, K C] (one-hot or relaxed), [n, d].
  ad::Tensor decode(const ad::Tensor& z) { return decoder(z); }
  // E[x|z] = sigmoid(l).
  ad::Tensor decode_mean(const ad::Tensor& z);
  // -log p_theta(x|z) of each row from the logits, [n].
  ad::Tensor negative_log_likelihood(const ad::Tensor& logits, const ad::Tensor& x) const;
  // KL(q || uniform) of each row from log q [n, K, C], [n], recorded.
  ad::Tensor kl_to_uniform(const ad::Tensor& log_q) const;
  // L one-hot codes z ~ q per row, [L, n, K, C], constants (inverse CDF per variable).
  ad::Tensor sample(const ad::Tensor& log_q, int64_t L, ad::Rng& rng) const;
  // L Gumbel-softmax samples per row at temperature tau, [L, n, K, C], recorded.
  ad::Tensor relaxed_sample(const ad::Tensor& log_q, int64_t L, double tau, ad::Rng& rng) const;
  // -ELBO, mean over the batch, exactly: the sum over all C^K codes (recorded).
  // Throws when C^K exceeds 4096.
  ad::Tensor exact_negative_elbo(const ad::Tensor& x);
  // -ELBO, mean over the batch, with L hard samples per row and the analytic KL; not recorded.
  double negative_elbo(const ad::Tensor& x, int64_t L, ad::Rng& rng);

  int64_t code_size() const { return config_.variables * config_.classes; }  // K C
  int64_t latent_dim() const { return code_size(); }  // z is K one-hot blocks of C
};

// Every code of K variables with C classes as one-hot rows, [C^K, K C]; row m has class
// (m / C^(K-1-k)) mod C in variable k.
ad::Tensor all_codes(int64_t variables, int64_t classes, ad::DType dtype);

enum class DiscreteEstimator { score_function, gumbel_softmax };

struct DiscreteEstimatorConfig {
  DiscreteEstimator estimator = DiscreteEstimator::score_function;
  Baseline baseline = Baseline::none;  // the score function's control variate
  int samples = 1;                     // L
  double temperature = 1.0;            // tau of the relaxation
};
// "score", "score+rloo", "gumbel tau=0.5", ...
std::string estimator_name(const DiscreteEstimatorConfig& config);

// grad_phi of -ELBO for the discrete VAE (the decoder's gradient comes along):
//   score function: KL analytic, learning signal f = log p_theta(x|z), z one-hot ~ q;
//     loss = KL - 1/(L n) sum (f - b) log q_phi(z|x) - 1/(L n) sum log p_theta(x|z)
//   Gumbel-softmax: loss = KL - 1/(L n) sum log p_theta(x | y), y relaxed on the tape.
class DiscreteGradientEstimator : public BaselinedEstimator<DiscreteEstimatorConfig> {
 public:
  DiscreteGradientEstimator(const DiscreteEstimatorConfig& config, int64_t input_dim,
                            ad::Rng& rng);
  SurrogateLoss surrogate(DiscreteVae& model, const ad::Tensor& x, ad::Rng& rng);
};

}  // namespace vae
