// Tutorial 08: the variational autoencoder of the notes, trained on Fashion-MNIST with
// dynamically binarised pixels and a Bernoulli decoder (notes 000, 003, 004).
//
//   q_phi(z|x)   = N(mu, diag(exp(logvar))),  [mu, logvar] = encoder_phi(x)
//   p_theta(x|z) = prod_i theta_i^x_i (1 - theta_i)^(1 - x_i),  theta = sigmoid(decoder_theta(z))
//   p(z)         = N(0, I)
//   -ELBO(x)     ~= 1/L sum_l -log p_theta(x | z^[l])
//                   + 1/2 sum_k (sigma_k^2 + mu_k^2 - 1 - logvar_k)
//   z^[l]        = mu + exp(logvar / 2) * eps^[l],  eps^[l] ~ N(0, I)   (reparameterization)
//
// Checked, each two ways: the Bernoulli log-likelihood (L22); the L-sample loss, its mean
// and its variance ~ 1/L (L10); the computation graph before and after reparameterization
// drawn from the tape, with the gradient that only the second one has (L34); each latent
// attribute as a distribution, and the KL per dimension (L36); and, when tutorial 01 has
// left its autoencoder checkpoint, decoding between class centres in both latent spaces (L35).
//
//   build/release/tutorials/08_vae [--data DIR] [--epochs 10] [--batch 128] [--lr 1e-3]
//       [--latent 2] [--ae-checkpoint FILE] [--seed 42] [--out DIR] [--quick]
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "autodiff/autodiff.h"
#include "nn/checkpoint.h"
#include "nn/dataset.h"
#include "nn/image.h"
#include "nn/nn.h"
#include "tutorials/common/data.h"
#include "tutorials/common/plot.h"
#include "tutorials/common/training.h"
#include "tutorials/common/tutorial.h"
#include "vae/autoencoder.h"
#include "vae/distributions.h"
#include "vae/statistics.h"
#include "vae/kl.h"
#include "vae/mlp_vae.h"

using ad::Tensor;

