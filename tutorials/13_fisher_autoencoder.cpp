// Tutorial 13: the Fisher autoencoder (note 003, section 3, of which the notes give only
// the heading; the objective is Elkhalil, Hasan, Ding, Farsiu and Tarokh's, "Fisher
// Auto-Encoders", AISTATS 2021).
//
// The VAE fits p_theta(x, z) to p_d(x) q_phi(z|x) by a KL divergence; the Fisher AE by the
// Fisher divergence, the mean squared difference of the two scores grad_(x,z) log:
//
//   F = 1/2 E_{p_d q} |grad_u log p_d(x) q_phi(z|x) - grad_u log p_theta(x, z)|^2,  u = (x, z)
//     = E[ 1/2 |grad_x log p_theta(x|z)|^2 + lap_x log p_theta(x|z)              (reconstruction)
//        + 1/2 |grad_x log q_phi(z|x)|^2                                          (stability)
//        + 1/2 |grad_z log q_phi(z|x) - grad_z log p(z) - grad_z log p_theta(x|z)|^2 ] (latent)
//       + 1/2 E|grad_x log p_d(x)|^2        (the data score: a constant, dropped)
//
// Checked: each score by autodiff (ad::grad with create_graph) against finite differences
// of its log density and against its closed form; the decoder's laplacian by second
// derivatives; the two cross terms that cancel (by Monte Carlo); the whole objective
// against the closed-form Fisher divergence of a linear-Gaussian model, and 0 at the true
// model; the objective's gradient by gradcheck. Then a Fisher AE and a VAE of the same
// size trained on the same Fashion-MNIST images for the same epochs, compared by their
// reconstructions, samples and the importance-weighted bound L_K of tutorial 10.
//
//   build/release/tutorials/13_fisher_autoencoder [--data DIR] [--epochs 20] [--batch 128]
//       [--lr 1e-3] [--sigma 1] [--latent 2] [--K 50] [--seed 42] [--out DIR] [--quick]
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "autodiff/autodiff.h"
#include "nn/dataset.h"
#include "nn/image.h"
#include "nn/nn.h"
#include "tutorials/common/data.h"
#include "tutorials/common/plot.h"
#include "tutorials/common/training.h"
#include "tutorials/common/tutorial.h"
#include "vae/fisher.h"
#include "vae/iwae.h"
#include "vae/linalg.h"
#include "vae/linear_gaussian.h"
#include "vae/mlp_vae.h"
#include "vae/statistics.h"

using ad::Tensor;
using ad::worst_relative_error;  // gradcheck's error measure, over lists of values

