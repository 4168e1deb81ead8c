#include "vae/models.h"

#include <string>

#include "autodiff/ops.h"
#include "autodiff/shape.h"
#include "autodiff/tape.h"
#include "nn/loss.h"

namespace vae {

Vae::Vae(const VaeConfig& config, ad::Rng& rng) : config_(config) {
  if (config.latent_dim < 1 || config.input_dim < 1)
    throw ad::Error("Vae: input_dim and latent_dim must be positive");
  // encoder: input -> hidden... -> 2 * latent (mu and logvar side by side)
  std::vector<int64_t> widths = {config.input_dim};
  widths.insert(widths.end(), config.hidden.begin(), config.hidden.end());
  widths.push_back(2 * config.latent_dim);
  nn::add_mlp(encoder, widths, rng, config.dtype);
  // decoder: the same widths reversed, from the latent code back to the input
  widths = {config.latent_dim};
  widths.insert(widths.end(), config.hidden.rbegin(), config.hidden.rend());
  widths.push_back(config.input_dim);
  nn::add_mlp(decoder, widths, rng, config.dtype);
  register_module("encoder", encoder);
  register_module("decoder", decoder);
}

// [mu, logvar] = E_phi(x): the first latent_dim columns are mu, the rest logvar.
DiagGaussian Vae::encode(const ad::Tensor& x) {
  ad::Tensor h = encoder(x);
  const int64_t k = config_.latent_dim;
  return {ad::slice(h, 1, 0, k), ad::slice(h, 1, k, 2 * k)};
}

ad::Tensor Vae::decode(const ad::Tensor& z) { return decoder(z); }

ad::Tensor Vae::decode_mean(const ad::Tensor& z) {
  ad::Tensor out = decode(z);
  return config_.likelihood == Likelihood::bernoulli ? ad::sigmoid(out) : out;
}

// Bernoulli: -sum_i [x_i log theta_i + (1 - x_i) log(1 - theta_i)], theta = sigmoid(l).
// Gaussian:  sum_i [(x_i - mu_theta,i)^2 / (2 sigma^2) + log sigma + log(2 pi) / 2].
ad::Tensor Vae::negative_log_likelihood(const ad::Tensor& decoded, const ad::Tensor& x) const {
  if (config_.likelihood == Likelihood::bernoulli) return nn::bce_with_logits_row_sums(decoded, x);
  return ad::sum(nn::gaussian_nll(decoded, x, config_.sigma, nn::Reduction::none), -1);
}

ad::Tensor Vae::reconstruct(const ad::Tensor& x) { return decode_mean(encode(x).mu); }

ad::Tensor Vae::sample(int64_t n, ad::Rng& rng) {
  ad::Tensor z = rng.normal({n, config_.latent_dim}, config_.dtype);  // z ~ p(z) = N(0, I)
  return decode_mean(z);
}

ElboTerms Vae::elbo(const ad::Tensor& x, ad::Rng& rng, int L, double beta) {
  if (L < 1) throw ad::Error("Vae::elbo: L must be at least 1");
  std::vector<ad::Tensor> eps;
  for (int l = 0; l < L; ++l) eps.push_back(rng.normal({x.dim(0), config_.latent_dim}, x.dtype()));
  return elbo_from_eps(x, eps, beta);
}

ElboTerms Vae::elbo_from_eps(const ad::Tensor& x, const std::vector<ad::Tensor>& eps, double beta) {
  if (eps.empty()) throw ad::Error("Vae::elbo_from_eps: no noise given");
  return negative_elbo(
      encode(x), [&](const ad::Tensor& z) { return negative_log_likelihood(decode(z), x); }, eps,
      beta);
}

void PerExampleElbo::append(const ad::Tensor& nll, const ad::Tensor& kl_to_prior) {
  const std::vector<double> r = nll.to_vector(), k = kl_to_prior.to_vector();
  if (r.size() != k.size())
    throw ad::Error("PerExampleElbo::append: " + std::to_string(r.size()) +
                    " reconstruction terms but " + std::to_string(k.size()) + " KL terms");
  for (size_t i = 0; i < r.size(); ++i) {
    reconstruction.push_back(r[i]);
    kl.push_back(k[i]);
    loss.push_back(r[i] + k[i]);
  }
}

ElboTerms negative_elbo(const DiagGaussian& q, const NegativeLogLikelihood& nll,
                        const std::vector<ad::Tensor>& eps, double beta) {
  if (eps.empty()) throw ad::Error("negative_elbo: no noise given");
  // EXERCISE E04.5: the negative ELBO with the analytic KL
  const double batch = static_cast<double>(q.mu.dim(0));
  const double L = static_cast<double>(eps.size());
  ad::Tensor reconstruction;
  for (const ad::Tensor& e : eps) {
    ad::Tensor z = q.rsample_from(e);    // z^[l] = mu + exp(logvar / 2) * eps^[l]
    ad::Tensor total = ad::sum(nll(z));  // -log p_theta(x | z^[l]), summed over the batch
    reconstruction = reconstruction.defined() ? reconstruction + total : total;
  }
  reconstruction = reconstruction / (L * batch);        // 1/L sum_l, mean over the batch
  ad::Tensor kl = ad::sum(q.kl_to_standard()) / batch;  // 1/2 sum_k (...), mean over the batch
  return {reconstruction + kl * beta, reconstruction, kl};
  // END EXERCISE E04.5
}

}  // namespace vae
