// The per-example -ELBO record of latent_model.h (the rest of it is templates).
#include "vae/latent_model.h"

#include <string>

namespace vae {

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

}  // namespace vae