namespace {

// ---------------------------------------------------------------- the scores
// The small Gaussian VAE of the checks: 4 pixels, one hidden layer of 3, k = 2, sigma = 0.7.
vae::VaeConfig small_config() { return vae::small_check_config(); }

void check_vectors(tut::Tutorial& t, const std::string& what, const Tensor& autodiff,
                   const std::vector<double>& other, double tolerance) {
  const double e = worst_relative_error(autodiff.to_vector(), other);
  t.check_true("L32",
               fmt::format("{}: worst difference {:.1e} over {} entries (tol {:.0e})", what, e,
                           other.size(), tolerance),
               e <= tolerance);
}

void scores_by_autodiff(tut::Tutorial& t) {
  t.section("L32", "The five scores of a Gaussian VAE, by autodiff of the log densities");
  ad::Rng rng(t.seed() + 1);
  vae::Vae model(small_config(), rng);
  const Tensor x = rng.normal({3, 4}, ad::f64), eps = rng.normal({3, 2}, ad::f64);
  const vae::FisherScores s = vae::fisher_scores(model, x, eps);
  const Tensor z = s.z.detach();
  t.note("a 4-3-2 encoder and 2-3-4 decoder in double, sigma = 0.7, 3 examples, one eps each;");
  t.note("each score is ad::grad(sum of the log density, {{variable}}, create_graph), against");
  t.note("central differences (h = 1e-5) of the log density, the other variable held fixed");
  auto log_q = [&](const Tensor& xx, const Tensor& zz) { return model.encode(xx).log_prob(zz); };
  auto log_lik = [&](const Tensor& xx, const Tensor& zz) {
    return -model.negative_log_likelihood(model.decode(zz), xx);
  };
  const Tensor zero = Tensor::zeros(z.shape(), ad::f64);
  using vae::numerical_score;
  const double fd = 1e-7;
  check_vectors(t, "grad_z log q(z|x) vs finite differences", s.encoder_z,
                numerical_score([&](const Tensor& p) { return log_q(x, p); }, z), fd);
  check_vectors(t, "grad_x log q(z|x) at fixed z vs finite differences", s.encoder_x,
                numerical_score([&](const Tensor& p) { return log_q(p, z); }, x), fd);
  check_vectors(t, "grad_z log p(z) vs finite differences", s.prior_z,
                numerical_score(
                    [&](const Tensor& p) {
                      return vae::DiagGaussian{zero, zero}.log_prob(p);
                    },
                    z),
                fd);
  check_vectors(t, "grad_z log p(x|z) vs finite differences", s.decoder_z,
                numerical_score([&](const Tensor& p) { return log_lik(x, p); }, z), fd);
  check_vectors(t, "grad_x log p(x|z) vs finite differences", s.decoder_x,
                numerical_score([&](const Tensor& p) { return log_lik(p, z); }, x), fd);

  ad::NoGrad plain;
  const vae::DiagGaussian q = model.encode(x);
  const Tensor f = model.decode(z);
  t.note("and against their closed forms (z = mu + sigma_q eps, f = f_theta(z)):");
  check_vectors(t, "grad_z log q = -(z - mu) / sigma_q^2 = -eps / sigma_q", s.encoder_z,
                (-eps / q.stddev()).to_vector(), 1e-12);
  check_vectors(t, "grad_z log p(z) = -z", s.prior_z, (-z).to_vector(), 1e-12);
  check_vectors(t, "grad_x log p(x|z) = (f - x) / sigma^2", s.decoder_x,
                ((f - x) / (0.7 * 0.7)).to_vector(), 1e-12);

  // grad_x log q through the reparameterised z is a different quantity
  const std::vector<double> through_z = numerical_score(
      [&](const Tensor& p) {
        const vae::DiagGaussian qq = model.encode(p);
        return qq.log_prob(qq.rsample_from(eps));
      },
      x);
  const double apart = worst_relative_error(s.encoder_x.to_vector(), through_z);
  t.check_true("L32",
               fmt::format("d/dx log q(z(x, eps)|x) through z differs from the score at fixed "
                           "z: worst difference {:.3f}",
                           apart),
               apart > 1e-3);
  t.note("(through z, log q = -|eps|^2/2 - sum log sigma_q(x) - const, so that derivative is");
  t.note(" -grad_x sum log sigma_q(x): the mean's Jacobian drops out. The divergence needs the");
  t.note(" score at fixed z, which is why the encoder runs twice: once to draw z from the data,");
  t.note(" once on a copy of x that z does not depend on, where the density is evaluated)");
  ad::tape().clear();
}

void laplacian_by_second_derivatives(tut::Tutorial& t) {
  t.section("L32", "The decoder's laplacian, a second derivative on the tape");
  ad::Rng rng(t.seed() + 2);
  vae::Vae model(small_config(), rng);
  const Tensor x = rng.normal({3, 4}, ad::f64);
  const vae::FisherScores s = vae::fisher_scores(model, x, rng.normal({3, 2}, ad::f64));
  std::vector<double> laplacian(3, 0.0);  // sum_j d/dx_j [grad_x log p(x|z)]_j, per example
  for (int64_t j = 0; j < 4; ++j) {
    const Tensor column = ad::slice(s.decoder_x, 1, j, j + 1);
    const Tensor second = ad::grad(ad::sum(column), {s.x_at}, {.keep_tape = true})[0];
    for (int64_t i = 0; i < 3; ++i) laplacian[i] += second.flat(i * 4 + j);
  }
  ad::tape().clear();
  t.note("lap_x log p(x|z) = sum_j d^2 log p(x|z) / dx_j^2: differentiating the recorded score");
  t.note("grad_x log p(x|z) once more, one pixel at a time");
  t.check_close("L32", "lap_x log p(x|z) by autodiff (example 1) vs -D / sigma^2", laplacian[0],
                vae::decoder_laplacian(model), 1e-12);
  t.check_close("L32", "lap_x log p(x|z) by autodiff (example 3) vs -D / sigma^2", laplacian[2],
                vae::decoder_laplacian(model), 1e-12);
}

// ---------------------------------------------------------------- the cross terms
void cross_terms_vanish(tut::Tutorial& t, int samples) {
  t.section("L32", "Why the data score drops out: the two cross terms");
  t.note("expanding 1/2 |s_d + s_q - s_theta|^2 (s_d = grad_x log p_d, s_q = grad_x log q(z|x),");
  t.note("s_theta = grad_x log p(x|z)) leaves three cross terms. <s_d, s_q> has mean 0 because");
  t.note("E_q(z|x)[s_q] = grad_x of the integral of q(z|x) dz = grad_x 1 = 0 for every x:");
  ad::Rng rng(t.seed() + 3);
  vae::Vae model(small_config(), rng);
  const Tensor x_one = rng.normal({1, 4}, ad::f64);
  const Tensor x = ad::broadcast_to(x_one, {samples, 4}).clone();
  const vae::FisherScores s = vae::fisher_scores(model, x, rng.normal({samples, 2}, ad::f64));
  const std::vector<double> sq = s.encoder_x.to_vector();
  ad::tape().clear();
  for (int64_t j = 0; j < 4; j += 3) {
    std::vector<double> column;
    for (int i = 0; i < samples; ++i) column.push_back(sq[i * 4 + j]);
    const vae::Summary m = vae::summarize(column);
    t.check_within_se(
        "L32", fmt::format("E_q[grad_x{} log q(z|x)] at one x, {} draws of z", j + 1, samples),
        m.mean, m.se_mean, 0.0, 4.0);
  }
  t.note("-<s_d, s_theta>: integration by parts over x (Hyvarinen's step, assuming");
  t.note("p_d(x) E_q[s_theta] -> 0 at infinity) turns E[<grad_x log p_d, g>] into -E[div g] for");
  t.note("g(x) = E_q(z|x)[s_theta], and div g = E_q[lap_x log p(x|z)] + E_q[<s_q, s_theta>]: the");
  t.note("laplacian, and a cross term that cancels -<s_q, s_theta>. Only 1/2 |s_d|^2 stays, and");
  t.note("it does not depend on (theta, phi). The next section checks the result as a whole.");
}

// ---------------------------------------------------------------- linear-Gaussian
using LinearCase = vae::LinearFisherExample;

// Per draw: the objective's integrand (its three terms plus the laplacian), and the full
// integrand 1/2 |grad log p_d q - grad log p_theta|^2 with the data score known exactly.
struct Integrands {
  std::vector<double> objective, full;
};

Integrands integrands(vae::Vae& model, const vae::Gaussian& data, int n, ad::Rng& rng) {
  const Tensor x = vae::sample_rows(data, n, rng);
  const vae::FisherScores s =
      vae::fisher_scores(model, x, rng.normal({n, model.config().latent_dim}, ad::f64));
  const vae::FisherTerms terms = vae::fisher_terms(s, vae::decoder_laplacian(model));
  const int d = data.dim(), k = model.config().latent_dim;
  Integrands r;
  r.objective = (terms.reconstruction + terms.stability + terms.latent).to_vector();
  for (double& v : r.objective) v += terms.laplacian;
  const vae::Matrix Sinv = vae::inverse_spd(data.cov);
  const std::vector<double> xv = x.to_vector(), sq = s.encoder_x.to_vector(),
                            st = s.decoder_x.to_vector(),
                            dz = (s.encoder_z - s.prior_z - s.decoder_z).to_vector();
  for (int i = 0; i < n; ++i) {
    std::vector<double> centred(d);
    for (int j = 0; j < d; ++j) centred[j] = xv[i * d + j] - data.mean[j];
    const std::vector<double> sd = vae::matvec(Sinv, centred);
    double total = 0;  // |s_d + s_q - s_theta|^2 + |z-part|^2, with s_d = -S^-1 (x - m)
    for (int j = 0; j < d; ++j) total += std::pow(-sd[j] + sq[i * d + j] - st[i * d + j], 2);
    for (int j = 0; j < k; ++j) total += std::pow(dz[i * k + j], 2);
    r.full.push_back(0.5 * total);
  }
  ad::tape().clear();
  return r;
}

void linear_gaussian_closed_form(tut::Tutorial& t, int samples) {
  t.section("L32", "The whole objective against the closed form, on a linear-Gaussian model");
  t.note("p(z) = N(0, I_2), p(x|z) = N(W z + b, 0.8^2 I_3); q(z|x) = N(A x + c, diag(s^2)) is a");
  t.note("Vae with no hidden layer. When p_d is Gaussian, p_d q and p_theta are jointly Gaussian,");
  t.note("both scores are affine in u = (x, z), and F = 1/2 (tr(M Sigma M^T) + |M m + v|^2)");
  LinearCase c = vae::exact_posterior_example();
  ad::Rng rng(t.seed() + 4);
  {
    vae::Vae model(c.vae_config(), rng);
    vae::set_linear_gaussian(model, c.model, c.encoder);
    const double F = vae::fisher_divergence(c.model, c.data, c.encoder);
    t.note("1. p_d = the model's marginal, q = the exact posterior:");
    t.check_close("L32", "closed-form F at the true model", F, 0.0, 0.0, 1e-12);
    const vae::FisherTerms terms =
        vae::fisher_objective(model, vae::sample_rows(c.data, 100, rng), rng);
    const std::vector<double> latent = terms.latent.to_vector();
    ad::tape().clear();
    t.check_close("L32", "largest latent term over 100 draws (q's score = the posterior's)",
                  *std::max_element(latent.begin(), latent.end()), 0.0, 0.0, 1e-12);
  }
  {
    LinearCase moved = c;  // the exact posterior still, but data that the model does not fit
    moved.data.mean = {0.5, 0.0, -0.3};
    moved.data.cov = vae::random_spd(3, rng);
    const double joint = vae::fisher_divergence(moved.model, moved.data, moved.encoder);
    const double marginal = vae::fisher_divergence(moved.data, moved.model.marginal());
    t.note("2. q = the exact posterior, p_d another Gaussian: the z-part is 0, and the x-part is");
    t.note(
        "   the Fisher divergence between the marginals p_d(x) and p_theta(x) = N(b, W W^T + "
        "sigma^2 I)");
    t.check_close("L32", "joint F vs F(p_d || p_theta(x)), both closed forms", joint, marginal,
                  1e-10);
  }
  c.encoder.a(0, 1) += 0.3;  // move the encoder and the data away from the model
  c.encoder.a(1, 2) -= 0.5;
  c.encoder.c[0] += 0.4;
  c.encoder.stddev = {0.9, 0.35};
  c.data.mean = {0.0, 0.5, -0.5};
  c.data.cov = vae::random_spd(3, rng);
  vae::Vae model(c.vae_config(), rng);
  vae::set_linear_gaussian(model, c.model, c.encoder);
  const double F = vae::fisher_divergence(c.model, c.data, c.encoder);
  const double constant = vae::data_score_constant(c.data);
  t.note("3. an encoder and data away from the model: F = {:.4f} in closed form;", F);
  t.note("   1/2 E|grad log p_d|^2 = 1/2 tr(S^-1) = {:.4f}, the constant the objective drops",
         constant);
  const Integrands r = integrands(model, c.data, samples, rng);
  const vae::Summary objective = vae::summarize(r.objective), full = vae::summarize(r.full);
  t.check_within_se("L32",
                    fmt::format("objective + 1/2 tr(S^-1) ({} draws) vs closed-form F", samples),
                    objective.mean + constant, objective.se_mean, F, 4.0);
  t.check_within_se("L32", "the full integrand, with the data score, vs closed-form F", full.mean,
                    full.se_mean, F, 4.0);
  std::vector<double> d;
  for (size_t i = 0; i < r.full.size(); ++i) d.push_back(r.full[i] - r.objective[i]);
  const vae::Summary dm = vae::summarize(d);
  t.check_within_se("L32", "paired: full - objective vs 1/2 tr(S^-1) (the cross terms' mean is 0)",
                    dm.mean, dm.se_mean, constant, 4.0);
}

// ---------------------------------------------------------------- gradient
void gradient_check(tut::Tutorial& t) {
  t.section("L32", "The objective's gradient in (theta, phi): a derivative of derivatives");
  ad::Rng rng(t.seed() + 5);
  vae::Vae model(small_config(), rng);
  const Tensor x = rng.normal({3, 4}, ad::f64), eps = rng.normal({3, 2}, ad::f64);
  const ad::GradcheckResult r = vae::check_objective_gradient(model, x, eps);
  ad::tape().clear();
  int64_t count = 0;
  for (const Tensor& v : model.parameters()) count += v.numel();
  t.note("backward through the recorded scores vs central differences of the objective, for");
  t.note("each of the {} weights and biases (double, h = 1e-6)", count);
  t.check_true("L32",
               fmt::format("gradcheck of the Fisher AE objective: worst error {:.1e} (tol 1e-6)",
                           r.worst_error),
               r.ok);
}

// ---------------------------------------------------------------- training
struct Settings {
  tut::TrainingFlags training{.epochs = 20, .batch = 128, .lr = 1e-3};
  double sigma = 1.0;  // the decoders' fixed standard deviation (as the authors' code)
  int64_t latent = 2;  // k
  int K = 50;          // importance samples of the bound
};

vae::VaeConfig image_config(const Settings& s, int64_t pixels) {
  return {.input_dim = pixels,
          .hidden = tut::hidden_sizes,
          .latent_dim = s.latent,
          .likelihood = vae::Likelihood::gaussian,
          .sigma = s.sigma};
}

// The VAE by the one VAE training loop (tut::train_vae, the -ELBO); the Fisher autoencoder
// by the same loop of optimiser steps on its own objective. Both see the same batches in
// the same order and the same eps stream.
void train(tut::Tutorial& t, vae::Vae& model, const nn::Dataset& train_set, const Settings& s,
           bool fisher) {
  ad::Rng rng(t.seed() + 6);
  nn::Adam adam(model, {.lr = s.training.lr});
  const tut::EpochOptions options{
      .epochs = s.training.epochs, .batch_size = s.training.batch, .seed = t.seed() + 7};
  auto fisher_step = [&](const nn::Batch& b) { return vae::fisher_objective(model, b.x, rng).loss; };
  if (fisher) tut::check_batch_size(options, train_set.size());  // (train_vae checks its own)
  const double seconds_per_epoch =
      fisher ? tut::train_epochs(adam, train_set, options, fisher_step).seconds_per_epoch
             : tut::train_vae(model, adam, train_set, options, rng).seconds_per_epoch;
  t.note("  {:.1f} s per epoch", seconds_per_epoch);
}

// What one trained model scores on the test images, per image.
struct Evaluation {
  std::vector<double> iwae, elbo, squared_error, posterior_sd, kl;
  std::vector<double> fisher, reconstruction, stability, latent;  // the objective, its terms
};

Evaluation evaluate(vae::Vae& model, const Tensor& test_x, int K, uint64_t seed) {
  Evaluation e;
  ad::Rng rng(seed);
  const int64_t n = test_x.dim(0), k = model.config().latent_dim;
  for (int64_t start = 0; start < n; start += 250) {
    const Tensor xb = ad::slice(test_x, 0, start, std::min(n, start + 250));
    {
      ad::NoGrad plain;
      const vae::DiagGaussian q = model.encode(xb);
      std::vector<Tensor> eps;
      for (int j = 0; j < K; ++j) eps.push_back(rng.normal({xb.dim(0), k}, xb.dtype()));
      const std::vector<double> w =
          vae::iwae_log_weights(model, q, xb, eps).to(ad::f64).to_vector();
      const std::vector<double> err =
          ad::sum(ad::pow(model.decode_mean(q.mu) - xb, 2), -1).to(ad::f64).to_vector();
      const std::vector<double> sd = ad::mean(q.stddev(), -1).to(ad::f64).to_vector();
      const std::vector<double> kl = q.kl_to_standard().to(ad::f64).to_vector();
      for (int64_t i = 0; i < xb.dim(0); ++i) {
        const std::vector<double> row(w.begin() + i * K, w.begin() + (i + 1) * K);
        e.iwae.push_back(vae::log_mean_exp(row));
        e.elbo.push_back(row[0]);  // one weight: a one-sample ELBO estimate
        e.squared_error.push_back(err[i]);
        e.posterior_sd.push_back(sd[i]);
        e.kl.push_back(kl[i]);
      }
    }
    const vae::FisherTerms f = vae::fisher_objective(model, xb, rng);  // records: scores
    const std::vector<double> r = f.reconstruction.to(ad::f64).to_vector(),
                              s = f.stability.to(ad::f64).to_vector(),
                              l = f.latent.to(ad::f64).to_vector();
    for (size_t i = 0; i < r.size(); ++i) e.fisher.push_back(r[i] + s[i] + l[i] + f.laplacian);
    e.reconstruction.insert(e.reconstruction.end(), r.begin(), r.end());
    e.stability.insert(e.stability.end(), s.begin(), s.end());
    e.latent.insert(e.latent.end(), l.begin(), l.end());
    ad::tape().clear();
  }
  return e;
}

// mean +- se of b - a, paired over images
vae::Summary paired(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> d;
  for (size_t i = 0; i < a.size(); ++i) d.push_back(b[i] - a[i]);
  return vae::summarize(d);
}

void compare(tut::Tutorial& t, vae::Vae& vae_model, vae::Vae& fisher_model, const Tensor& test_x,
             const Settings& s) {
  t.section("L32", "Fisher AE vs VAE on the test images");
  const Evaluation v = evaluate(vae_model, test_x, s.K, t.seed() + 8);
  const Evaluation f = evaluate(fisher_model, test_x, s.K, t.seed() + 8);
  t.note("{} test images; L_K with K = {} importance samples (tutorial 10's bound, the same",
         test_x.dim(0), s.K);
  t.note("for both); Gaussian decoders with sigma = {}, so log p(x) is a density in nats", s.sigma);
  std::string csv = "quantity,vae_mean,vae_se,fisher_mean,fisher_se\n";
  auto row = [&](const std::string& name, const std::vector<double>& a,
                 const std::vector<double>& b) {
    const vae::Summary ma = vae::summarize(a), mb = vae::summarize(b);
    t.note("{:<34} VAE {:>12.3f} +- {:<8.3f} Fisher AE {:>12.3f} +- {:.3f}", name, ma.mean,
           ma.se_mean, mb.mean, mb.se_mean);
    csv += fmt::format("{},{},{},{},{}\n", name, ma.mean, ma.se_mean, mb.mean, mb.se_mean);
  };
  row(fmt::format("L_{} (nats, higher is better)", s.K), v.iwae, f.iwae);
  row("L_1 = ELBO (one draw)", v.elbo, f.elbo);
  row("Fisher objective (lower is better)", v.fisher, f.fisher);
  row("  reconstruction 1/2|grad_x log p|^2", v.reconstruction, f.reconstruction);
  row("  stability 1/2|grad_x log q|^2", v.stability, f.stability);
  row("  latent 1/2|grad_z mismatch|^2", v.latent, f.latent);
  row("squared error of E[x|mu(x)]", v.squared_error, f.squared_error);
  row("mean posterior sd sigma_q", v.posterior_sd, f.posterior_sd);
  row("KL(q(z|x) || p(z))", v.kl, f.kl);
  t.save_text("comparison.csv", csv);
  const vae::Summary bound = paired(f.iwae, v.iwae), elbo = paired(f.elbo, v.elbo),
                     fisher = paired(v.fisher, f.fisher);
  t.note("paired over images: L_{} of the VAE minus the Fisher AE's = {:.2f} +- {:.2f} nats;", s.K,
         bound.mean, bound.se_mean);
  t.note(
      "ELBO difference {:.2f} +- {:.2f}; Fisher objective, Fisher AE minus VAE = {:.1f} +- {:.1f}",
      elbo.mean, elbo.se_mean, fisher.mean, fisher.se_mean);
  const vae::Summary gap_v = paired(v.elbo, v.iwae), gap_f = paired(f.elbo, f.iwae);
  t.note(
      "L_{} - L_1 (how much a better q could still gain): VAE {:.3f} +- {:.3f}, Fisher AE "
      "{:.3f} +- {:.3f}",
      s.K, gap_v.mean, gap_v.se_mean, gap_f.mean, gap_f.se_mean);
  if (t.quick()) {
    t.note("--quick: barely trained, the comparison is not checked");
    return;
  }
  t.check_true(
      "L32",
      fmt::format("the VAE has the higher likelihood bound L_{}: {:.2f} +- {:.2f} (> 4 se)", s.K,
                  bound.mean, bound.se_mean),
      bound.mean > 4 * bound.se_mean);
  // The VAE's Fisher objective is heavy-tailed over images (its posterior sd is small, so
  // grad_z log q = -eps / sigma_q is large), so a mean +- se says little: count images.
  int64_t lower = 0;
  for (size_t i = 0; i < f.fisher.size(); ++i) lower += f.fisher[i] < v.fisher[i];
  const double n = static_cast<double>(f.fisher.size());
  t.check_true("L32",
               fmt::format("the Fisher AE has the lower Fisher objective on {} of {} images "
                           "(sign test: need > n/2 + 2 sqrt(n) = {:.0f})",
                           lower, f.fisher.size(), n / 2 + 2 * std::sqrt(n)),
               lower > n / 2 + 2 * std::sqrt(n));
}

void figures(tut::Tutorial& t, vae::Vae& vae_model, vae::Vae& fisher_model,
             const nn::Dataset& test) {
  ad::NoGrad plain;
  const std::vector<int64_t> shown = tut::first_of_each_class(test, 1);
  const Tensor x = ad::gather(test.images, 0, shown);
  auto clipped = [](const Tensor& images) { return ad::clamp(images, 0.0, 1.0); };
  tut::ImageFigure reconstructions("reconstructions",
                                   "One test image per class and the two models' reconstructions");
  reconstructions.panel(nn::image_grid_rows({x, clipped(vae::reconstruct(vae_model, x)),
                                             clipped(vae::reconstruct(fisher_model, x))}),
                        {.row_labels = {"test image x", "VAE: E[x | μ(x)]", "Fisher AE"}});
  t.save_figure(reconstructions);
  ad::Rng rng_v(t.seed() + 9), rng_f(t.seed() + 9);  // the same z ~ N(0, I) for both
  tut::ImageFigure samples("samples", "E[x | z] for z ~ N(0, I): the same 20 z in both models");
  samples.panel(
      nn::image_grid_rows(
          {clipped(vae::sample(vae_model, 10, rng_v)), clipped(vae::sample(vae_model, 10, rng_v)),
           clipped(vae::sample(fisher_model, 10, rng_f)), clipped(vae::sample(fisher_model, 10, rng_f))}),
      {.row_labels = {"VAE", "VAE", "Fisher AE", "Fisher AE"}});
  t.save_figure(samples);
}

void latent_figure(tut::Tutorial& t, vae::Vae& vae_model, vae::Vae& fisher_model,
                   const nn::Dataset& test) {
  if (vae_model.config().latent_dim != 2) return;
  ad::NoGrad plain;
  // Both panels on the same axes, so that the spread of the two models' codes compares.
  std::vector<std::vector<double>> means;
  double low = 0, high = 0;
  for (vae::Vae* model : {&vae_model, &fisher_model}) {
    means.push_back(model->encode(test.images).mu.to(ad::f64).to_vector());
    const auto [lo, hi] = std::minmax_element(means.back().begin(), means.back().end());
    low = std::min(low, *lo);
    high = std::max(high, *hi);
  }
  const double margin = 0.05 * (high - low);
  for (size_t m = 0; m < means.size(); ++m) {
    const bool vae = m == 0;
    std::vector<double> z1, z2;
    for (size_t i = 0; i < means[m].size(); i += 2) {
      z1.push_back(means[m][i]);
      z2.push_back(means[m][i + 1]);
    }
    tut::Plot p(
        vae ? "latent_means_vae" : "latent_means_fisher",
        fmt::format("Posterior means μ(x) of the test images, {}", vae ? "VAE" : "Fisher AE"));
    p.xlabel("z₁").ylabel("z₂").equal_aspect().size(760, 600);
    p.x_range(low - margin, high + margin).y_range(low - margin, high + margin);
    p.scatter_by_label("class", z1, z2, test.labels, test.class_names);
    t.save_figure(p);
  }
}

}  // namespace