namespace {

// Per-example -log p(x|z) (one z per example) and KL, without recording, in chunks.
vae::PerExampleElbo per_example(vae::Vae& model, const Tensor& x, ad::Rng& rng) {
  return vae::per_example_negative_elbo(model, x, rng, 1000);
}

// Copies every parameter value of `from` into `to` (same architecture, any dtypes).
void copy_parameters(const nn::Module& from, nn::Module& to) {
  std::vector<nn::NamedTensor> a = from.named_parameters(), b = to.named_parameters();
  for (size_t i = 0; i < a.size(); ++i) {
    const std::vector<double> v = a[i].tensor.to_vector();
    for (size_t j = 0; j < v.size(); ++j) b[i].tensor.set_flat(static_cast<int64_t>(j), v[j]);
  }
}

// ---------------------------------------------------------------- training
void plot_training(tut::Tutorial& t, const tut::VaeHistory& h) {
  tut::Plot curves("loss_curves", "VAE training: -ELBO = reconstruction + KL (nats per image)");
  curves.xlabel("epoch").ylabel("nats per image");
  curves.line("-ELBO (train)", h.epochs, h.loss);
  curves.line("reconstruction -log p(x|z) (train)", h.epochs, h.reconstruction);
  curves.line("KL(q(z|x) || p(z)) (train)", h.epochs, h.kl);
  curves.line("-ELBO (validation)", h.epochs, h.validation, tut::LineStyle::dashed);
  curves.log_y();
  t.save_figure(curves);
}

// The data of the tutorial: the training images (grey levels; each epoch binarises them
// anew) and one fixed binarisation of the validation and test images.
struct VaeData {
  nn::Dataset train, test;
  Tensor validation_x, test_x;
  std::string description;
};

VaeData binarised_data(const tut::ImageSplits& splits, bool quick, uint64_t seed) {
  ad::Rng binarize_rng(seed + 1);
  // (a braced list is evaluated in order: validation first, then test)
  return {.train = quick ? splits.train.first(5000) : splits.train,
          .test = splits.test,
          .validation_x = tut::binarize(splits.validation.images, binarize_rng),
          .test_x = tut::binarize(splits.test.images, binarize_rng),
          .description = splits.description};
}

void train_section(tut::Tutorial& t, vae::Vae& model, nn::Adam& adam, const VaeData& data,
                   const tut::TrainingFlags& training) {
  t.section("L10", "Training the VAE: -ELBO with L = 1, binarised pixels, Bernoulli decoder");
  t.note("data: {}", data.description);
  if (t.quick())
    t.note("--quick: 5000 training images, 1 epoch; the full run uses 50000 and 10 epochs");
  const int64_t latent = model.config().latent_dim;
  t.note("MLP 784-256-64-(2x{0}) encoder, {0}-64-256-784 decoder, ReLU, {1} parameters;", latent,
         model.parameter_count());
  t.note(
      "Adam lr {}, batch {}, {} epochs; each epoch draws a new binarisation x ~ Bernoulli(pixel)",
      training.lr, training.batch, training.epochs);
  ad::Rng rng(t.seed());
  const uint64_t seed = t.seed() + 3;
  const tut::VaeHistory h = tut::train_vae(
      model, adam, data.train,
      {.epochs = training.epochs,
       .batch_size = training.batch,
       .binarize = true,
       .seed = seed,
       .min_steps = tut::min_vae_steps_per_epoch},
      rng, [&] {
        ad::Rng eval_rng(seed + 1000);  // the same eps for every epoch's validation
        return vae::summarize(per_example(model, data.validation_x, eval_rng).loss).mean;
      });
  model.eval();
  t.note("epoch time {:.2f} s ({} images per epoch)", h.seconds_per_epoch, data.train.size());
  t.check_less("L10", "training -ELBO: last epoch < 784 log 2 (an untrained decoder's)",
               h.loss.back(), 784 * std::log(2.0));
  plot_training(t, h);

  ad::Rng eval_rng(t.seed() + 4);
  const vae::PerExampleElbo test_terms = per_example(model, data.test_x, eval_rng);
  const vae::Summary loss = vae::summarize(test_terms.loss),
                     rec = vae::summarize(test_terms.reconstruction),
                     kl = vae::summarize(test_terms.kl);
  t.note(
      "test ({} binarised images, L = 1): -ELBO {:.2f} +- {:.2f} = reconstruction {:.2f} + KL "
      "{:.2f} nats",
      data.test.size(), loss.mean, loss.se_mean, rec.mean, kl.mean);
  t.note("  (so log p(x) >= -{:.2f} nats, {:.4f} nats per pixel)", loss.mean,
         loss.mean / data.test.pixels_per_image());
}

// ---------------------------------------------------------------- L22
void bernoulli_decoder(tut::Tutorial& t, vae::Vae& model, const Tensor& x) {
  t.section("L22",
            "The Bernoulli decoder p_theta(x|z) = prod_i theta_i^x_i (1 - theta_i)^(1 - x_i)");
  t.note("log p(x|z) = sum_i x_i log theta_i + (1 - x_i) log(1 - theta_i), theta = sigmoid(l),");
  t.note("l = decoder_theta(z); here z = mu(x) of {} binarised test images", x.dim(0));
  ad::NoGrad plain;
  const Tensor logits = model.decode(model.encode(x).mu).to(ad::f64);
  const Tensor x64 = x.to(ad::f64);
  // the library: -bce_with_logits summed over the pixels of each image
  const std::vector<double> library =
      (-ad::sum(nn::bce_with_logits(logits, x64, nn::Reduction::none), -1)).to_vector();
  const std::vector<double> distribution = vae::Bernoulli{logits}.log_prob(x64).to_vector();
  // explicit loops in double
  const std::vector<double> l = logits.to_vector(), xv = x64.to_vector();
  const int64_t n = x.dim(0), d = x.dim(1);
  double total_loop = 0, total_library = 0, total_distribution = 0, total_index_d = 0;
  for (int64_t i = 0; i < n; ++i) {
    double image = 0;
    const double theta_d = 1.0 / (1.0 + std::exp(-l[i * d + d - 1]));  // the last pixel's
    for (int64_t j = 0; j < d; ++j) {
      const double theta = 1.0 / (1.0 + std::exp(-l[i * d + j]));
      image += xv[i * d + j] * std::log(theta) + (1 - xv[i * d + j]) * std::log(1 - theta);
      total_index_d +=
          xv[i * d + j] * std::log(theta) + (1 - xv[i * d + j]) * std::log(1 - theta_d);
    }
    if (i == 0)
      t.check_close("L22", "log p(x|z) of test image 0: -bce_with_logits vs loops (double)",
                    library[0], image, 1e-10);
    total_loop += image;
    total_library += library[i];
    total_distribution += distribution[i];
  }
  t.check_close("L22", "sum over the images: -bce_with_logits vs loops (double)", total_library,
                total_loop, 1e-10);
  t.check_close("L22", "sum over the images: vae::Bernoulli::log_prob vs loops (double)",
                total_distribution, total_loop, 1e-10);
  t.note("mean log p(x|z=mu) per image: {:.3f} nats ({:.4f} per pixel)", total_loop / n,
         total_loop / n / d);
  // 003's eq. (4) writes the last factor as (1 - [D_beta(z)]_d)^(1 - x_i), index d.
  t.check_true(
      "L22", "notes' slip (003, eqs. 4-5): (1 - theta_d)^(1 - x_i) is another likelihood",
      std::abs(total_index_d - total_loop) > 1e-3 * std::abs(total_loop),
      fmt::format("mean {:.3f} vs {:.3f} nats per image", total_index_d / n, total_loop / n));
  t.note("(eq. (4) and (5) of note 003 write the factor (1 - [D_beta(z)]_d)^(1 - x_i), with the");
  t.note(" last pixel's theta_d for every pixel; the product runs over theta_i, as the loops do.)");
}

// ---------------------------------------------------------------- L10
void monte_carlo_samples(tut::Tutorial& t, vae::Vae& model, const Tensor& x, int repeats,
                         int reference_L) {
  t.section("L10", "The loss with an L-sample Monte Carlo reconstruction term");
  t.note("-ELBO_L = 1/L sum_l -log p(x|z^[l]) + KL, z^[l] = mu + sigma * eps^[l]: the mean over");
  t.note("a batch of {} test images, {} repeats per L (fresh eps each time)", x.dim(0), repeats);
  ad::NoGrad plain;
  ad::Rng rng(t.seed() + 20);
  const std::vector<int> Ls = {1, 5, 20};
  std::vector<vae::Summary> stats;
  for (int L : Ls) {
    std::vector<double> values;
    for (int r = 0; r < repeats; ++r)
      values.push_back(vae::negative_elbo(model, x, rng, L).loss.item());
    stats.push_back(vae::summarize(values));
  }
  // the reference: one estimate with a large L; its standard error from the single-sample
  // spread, sd_1 / sqrt(L_ref)
  const double reference = vae::negative_elbo(model, x, rng, reference_L).loss.item();
  const double reference_se = std::sqrt(stats[0].variance / reference_L);
  t.note("reference: L = {}: {:.4f} +- {:.4f}", reference_L, reference, reference_se);
  std::vector<double> l_values, variances, expected;
  std::string csv = "L,mean,se,variance,variance_se,variance_1_over_L\n";
  for (size_t i = 0; i < Ls.size(); ++i) {
    const vae::Summary& s = stats[i];
    const double L = Ls[i];
    t.note("L = {:2}: mean {:.4f} +- {:.4f}, variance {:.5f} +- {:.5f}", Ls[i], s.mean, s.se_mean, s.variance,
           s.se_variance);
    t.check_within_se(
        "L10",
        fmt::format("mean of -ELBO_{} over repeats vs the L = {} estimate", Ls[i], reference_L),
        s.mean - reference, std::hypot(s.se_mean, reference_se), 0.0, 4.0);
    if (i > 0) {
      // var(-ELBO_L) = var(-ELBO_1) / L: both measured, their difference within 4 se
      const double predicted = stats[0].variance / L, predicted_se = stats[0].se_variance / L;
      t.check_within_se("L10",
                        fmt::format("variance with L = {}: measured {:.5f} vs var_1/L {:.5f}",
                                    Ls[i], s.variance, predicted),
                        s.variance - predicted, std::hypot(s.se_variance, predicted_se), 0.0, 4.0);
    }
    l_values.push_back(L);
    variances.push_back(s.variance);
    expected.push_back(stats[0].variance / L);
    csv +=
        fmt::format("{},{},{},{},{},{}\n", Ls[i], s.mean, s.se_mean, s.variance, s.se_variance, stats[0].variance / L);
  }
  t.save_text("loss_vs_L.csv", csv);
  tut::Plot p("variance_vs_L", "Variance of the L-sample -ELBO over repeats");
  p.xlabel("L (samples of z per image)").ylabel("variance of -ELBO_L (nats^2)").log_x().log_y();
  p.points("measured", l_values, variances);
  p.line("var_1 / L", l_values, expected, tut::LineStyle::dashed);
  t.save_figure(p);
}

// ---------------------------------------------------------------- L34
void save_graph(tut::Tutorial& t, const std::string& stem) {
  t.save_text(stem + ".dot", ad::tape().to_dot());
  const std::filesystem::path png = t.new_file(stem + ".png");
  if (tut::render_dot(t.out_path(stem + ".dot"), png)) t.note("graph drawn: {}", png.string());
}

// mu and logvar of q_phi(z|x) as leaves of their own (computed without recording), so
// their gradients can be read.
vae::DiagGaussian posterior_as_leaves(vae::Vae& model, const Tensor& x) {
  Tensor mu, logvar;
  {
    ad::NoGrad plain;
    vae::DiagGaussian q = model.encode(x);
    mu = q.mu.clone();
    logvar = q.logvar.clone();
  }
  mu.requires_grad_().named("mu");
  logvar.requires_grad_().named("logvar");
  return {mu, logvar};
}

// The first encoder weight (phi) and the last decoder weight (theta): handles whose
// gradients show which parameters a backward pass reaches.
Tensor first_encoder_weight(vae::Vae& model) { return model.encoder.parameters().front(); }
Tensor last_decoder_weight(vae::Vae& model) {
  const std::vector<Tensor> theta = model.decoder.parameters();
  return theta[theta.size() - 2];
}

// Before: z ~ q_phi(z|x) is drawn outside the tape (a constant, like a data input).
void graph_before(tut::Tutorial& t, vae::Vae& model, const Tensor& x, const Tensor& eps) {
  ad::tape().clear();
  model.zero_grad();
  const Tensor phi = first_encoder_weight(model), theta = last_decoder_weight(model);
  {
    vae::DiagGaussian q = model.encode(x);
    q.mu.named("mu");
    q.logvar.named("logvar");
    Tensor z;
    {
      ad::NoGrad plain;
      z = q.rsample_from(eps);
    }
    z.named("z (sampled)");
    Tensor rec = ad::sum(model.negative_log_likelihood(model.decode(z), x)).named("rec");
    Tensor loss = (rec + ad::sum(q.kl_to_standard())).named("-ELBO");
    save_graph(t, "graph_before_reparameterization");
    // the reconstruction term alone, on the same tape (which holds the encoder's ops for
    // the KL): does any gradient reach phi?
    ad::backward(rec);
    t.check_true("L34", "before: d rec / d phi (first encoder weight) is undefined: no path",
                 !phi.grad().defined(), phi.grad().defined() ? "a gradient arrived" : "grad undefined");
    t.check_true("L34", "before: d rec / d theta (last decoder weight) is defined",
                 theta.grad().defined());
    ad::tape().clear();
    (void)loss;
  }
  // The same with mu and logvar as leaves: no gradient reaches them either.
  const vae::DiagGaussian q = posterior_as_leaves(model, x);
  Tensor z;
  {
    ad::NoGrad plain;
    z = q.rsample_from(eps);
  }
  ad::backward(ad::sum(model.negative_log_likelihood(model.decode(z), x)));
  t.check_true("L34", "before: mu.grad after backward of -log p(x|z), z sampled off the tape",
               !q.mu.grad().defined(),
               q.mu.grad().defined() ? "defined" : "undefined, as expected");
  model.zero_grad();
  ad::tape().clear();
}

// After: z = mu + exp(logvar / 2) * eps on the tape, eps the only random input.
void graph_after(tut::Tutorial& t, vae::Vae& model, const Tensor& x, const Tensor& eps) {
  const Tensor phi = first_encoder_weight(model);
  vae::DiagGaussian q = model.encode(x);
  q.mu.named("mu");
  q.logvar.named("logvar");
  Tensor z = q.rsample_from(eps).named("z = mu + sigma*eps");
  Tensor rec = ad::sum(model.negative_log_likelihood(model.decode(z), x)).named("rec");
  Tensor loss = (rec + ad::sum(q.kl_to_standard())).named("-ELBO");
  save_graph(t, "graph_after_reparameterization");
  ad::backward(rec);
  t.check_true("L34", "after: d rec / d phi (first encoder weight) is defined: a path exists",
               phi.grad().defined());
  ad::tape().clear();
  (void)loss;
  model.zero_grad();
}

// The same step from mu and logvar on, as leaves: the reparameterization and both terms of
// -ELBO without the encoder's layers, small enough to read on a page (the whole tape is
// graph_after_reparameterization).
void graph_from_posterior(tut::Tutorial& t, vae::Vae& model, const Tensor& x, const Tensor& eps) {
  ad::tape().clear();
  const vae::DiagGaussian q = posterior_as_leaves(model, x);
  const Tensor z = q.rsample_from(eps).named("z = mu + sigma*eps");
  const Tensor rec = ad::sum(model.negative_log_likelihood(model.decode(z), x)).named("rec");
  const Tensor loss = (rec + ad::sum(q.kl_to_standard())).named("-ELBO");
  save_graph(t, "graph_loss_from_mu_logvar");
  ad::tape().clear();
  (void)loss;
}

// The check: d rec / d mu and d rec / d logvar by the tape vs central finite differences
// (eps fixed).
void reparameterized_gradients(tut::Tutorial& t, vae::Vae& model, const Tensor& x,
                               const Tensor& eps) {
  const vae::DiagGaussian q = posterior_as_leaves(model, x);
  const Tensor& mu = q.mu;
  const Tensor& logvar = q.logvar;
  auto rec_of = [&](const std::vector<Tensor>& p) {
    return ad::sum(model.negative_log_likelihood(
        model.decode(vae::DiagGaussian{p[0], p[1]}.rsample_from(eps)), x));
  };
  ad::GradcheckResult check = ad::gradcheck(rec_of, {mu.detach(), logvar.detach()});
  t.note("after: d(-log p(x|z))/d(mu, logvar), {}", check.str());
  {
    Tensor rec = rec_of({mu, logvar});
    ad::backward(rec);
    const double tape_value = mu.grad().to_vector()[0];
    ad::Tensor plus = mu.detach(), minus = mu.detach();
    const double h = 1e-6;
    plus.set_flat(0, plus.to_vector()[0] + h);
    minus.set_flat(0, minus.to_vector()[0] - h);
    ad::NoGrad plain;
    const double fd =
        (rec_of({plus, logvar.detach()}).item() - rec_of({minus, logvar.detach()}).item()) /
        (2 * h);
    t.check_close("L34", "after: d rec / d mu_1, tape vs central difference (h 1e-6)", tape_value,
                  fd, 1e-6, 1e-8);
  }
  t.check_less("L34", "after: worst error over d rec / d(mu, logvar), tape vs finite differences",
               check.worst_error, 1e-6);
  model.zero_grad();
  ad::tape().clear();
}

void computation_graphs(tut::Tutorial& t, vae::Vae& trained, const Tensor& x32) {
  t.section("L34", "The computation graph before and after reparameterization (Figures 5, 7)");
  t.note("a double copy of the trained VAE, one test image; the tape records -ELBO = rec + KL");
  ad::Rng init(t.seed() + 30);
  vae::Vae model({.input_dim = x32.dim(1),
                  .hidden = trained.config().hidden,
                  .latent_dim = trained.config().latent_dim,
                  .dtype = ad::f64},
                 init);
  copy_parameters(trained, model);
  const Tensor x = x32.to(ad::f64).named("x");
  ad::Rng noise(t.seed() + 31);
  const Tensor eps = noise.normal({x.dim(0), model.config().latent_dim}, ad::f64).named("eps");
  graph_before(t, model, x, eps);
  graph_after(t, model, x, eps);
  graph_from_posterior(t, model, x, eps);
  reparameterized_gradients(t, model, x, eps);
}

// ---------------------------------------------------------------- L36
// mu and sigma of q(z|x) of every test image, [n, k] each, in double.
struct Posteriors {
  std::vector<double> mu, logvar;
  int64_t n = 0, k = 0;
  double mu_at(int64_t i, int64_t j) const { return mu[i * k + j]; }
  double logvar_at(int64_t i, int64_t j) const { return logvar[i * k + j]; }
  double sigma_at(int64_t i, int64_t j) const { return std::exp(logvar_at(i, j) / 2); }
};

void save_posteriors(tut::Tutorial& t, const Posteriors& q, const std::vector<int64_t>& labels) {
  std::string csv = "index,label";
  for (int64_t j = 0; j < q.k; ++j) csv += fmt::format(",mu_{0},sigma_{0}", j + 1);
  csv += "\n";
  for (int64_t i = 0; i < q.n; ++i) {
    csv += fmt::format("{},{}", i, labels[i]);
    for (int64_t j = 0; j < q.k; ++j)
      csv += fmt::format(",{:.6g},{:.6g}", q.mu_at(i, j), q.sigma_at(i, j));
    csv += "\n";
  }
  t.save_text("latent_posteriors_table.csv", csv);
}

// Latent dimension j over the test images: the spread of the means and the aggregate
// variance, and the mean KL three ways (library, closed form from mu and sigma^2, Monte
// Carlo from the definition).
void latent_dimension(tut::Tutorial& t, const Posteriors& q, const Tensor& mu,
                      const Tensor& logvar, int64_t j, ad::Rng& kl_rng) {
  const double n = static_cast<double>(q.n);
  double mean_mu = 0, mean_sigma = 0, mean_var = 0, closed = 0;
  for (int64_t i = 0; i < q.n; ++i) {
    const double mu_ij = q.mu_at(i, j), var_ij = std::exp(q.logvar_at(i, j));
    mean_mu += mu_ij;
    mean_sigma += std::sqrt(var_ij);
    mean_var += var_ij;
    closed += 0.5 * (var_ij + mu_ij * mu_ij - 1 - std::log(var_ij));  // from mu and sigma^2
  }
  mean_mu /= n;
  mean_sigma /= n;
  mean_var /= n;
  closed /= n;
  double var_mu = 0;
  for (int64_t i = 0; i < q.n; ++i) var_mu += (q.mu_at(i, j) - mean_mu) * (q.mu_at(i, j) - mean_mu);
  var_mu /= n;
  t.note("z_{}: mean of mu {:+.3f}, sd of mu {:.3f}, mean sigma {:.3f}, aggregate variance {:.3f}",
         j + 1, mean_mu, std::sqrt(var_mu), mean_sigma, var_mu + mean_var);
  const double library = ad::mean(vae::kl_diag_gaussian_to_standard(
                                      ad::slice(mu, 1, j, j + 1), ad::slice(logvar, 1, j, j + 1)))
                             .item();
  t.check_close("L36",
                fmt::format("mean KL of z_{}: kl_diag_gaussian_to_standard vs closed form", j + 1),
                library, closed, 1e-10);
  // The same KL by Monte Carlo, from its definition E_q[log q(z) - log p(z)] with one
  // z = mu + sigma eps per image: an independent check of the closed form.
  vae::RunningMean log_ratio;
  for (int64_t i = 0; i < q.n; ++i) {
    const double eps = kl_rng.normal(), log_var = q.logvar_at(i, j);
    const double z = q.mu_at(i, j) + std::exp(log_var / 2) * eps;
    log_ratio.add((-0.5 * eps * eps - 0.5 * log_var) - (-0.5 * z * z));  // 2 pi cancels
  }
  t.check_within_se(
      "L36", fmt::format("mean KL of z_{}: Monte Carlo E_q[log q - log p] vs closed form", j + 1),
      log_ratio.mean(), log_ratio.se(), library, 4.0);
}

// Ellipses mu +- 2 sigma of one test image per class, in the first two dimensions.
void plot_posteriors(tut::Tutorial& t, const Posteriors& q, const nn::Dataset& test) {
  tut::Plot p("latent_posteriors", "q(z|x) of one test image per class: mu +- 2 sigma");
  p.xlabel("z_1").ylabel("z_2");
  std::vector<double> cx, cy;
  for (const int64_t i : tut::first_of_each_class(test, 1)) {
    std::vector<double> ex, ey;
    for (int a = 0; a <= 48; ++a) {
      const double angle = 2 * M_PI * a / 48;
      ex.push_back(q.mu_at(i, 0) + 2 * q.sigma_at(i, 0) * std::cos(angle));
      ey.push_back(q.mu_at(i, 1) + 2 * q.sigma_at(i, 1) * std::sin(angle));
    }
    const std::string name = test.class_names.empty() ? fmt::format("class {}", test.labels[i])
                                                      : test.class_names[test.labels[i]];
    p.line(name, ex, ey);
    cx.push_back(q.mu_at(i, 0));
    cy.push_back(q.mu_at(i, 1));
  }
  p.points("posterior means", cx, cy);
  t.save_figure(p);
}

void latent_distributions(tut::Tutorial& t, vae::Vae& model, const nn::Dataset& test,
                          const Tensor& test_x) {
  t.section("L36", "Each latent attribute as a distribution: q(z_k|x) = N(mu_k, sigma_k^2)");
  ad::NoGrad plain;
  ad::Rng kl_rng(t.seed() + 36);
  const vae::DiagGaussian q = model.encode(test_x);
  const Tensor mu = q.mu.to(ad::f64), logvar = q.logvar.to(ad::f64);
  const Posteriors posteriors{
      .mu = mu.to_vector(), .logvar = logvar.to_vector(), .n = test_x.dim(0), .k = mu.dim(1)};
  save_posteriors(t, posteriors, test.labels);
  t.note("{} test images; per dimension k: the spread of the means, the mean posterior sd,",
         posteriors.n);
  t.note("and the aggregate variance var(mu_k) + mean(sigma_k^2) (1 if q(z) matched p(z))");
  t.note("(note 004 says q_phi(z|x) 'has a Gaussian distribution (N(0,1))': it is Gaussian with");
  t.note(" the mean and variance the encoder gives each x, as the numbers below show; N(0, 1) is");
  t.note(" the prior p(z) that the KL term pulls it towards.)");
  for (int64_t j = 0; j < posteriors.k; ++j) latent_dimension(t, posteriors, mu, logvar, j, kl_rng);
  if (posteriors.k >= 2) plot_posteriors(t, posteriors, test);
}

// Codes [n, 2] -> the mean code of each class, and how far `point` is from the nearest
// code, in units of the codes' overall standard deviation (a "hole" measure).
struct Codes {
  std::vector<double> z;  // n x 2
  std::vector<std::vector<double>> centres;
  double sd = 0;
};
Codes class_centres(const Tensor& codes, const nn::Dataset& test) {
  Codes c;
  c.z = codes.to_vector();
  const int classes = test.num_classes();
  c.centres.assign(classes, {0.0, 0.0});
  std::vector<double> mean = {0, 0};
  for (int64_t i = 0; i < test.size(); ++i)
    for (int d = 0; d < 2; ++d) {
      c.centres[test.labels[i]][d] += c.z[2 * i + d];
      mean[d] += c.z[2 * i + d] / test.size();
    }
  std::vector<double> n(classes, 0.0);
  for (int64_t i = 0; i < test.size(); ++i) n[test.labels[i]] += 1;
  for (int k = 0; k < classes; ++k)
    for (int d = 0; d < 2; ++d) c.centres[k][d] /= std::max(n[k], 1.0);
  double var = 0;
  for (int64_t i = 0; i < test.size(); ++i)
    for (int d = 0; d < 2; ++d) var += std::pow(c.z[2 * i + d] - mean[d], 2) / test.size();
  c.sd = std::sqrt(var / 2);
  return c;
}
double nearest_code(const Codes& c, double a, double b) {
  double best = 1e300;
  for (size_t i = 0; i + 1 < c.z.size(); i += 2)
    best = std::min(best, std::hypot(c.z[i] - a, c.z[i + 1] - b));
  return best / c.sd;
}
// 9 points from centre a to centre b, decoded.
Tensor interpolate(const Codes& c, int a, int b, const std::function<Tensor(const Tensor&)>& dec) {
  std::vector<double> z;
  for (int s = 0; s <= 8; ++s) {
    const double u = s / 8.0;
    for (int d = 0; d < 2; ++d) z.push_back((1 - u) * c.centres[a][d] + u * c.centres[b][d]);
  }
  return dec(Tensor::from(z, {9, 2}));
}

void between_clusters(tut::Tutorial& t, vae::Vae& model, const nn::Dataset& test,
                      const Tensor& test_x, const std::string& checkpoint) {
  t.section("L35", "Autoencoder vs VAE latent space: decoding between class centres");
  if (model.config().latent_dim != 2) {
    t.note("skipped: needs --latent 2 to share tutorial 01's 2-D code");
    return;
  }
  ad::NoGrad plain;
  const std::vector<std::pair<int, int>> pairs = {{1, 9}, {0, 7}, {5, 8}};  // trouser-boot, ...
  Codes vae_codes = class_centres(model.encode(test_x).mu, test);
  std::vector<Tensor> rows;
  auto vae_decode = [&](const Tensor& z) { return model.decode_mean(z); };
  for (auto [a, b] : pairs) rows.push_back(interpolate(vae_codes, a, b, vae_decode));
  std::optional<Codes> ae_codes;
  ad::Rng ae_rng(t.seed() + 40);
  vae::Autoencoder ae(tut::autoencoder_sizes(test.pixels_per_image()), ae_rng);
  if (std::filesystem::exists(checkpoint)) {
    nn::load_checkpoint(checkpoint, ae);
    ae_codes = class_centres(ae.encode(test.images), test);
    auto ae_decode = [&](const Tensor& z) { return ae.decode(z); };
    for (auto [a, b] : pairs) rows.push_back(interpolate(*ae_codes, a, b, ae_decode));
    t.note("loaded tutorial 01's autoencoder from {}", checkpoint);
  } else {
    t.note("{} not found: run tutorial 01 first for the AE side; only the VAE is shown",
           checkpoint);
  }
  const auto& names = test.class_names;
  auto name = [&](int c) { return names.empty() ? fmt::format("class {}", c) : names[c]; };
  t.note("midpoint of two class centres: distance to the nearest test code, in code sds");
  for (auto [a, b] : pairs) {
    const double mx = (vae_codes.centres[a][0] + vae_codes.centres[b][0]) / 2,
                 my = (vae_codes.centres[a][1] + vae_codes.centres[b][1]) / 2;
    std::string line =
        fmt::format("  {} - {}: VAE {:.3f}", name(a), name(b), nearest_code(vae_codes, mx, my));
    if (ae_codes) {
      const double ax = (ae_codes->centres[a][0] + ae_codes->centres[b][0]) / 2,
                   ay = (ae_codes->centres[a][1] + ae_codes->centres[b][1]) / 2;
      line += fmt::format(", AE {:.3f}", nearest_code(*ae_codes, ax, ay));
    }
    t.note("{}", line);
  }
  nn::write_image_rows(t.new_file("between_clusters.png"), rows, {.padding = 2, .scale = 2});
  t.note("wrote {}: each row decodes 9 points from one class centre to another;",
         t.out_path("between_clusters.png").string());
  t.note("VAE rows first ({}), then the AE's if loaded",
         "trouser-boot, T-shirt-sneaker, sandal-bag");
}

// ---------------------------------------------------------------- figures
void figures(tut::Tutorial& t, vae::Vae& model, const nn::Dataset& test, const Tensor& test_x) {
  t.section("L36", "Figures: reconstructions, samples from the prior, the latent space");
  ad::NoGrad plain;
  const std::vector<int64_t> shown = tut::first_of_each_class(test, 1);
  const Tensor inputs = ad::gather(test_x, 0, shown);
  const Tensor intensities = ad::gather(test.images, 0, shown);
  tut::ImageFigure reconstructions("reconstructions",
                                   "One test image per class, and the decoder's mean at z = μ(x)");
  reconstructions.panel(nn::image_grid_rows({intensities, inputs, vae::reconstruct(model, inputs)}),
                        {.row_labels = {"grey image", "binarised x", "θ(μ(x))"}});
  t.save_figure(reconstructions);
  ad::Rng sample_rng(t.seed() + 5);
  tut::ImageFigure samples("samples", "θ(z), the decoder's mean, for 64 draws z ~ N(0, I)");
  samples.width(520).panel(nn::image_grid(vae::sample(model, 64, sample_rng), 8));
  t.save_figure(samples);
  if (model.config().latent_dim == 2) {  // the decoded plane: z on a grid over [-3, 3]^2
    std::vector<double> axis, grid;
    for (int i = 0; i < 15; ++i) axis.push_back(-3.0 + 6.0 * i / 14);
    for (int r = 0; r < 15; ++r)
      for (int c = 0; c < 15; ++c) {
        grid.push_back(axis[c]);
        grid.push_back(axis[14 - r]);  // the largest z_2 on top
      }
    const std::vector<double> top_down(axis.rbegin(), axis.rend());
    tut::ImageFigure manifold("latent_manifold", "θ(z) on a 15 × 15 grid of z over [−3, 3]²");
    manifold.width(640).panel(
        nn::image_grid(model.decode_mean(Tensor::from(grid, {225, 2})), 15, {.padding = 0}),
        {.row_labels = tut::sparse_labels(top_down, 7),
         .column_labels = tut::sparse_labels(axis, 7),
         .xlabel = "z₁",
         .ylabel = "z₂"});
    t.save_figure(manifold);
  }
}

// The posterior means of the test images in the first two latent dimensions.
void latent_scatter(tut::Tutorial& t, vae::Vae& model, const nn::Dataset& test,
                    const Tensor& test_x) {
  const int64_t latent = model.config().latent_dim;
  std::vector<double> z0, z1;
  {
    ad::NoGrad plain;
    const std::vector<double> m = model.encode(test_x).mu.to_vector();
    for (size_t i = 0; i < m.size(); i += latent) {
      z0.push_back(m[i]);
      z1.push_back(latent > 1 ? m[i + 1] : 0.0);
    }
  }
  tut::Plot scatter("latent_scatter", "VAE posterior means μ(x) of the test images, by class");
  scatter.xlabel("z₁").ylabel(latent > 1 ? "z₂" : "0").size(760, 600).equal_aspect();
  scatter.scatter_by_label("class", z0, z1, test.labels, test.class_names);
  t.save_figure(scatter);
}

}  // namespace

