// One interface for every latent-variable model of the notes, and the quantities of note
// 000 and 003 written once over it.
//
// A latent-variable model here is a pair (q_phi(z|x), p_theta(x|z)) with the prior
// p(z) = N(0, I). It offers
//   model.encode(x)                          q_phi(z|x) of a batch x
//   model.decode(z)                          the decoder's raw output for z (logits or mean)
//   model.decode_mean(z)                     E[x|z]
//   model.negative_log_likelihood(out, x)    -log p_theta(x|z) of each example, [batch], from
//                                            the decoder's output out = decode(z)
//   model.latent_dim(), model.dtype()        the size of z and the model's number type
// and the model is reparameterizable (the concept ReparameterizedModel) when q_phi(z|x)
// offers z = g_phi(eps) (rsample_from) and KL(q || N(0, I)) in closed form (kl_to_standard).
//
// Who satisfies what:
//   vae::Vae, vae::ConvVae           ReparameterizedModel (diagonal Gaussian q)
//   vae::FullCovVae                  ReparameterizedModel (q = N(mu, L L^T), z = mu + L eps)
//   vae::Cvae                        through vae::Conditioned{cvae, labels}: a view that fixes
//                                    the labels c, so q_phi(z|x,c) and p_theta(x|z,c) become
//                                    functions of x and z alone
//   vae::DiscreteVae                 LatentVariableModel only: its code z is a class index,
//                                    and no differentiable z = g_phi(eps) exists (notes 003,
//                                    Theorem 1.2), so the reparameterized -ELBO and IWAE bound
//                                    below do not apply; its encoder gradient comes from the
//                                    score function (vae/discrete_vae.h).
//
// Why a concept and not an abstract class: each model's posterior is its own type
// (DiagGaussian, CholeskyGaussian, the discrete VAE's log q), so a virtual encode() could
// only return the least common part of them; with a concept, generic code sees the
// model's real q and the compiler states which method a model lacks. The functions below
// are templates, so no call goes through a virtual table or a std::function per batch.
//
// Example:
//   vae::Vae model({.input_dim = 784, .latent_dim = 2}, rng);
//   vae::ElboTerms terms = vae::negative_elbo(model, x, rng);        // L = 1, beta = 1
//   ad::backward(terms.loss);
//   vae::Conditioned given_labels{cvae, labels};
//   ad::Tensor conditional = vae::negative_elbo(given_labels, x, rng).loss;
#pragma once
#include <algorithm>
#include <concepts>
#include <cstdint>
#include <functional>
#include <vector>

#include "autodiff/ops.h"
#include "autodiff/rng.h"
#include "autodiff/shape.h"
#include "autodiff/tape.h"
#include "autodiff/tensor.h"
#include "vae/distributions.h"