static int run(int argc, char** argv) {
  tut::Tutorial t("13_fisher_autoencoder", "The Fisher autoencoder");
  std::string data_dir;
  Settings s;
  tut::add_data_flag(t, data_dir);
  tut::add_training_flags(t, s.training, "training epochs of each model (--quick: 1)");
  t.flags()
      .add_option("--sigma", s.sigma, "the decoders' fixed standard deviation")
      ->check(tut::finite_in(1e-3, 10.0));
  t.flags().add_option("--latent", s.latent, "latent dimension k")->check(CLI::Range(1, 64));
  t.flags()
      .add_option("--K", s.K, "importance samples of the bound L_K")
      ->check(CLI::Range(1, 5000));
  if (auto exit_code = t.parse(argc, argv)) return *exit_code;
  if (t.quick() && !t.given("--epochs")) s.training.epochs = 1;

  scores_by_autodiff(t);
  laplacian_by_second_derivatives(t);
  cross_terms_vanish(t, t.quick() ? 4000 : 40000);
  linear_gaussian_closed_form(t, t.quick() ? 4000 : 40000);
  gradient_check(t);

  const auto splits = tut::load_image_splits(t, data_dir);
  if (!splits) return 1;
  const nn::Dataset train_set = t.quick() ? splits->train.first(1000) : splits->train;
  const nn::Dataset test = splits->test.first(t.quick() ? 200 : 2000);
  const int64_t pixels = train_set.pixels_per_image();
  t.section("L32", "Training a VAE and a Fisher AE of the same size on the same images");
  t.note("data: {}; {} grey-level training images, {} epochs, batch {}, Adam lr {}",
         splits->description, train_set.size(), s.training.epochs, s.training.batch, s.training.lr);
  t.note("both: 784-256-64-{} encoder and decoder, p(z) = N(0, I), p(x|z) = N(f(z), {}^2 I),",
         s.latent, s.sigma);
  t.note("the same initial weights, batches and eps; only the objective differs");
  ad::Rng init_v(t.seed() + 10), init_f(t.seed() + 10);
  vae::Vae vae_model(image_config(s, pixels), init_v),
      fisher_model(image_config(s, pixels), init_f);
  t.note("VAE (-ELBO):");
  train(t, vae_model, train_set, s, false);
  t.note("Fisher AE (the objective above):");
  train(t, fisher_model, train_set, s, true);

  compare(t, vae_model, fisher_model, test.images, s);
  figures(t, vae_model, fisher_model, test);
  latent_figure(t, vae_model, fisher_model, test);
  return t.finish();
}

// Any error after the flags are read ends the program with one line and exit status 1.
int main(int argc, char** argv) {
  return tut::report_errors("13_fisher_autoencoder", [&] { return run(argc, argv); });
}