static int run(int argc, char** argv) {
  tut::Tutorial t("08_vae", "The variational autoencoder on binarised Fashion-MNIST");
  std::string data_dir, ae_checkpoint = "out/01_autoencoder/autoencoder.ckpt";
  tut::TrainingFlags training{.epochs = 10, .batch = 128, .lr = 1e-3};
  int latent = 2;
  tut::add_data_flag(t, data_dir);
  tut::add_training_flags(t, training);
  t.flags()
      .add_option("--latent", latent, "latent dimensions (2 lets the latent space be drawn)")
      ->check(CLI::Range(1, 64));
  t.flags().add_option("--ae-checkpoint", ae_checkpoint, "tutorial 01's autoencoder (for L35)");
  if (auto exit_code = t.parse(argc, argv)) return *exit_code;
  const bool quick = t.quick();
  if (quick && !t.given("--epochs")) training.epochs = 1;

  const auto splits = tut::load_image_splits(t, data_dir);
  if (!splits) return 1;
  const VaeData data = binarised_data(*splits, quick, t.seed());
  ad::Rng init_rng(t.seed() + 2);
  vae::Vae model(
      {.input_dim = data.train.pixels_per_image(), .hidden = tut::hidden_sizes, .latent_dim = latent},
      init_rng);
  nn::Adam adam(model, {.lr = training.lr});
  train_section(t, model, adam, data, training);

  bernoulli_decoder(t, model, ad::slice(data.test_x, 0, 0, 16));
  monte_carlo_samples(t, model, ad::slice(data.test_x, 0, 0, 8), quick ? 60 : 400,
                      quick ? 300 : 4000);
  computation_graphs(t, model, ad::slice(data.test_x, 0, 0, 1));
  latent_distributions(t, model, data.test, data.test_x);
  figures(t, model, data.test, data.test_x);
  latent_scatter(t, model, data.test, data.test_x);
  // Saved before the comparison with tutorial 01's autoencoder, which reads another
  // program's file: if that one is damaged, the trained VAE is kept all the same.
  nn::save_checkpoint(t.new_file("vae.ckpt"), model, adam);
  t.note("saved {}", t.out_path("vae.ckpt").string());
  between_clusters(t, model, data.test, data.test_x, ae_checkpoint);
  return t.finish();
}

// Any error after the flags are read ends the program with one line and exit status 1.
int main(int argc, char** argv) {
  return tut::report_errors("08_vae", [&] { return run(argc, argv); });
}