namespace vae {

template <class M>
concept LatentVariableModel =
    requires(M& model, const ad::Tensor& x, const ad::Tensor& z, const ad::Tensor& decoded) {
      model.encode(x);                                                    // q_phi(z|x)
      { model.decode(z) } -> std::same_as<ad::Tensor>;                    // logits or mean
      { model.decode_mean(z) } -> std::same_as<ad::Tensor>;               // E[x|z]
      { model.negative_log_likelihood(decoded, x) } -> std::same_as<ad::Tensor>;  // [batch]
      { model.latent_dim() } -> std::convertible_to<int64_t>;
      { model.dtype() } -> std::convertible_to<ad::DType>;
    };

// q_phi(z|x) with z = g_phi(eps) on the tape and an analytic KL to the prior N(0, I).
template <class M>
concept ReparameterizedModel =
    LatentVariableModel<M> && requires(M& model, const ad::Tensor& x, const ad::Tensor& eps) {
      { model.encode(x).rsample_from(eps) } -> std::same_as<ad::Tensor>;
      { model.encode(x).kl_to_standard() } -> std::same_as<ad::Tensor>;
    };

// The negative ELBO and its two parts, each a scalar: the mean over the batch of
// per-example sums. loss = reconstruction + beta * kl.
struct ElboTerms {
  ad::Tensor loss;            // -ELBO (for beta = 1)
  ad::Tensor reconstruction;  // 1/L sum_l -log p_theta(x | z^[l])
  ad::Tensor kl;              // KL(q_phi(z|x) || N(0, I)), analytic
};

// The -ELBO of each example separately, as plain numbers, for evaluations that look at
// the spread over a test set (standard errors, paired differences between models).
// append() takes one batch: -log p_theta(x|z) [batch] for one z ~ q per example, and
// KL(q || N(0, I)) [batch]; loss = reconstruction + kl for each example.
struct PerExampleElbo {
  std::vector<double> reconstruction, kl, loss;
  void append(const ad::Tensor& nll, const ad::Tensor& kl_to_prior);
};

// -log p_theta(x | z) of each example for a latent batch z: decodes z and scores x.
using NegativeLogLikelihood = std::function<ad::Tensor(const ad::Tensor& z)>;

// The -ELBO estimate of notes 000/003 for a posterior q (any type with rsample_from and
// kl_to_standard), a function nll(z) = -log p_theta(x | z) of each example, and L noise
// tensors eps [batch, k]:
//   reconstruction = 1/(L batch) sum_l sum_i nll(g_phi(eps^[l]))_i
//   kl             = 1/batch sum_i KL(q_phi(z|x_i) || N(0, I))   (analytic)
//   loss           = reconstruction + beta * kl
// all recorded on the tape. Throws when eps is empty.
// excerpt: negative_elbo
template <class Posterior>
ElboTerms negative_elbo_of_posterior(const Posterior& q, const NegativeLogLikelihood& nll,
                                     const std::vector<ad::Tensor>& eps, double beta = 1.0) {
  if (eps.empty()) throw ad::Error("negative_elbo: no noise given");
  // EXERCISE E04.5: the negative ELBO with the analytic KL
  const double batch = static_cast<double>(eps.front().dim(0));
  const double L = static_cast<double>(eps.size());
  ad::Tensor reconstruction;
  for (const ad::Tensor& e : eps) {
    ad::Tensor z = q.rsample_from(e);    // z^[l] = g_phi(eps^[l]), e.g. mu + sigma * eps^[l]
    ad::Tensor total = ad::sum(nll(z));  // -log p_theta(x | z^[l]), summed over the batch
    reconstruction = reconstruction.defined() ? reconstruction + total : total;
  }
  reconstruction = reconstruction / (L * batch);        // 1/L sum_l, mean over the batch
  ad::Tensor kl = ad::sum(q.kl_to_standard()) / batch;  // analytic, mean over the batch
  return {reconstruction + kl * beta, reconstruction, kl};
  // END EXERCISE E04.5
}
// end excerpt: negative_elbo

// -log p_theta(x | z) of each example, [batch], recorded.
template <LatentVariableModel M>
ad::Tensor negative_log_likelihood(M& model, const ad::Tensor& x, const ad::Tensor& z) {
  return model.negative_log_likelihood(model.decode(z), x);
}

// L noise tensors eps^[l] ~ N(0, I), each [batch, latent_dim], in x's number type.
template <LatentVariableModel M>
std::vector<ad::Tensor> draw_noise(const M& model, const ad::Tensor& x, ad::Rng& rng, int L) {
  if (L < 1) throw ad::Error("negative_elbo: L must be at least 1");
  std::vector<ad::Tensor> eps;
  for (int l = 0; l < L; ++l) eps.push_back(rng.normal({x.dim(0), model.latent_dim()}, x.dtype()));
  return eps;
}

// -ELBO of the batch x with the noise given: eps holds L tensors [batch, latent_dim].
template <ReparameterizedModel M>
ElboTerms negative_elbo_from_eps(M& model, const ad::Tensor& x, const std::vector<ad::Tensor>& eps,
                                 double beta = 1.0) {
  return negative_elbo_of_posterior(
      model.encode(x), [&](const ad::Tensor& z) { return negative_log_likelihood(model, x, z); },
      eps, beta);
}

// -ELBO with L samples z^[l] = g_phi(eps^[l]), eps drawn from rng, recorded.
template <ReparameterizedModel M>
ElboTerms negative_elbo(M& model, const ad::Tensor& x, ad::Rng& rng, int L = 1,
                        double beta = 1.0) {
  return negative_elbo_from_eps(model, x, draw_noise(model, x, rng, L), beta);
}

// Per-example -log p(x|z) (one z = g_phi(eps) per example) and KL, not recorded, in chunks
// of `chunk` examples; eps is drawn chunk by chunk from rng.
template <ReparameterizedModel M>
PerExampleElbo per_example_negative_elbo(M& model, const ad::Tensor& x, ad::Rng& rng,
                                         int64_t chunk) {
  ad::NoGrad plain;
  PerExampleElbo out;
  for (int64_t start = 0; start < x.dim(0); start += chunk) {
    const ad::Tensor xb = ad::slice(x, 0, start, std::min(x.dim(0), start + chunk));
    const auto q = model.encode(xb);
    const ad::Tensor z = q.rsample_from(rng.normal({xb.dim(0), model.latent_dim()}, xb.dtype()));
    out.append(negative_log_likelihood(model, xb, z), q.kl_to_standard());
  }
  return out;
}

// The decoder's mean at the posterior mean: E[x | z = mu(x)].
template <ReparameterizedModel M>
ad::Tensor reconstruct(M& model, const ad::Tensor& x) {
  return model.decode_mean(model.encode(x).mu);
}

// n draws decoded from z ~ p(z) = N(0, I): their means E[x|z].
template <ReparameterizedModel M>
ad::Tensor sample(M& model, int64_t n, ad::Rng& rng) {
  return model.decode_mean(rng.normal({n, model.latent_dim()}, model.dtype()));
}

}  // namespace vae
