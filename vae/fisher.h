// The Fisher autoencoder (note 003, section 3, which has only its heading; the objective is
// that of Elkhalil, Hasan, Ding, Farsiu and Tarokh, "Fisher Auto-Encoders", AISTATS 2021).
//
// A VAE trained by the ELBO minimises KL(p_d(x) q_phi(z|x) || p_theta(x, z)) up to a
// constant. The Fisher AE minimises instead the Fisher divergence between the same two
// joint densities, the mean squared difference of their scores (gradients of the log
// density with respect to the variables u = (x, z)):
//
//   F = 1/2 E_{p_d(x) q_phi(z|x)} | grad_u log p_d(x) q_phi(z|x) - grad_u log p_theta(x, z) |^2
//
// Its z-part needs no data score. Its x-part holds grad_x log p_d(x), which no one knows;
// integration by parts in x (Hyvarinen's score-matching step) removes it:
//
//   F = E[ 1/2 |grad_x log p_theta(x|z)|^2                              reconstruction
//        + lap_x log p_theta(x|z)                                       laplacian
//        + 1/2 |grad_x log q_phi(z|x)|^2                                stability
//        + 1/2 |grad_z log q_phi(z|x) - grad_z log p(z) - grad_z log p_theta(x|z)|^2 ]   latent
//     + 1/2 E_{p_d}|grad_x log p_d(x)|^2                                (a constant: dropped)
//
// every score taken at fixed values of the other variable (grad_x log q_phi(z|x) at fixed
// z). Two cross terms cancel on the way: E_q[grad_x log q(z|x)] = 0 for every x, and the
// integration by parts of <grad_x log p_d, grad_x log p_theta(x|z)> returns the cross term
// <grad_x log q, grad_x log p_theta(x|z)> with the opposite sign (docs/13 derives it).
// For the Gaussian decoder p_theta(x|z) = N(f_theta(z), sigma^2 I) of vae::Vae:
//   grad_x log p_theta(x|z) = (f_theta(z) - x) / sigma^2,  lap_x = -D / sigma^2 (a constant),
// so the reconstruction term is |x - f_theta(z)|^2 / (2 sigma^4).
//
// Every score here is computed by autodiff of the log density (ad::grad with
// create_graph), so the objective, which contains first derivatives, is itself on the
// tape and its gradient with respect to (theta, phi) is a second derivative.
//
// Example:
//   vae::Vae model({.input_dim = 784, .hidden = {256, 64}, .latent_dim = 2,
//                   .likelihood = vae::Likelihood::gaussian, .sigma = 0.1}, rng);
//   vae::FisherTerms terms = vae::fisher_objective(model, batch.x, rng);
//   ad::backward(terms.loss);   // gradients of the Fisher AE objective reach theta and phi
#pragma once
#include <functional>
#include <vector>

#include "autodiff/gradcheck.h"
#include "autodiff/rng.h"
#include "autodiff/tensor.h"
#include "vae/linear_gaussian.h"
#include "vae/mlp_vae.h"

