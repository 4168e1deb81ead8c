// The full-covariance VAE: see full_cov_vae.h.
#include "vae/full_cov_vae.h"

#include "autodiff/ops.h"
#include "autodiff/shape.h"
#include "nn/loss.h"
#include "vae/distributions.h"

namespace vae {

ad::Tensor CholeskyGaussian::rsample_from(const ad::Tensor& eps) const {
  const int64_t n = mu.dim(0), k = dim();
  return mu + ad::reshape(ad::matmul(L, ad::reshape(eps, {n, k, 1})), {n, k});
}

// 1/2 [sum_ij L_ij^2 + |mu|^2 - k] - sum_i log L_ii   (tr(L L^T) = sum_ij L_ij^2,
// log det(L L^T) = 2 sum_i log L_ii)
ad::Tensor CholeskyGaussian::kl_to_standard() const {
  const double k = static_cast<double>(dim());
  return 0.5 * (ad::sum(ad::sum(L * L, -1), -1) + ad::sum(mu * mu, -1) - k) -
         ad::sum(log_diagonal, -1);
}

ad::Tensor CholeskyGaussian::log_prob_from_eps(const ad::Tensor& eps) const {
  // EXERCISE E04.2: log q by the change of variables
  return ad::sum(-0.5 * kLog2Pi - 0.5 * eps * eps, -1) - ad::sum(log_diagonal, -1);
  // END EXERCISE E04.2
}

ad::Tensor CholeskyGaussian::covariance() const { return ad::matmul(L, ad::transpose(L)); }

FullCovVae::FullCovVae(const FullCovVaeConfig& config, ad::Rng& rng) : EncoderDecoder(config) {
  const int64_t k = config.latent_dim;
  if (k < 1 || config.input_dim < 1)
    throw ad::Error("FullCovVae: input_dim and latent_dim must be positive");
  const int64_t strictly_lower = k * (k - 1) / 2;
  // the encoder gives mu, the log-diagonal and the strictly lower entries
  add_mirrored_mlps(config.input_dim, 2 * k + strictly_lower, k, config.input_dim, rng);
  // The strictly lower entries start at 0 (their columns of the last layer zeroed), so the
  // model starts as a diagonal VAE and learns correlations only where they pay.
  auto& last = dynamic_cast<nn::Linear&>(encoder[encoder.size() - 1]);
  for (int64_t row = 0; row < last.in_features; ++row)
    for (int64_t col = 2 * k; col < 2 * k + strictly_lower; ++col)
      last.weight.set_flat(row * last.out_features + col, 0.0);
  // Element (i, j) of L reads entry lower_index_[i k + j] of [l | 0]: the next strictly
  // lower entry (row by row) when i > j, else the zero in the last column.
  int64_t next = 0;
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j) lower_index_.push_back(i > j ? next++ : strictly_lower);
}

CholeskyGaussian FullCovVae::encode(const ad::Tensor& x) {
  const int64_t n = x.dim(0), k = config_.latent_dim, m = k * (k - 1) / 2;
  const ad::Tensor h = encoder(x);
  const ad::Tensor mu = ad::slice(h, 1, 0, k), d = ad::slice(h, 1, k, 2 * k);
  std::vector<double> eye(static_cast<size_t>(k * k), 0.0);
  for (int64_t i = 0; i < k; ++i) eye[i * k + i] = 1.0;
  // diag(exp(d)): [n, k, 1] * I [k, k] -> [n, k, k]
  ad::Tensor L = ad::reshape(ad::exp(d), {n, k, 1}) * ad::Tensor::from(eye, {k, k}, x.dtype());
  if (m > 0) {
    const ad::Tensor padded =
        ad::concat({ad::slice(h, 1, 2 * k, 2 * k + m), ad::Tensor::zeros({n, 1}, x.dtype())}, 1);
    L = L + ad::reshape(ad::gather(padded, 1, lower_index_), {n, k, k});
  }
  return {mu, L, d};
}

ad::Tensor FullCovVae::decode_mean(const ad::Tensor& z) { return ad::sigmoid(decode(z)); }

ad::Tensor FullCovVae::negative_log_likelihood(const ad::Tensor& logits,
                                              const ad::Tensor& x) const {
  return nn::bce_with_logits_row_sums(logits, x);
}

}  // namespace vae
