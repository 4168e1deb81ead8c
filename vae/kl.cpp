// KL divergences (see kl.h). The Gaussian formulas are the closed form proved on the
// slides of note 000; the proof is checked step by step in tutorial 04.
#include "vae/kl.h"

#include <fmt/format.h>

#include <cmath>

#include "autodiff/ops.h"
#include "autodiff/shape.h"

namespace vae {

double kl_discrete(const std::vector<double>& p, const std::vector<double>& q) {
  if (p.size() != q.size())
    throw ad::Error(
        fmt::format("kl_discrete: p has {} outcomes, q has {}", p.size(), q.size()));
  double kl = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (!(p[i] >= 0) || !(q[i] >= 0))  // also rejects NaN
      throw ad::Error(fmt::format(
          "kl_discrete: probabilities must be >= 0, got p[{}] = {}, q[{}] = {}", i, p[i], i, q[i]));
    if (p[i] == 0) continue;  // 0 log(0 / q) = 0 by continuity
    if (q[i] == 0)
      throw ad::Error(fmt::format(
          "kl_discrete: q[{}] = 0 where p[{}] = {} > 0: KL(p || q) is infinite", i, i, p[i]));
    // EXERCISE E03.2: the discrete KL divergence
    kl += p[i] * std::log(p[i] / q[i]);
    // END EXERCISE E03.2
  }
  return kl;
}

double kl_gaussian(const std::vector<double>& mu1, const Matrix& s1, const std::vector<double>& mu2,
                   const Matrix& s2) {
  const int k = static_cast<int>(mu1.size());
  if (static_cast<int>(mu2.size()) != k || s1.rows != k || s1.cols != k || s2.rows != k ||
      s2.cols != k)
    throw ad::Error(fmt::format(
        "kl_gaussian: means of length {} and {}, covariances [{}x{}] and [{}x{}]: all must be k "
        "and [k x k]",
        mu1.size(), mu2.size(), s1.rows, s1.cols, s2.rows, s2.cols));
  // excerpt: kl_gaussian_closed_form
  // EXERCISE E03.3: the KL between two Gaussians in closed form
  const Matrix s2_inv = inverse_spd(s2);
  std::vector<double> diff(k);
  for (int i = 0; i < k; ++i) diff[i] = mu2[i] - mu1[i];
  const double trace_term = trace(s2_inv * s1);                    // tr(S2^-1 S1)
  const double quadratic = dot(diff, solve_spd(s2, diff));         // (mu2-mu1)^T S2^-1 (mu2-mu1)
  const double log_det_ratio = log_det_spd(s2) - log_det_spd(s1);  // log |S2| / |S1|
  return 0.5 * (trace_term + quadratic - k + log_det_ratio);
  // END EXERCISE E03.3
  // end excerpt: kl_gaussian_closed_form
}

// excerpt: kl_diag_standard
ad::Tensor kl_diag_gaussian_to_standard(const ad::Tensor& mu, const ad::Tensor& logvar) {
  if (mu.shape() != logvar.shape())
    throw ad::Error(
        fmt::format("kl_diag_gaussian_to_standard: mu {} and logvar {} must have the same shape",
                    ad::to_string(mu.shape()), ad::to_string(logvar.shape())));
  // 1/2 sum_i (sigma_i^2 + mu_i^2 - 1 - log sigma_i^2), sigma_i^2 = exp(logvar_i)
  // EXERCISE E03.4: the KL of a diagonal Gaussian to N(0, I)
  return 0.5 * ad::sum(ad::exp(logvar) + mu * mu - 1.0 - logvar, -1);
  // END EXERCISE E03.4
}
// end excerpt: kl_diag_standard

}  // namespace vae