namespace vae {

// d sum(log_density) / d wrt, recorded (create_graph) so it can be differentiated again.
// With one row per example and rows independent, row i is the score of example i.
ad::Tensor score(const ad::Tensor& log_density, const ad::Tensor& wrt);

// The five scores of one draw z = mu_phi(x) + sigma_phi(x) eps, each [batch, dim] and on
// the tape. x_at is the point x where the densities are evaluated: a copy of the data that
// requires grad, so that grad_x is taken at fixed z (z is drawn from a second encoder pass
// on the data itself, which x_at does not reach).
struct FisherScores {
  ad::Tensor z, x_at;
  ad::Tensor encoder_z;  // grad_z log q_phi(z|x) = -(z - mu) / sigma_q^2
  ad::Tensor encoder_x;  // grad_x log q_phi(z|x) at fixed z
  ad::Tensor prior_z;    // grad_z log p(z) = -z
  ad::Tensor decoder_z;  // grad_z log p_theta(x|z) = J_f(z)^T (x - f(z)) / sigma^2
  ad::Tensor decoder_x;  // grad_x log p_theta(x|z) = (f(z) - x) / sigma^2
};

// Needs a Gaussian decoder (a Bernoulli decoder's x is binary: no score in x). Records
// on the tape even when called under NoGrad (the scores are gradients); clear the tape
// after an evaluation.
FisherScores fisher_scores(Vae& model, const ad::Tensor& x, const ad::Tensor& eps);

// The same score by central differences, for checks: d sum(log_density(p)) / d p at
// p = point, one element at a time (p +- h), evaluated without recording. [numel] values.
using LogDensity = std::function<ad::Tensor(const ad::Tensor& point)>;
std::vector<double> numerical_score(const LogDensity& log_density, const ad::Tensor& point,
                                    double h = 1e-5);

// lap_x log p_theta(x|z) = -D / sigma^2 for the Gaussian decoder with fixed sigma.
double decoder_laplacian(const Vae& model);

// The terms of the objective above, each per example [batch], and their sum averaged over
// the batch plus the (constant) laplacian: loss = F - 1/2 E|grad log p_d|^2, a scalar.
struct FisherTerms {
  ad::Tensor reconstruction;  // 1/2 |grad_x log p_theta(x|z)|^2
  ad::Tensor stability;       // 1/2 |grad_x log q_phi(z|x)|^2
  ad::Tensor latent;          // 1/2 |grad_z log q - grad_z log p(z) - grad_z log p_theta(x|z)|^2
  double laplacian = 0;       // lap_x log p_theta(x|z)
  ad::Tensor loss;
};

ad::Tensor reconstruction_term(const FisherScores& s);
ad::Tensor stability_term(const FisherScores& s);
ad::Tensor latent_term(const FisherScores& s);
FisherTerms fisher_terms(const FisherScores& s, double laplacian);

// The objective for one draw of eps per example ([batch, latent_dim]), or eps from rng.
FisherTerms fisher_objective(Vae& model, const ad::Tensor& x, const ad::Tensor& eps);
FisherTerms fisher_objective(Vae& model, const ad::Tensor& x, ad::Rng& rng);

// The small model every check of the objective uses: a Gaussian Vae in double with 4
// pixels, one hidden layer of 3, k = 2 and sigma = 0.7 (small enough for finite
// differences of every weight).
VaeConfig small_check_config();

// ad::gradcheck of fisher_objective(model, x, eps).loss with respect to every weight and
// bias of the model (a float64 Vae): backward through the recorded scores against central
// differences of the objective. The model's parameters are left as they were.
ad::GradcheckResult check_objective_gradient(Vae& model, const ad::Tensor& x, const ad::Tensor& eps,
                                             const ad::GradcheckOptions& options = {});

// ---- the linear-Gaussian case, in closed form (plain double) ----
// A linear encoder with a constant variance, q(z|x) = N(A x + c, diag(stddev^2)), so that
// p_d(x) q(z|x) is jointly Gaussian when the data are.
struct LinearEncoder {
  Matrix a;                    // k x d
  std::vector<double> c;       // k
  std::vector<double> stddev;  // k
};

// F(p_d q || p_theta) exactly, for data p_d = N(data.mean, data.cov), the encoder above and
// the linear-Gaussian model (vae/linear_gaussian.h). Both scores are affine in u = (x, z),
// so their difference is M u + v and F = 1/2 (tr(M Sigma M^T) + |M m + v|^2) with m, Sigma
// the mean and covariance of u under p_d q.
double fisher_divergence(const LinearGaussian& model, const Gaussian& data,
                         const LinearEncoder& encoder);
// F(p || m) = 1/2 E_p |grad log p(x) - grad log m(x)|^2 between two Gaussians:
// grad log N(x; mu, S) = -S^-1 (x - mu), so with P = S_p^-1, Q = S_m^-1,
//   F = 1/2 (tr((Q - P) S_p (Q - P)) + |Q (mu_p - mu_m)|^2).
double fisher_divergence(const Gaussian& p, const Gaussian& m);
// 1/2 E_{p_d}|grad log p_d(x)|^2 = 1/2 tr(cov^-1): the constant the objective drops.
double data_score_constant(const Gaussian& data);

// The linear-Gaussian example of the tests and tutorial 13: d = 3, k = 2, sigma = 0.8, W
// with orthogonal columns (1.2, -0.4, 0) and (0.2, 0.6, 0.8), so the exact posterior
//   p(z|x) = N(M^-1 W^T (x - b) / sigma^2, M^-1),  M = I + W^T W / sigma^2 (diagonal)
// is a LinearEncoder; data = the model's own marginal N(b, W W^T + sigma^2 I). F = 0.
struct LinearFisherExample {
  LinearGaussian model;
  Gaussian data;
  LinearEncoder encoder;
  VaeConfig vae_config() const;  // a Vae with no hidden layer of these sizes, in double
};
LinearFisherExample exact_posterior_example();

// n draws from g as the rows of a float64 tensor [n, dim].
ad::Tensor sample_rows(const Gaussian& g, int n, ad::Rng& rng);

// Sets the weights of a Vae with no hidden layer (config.hidden empty, Gaussian decoder
// with config.sigma = model.sigma) so that it computes the linear encoder above (the
// logvar rows of its weight are zero: a constant variance) and the linear-Gaussian
// decoder N(W z + b, sigma^2 I). Throws naming the sizes when they do not fit.
void set_linear_gaussian(Vae& vae, const LinearGaussian& model, const LinearEncoder& encoder);

}  // namespace vae
