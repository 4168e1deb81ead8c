// Tutorial 10: the importance-weighted bound (IWAE) and the conditional VAE (notes 003, 004).
//
//   L_K(x) = E[ log 1/K sum_k p(x, z_k) / q(z_k|x) ],  z_k ~ q(z|x)       (L_1 = ELBO)
//   ELBO = L_1 <= L_K <= L_{K+1} <= log p(x),   L_K -> log p(x) as K -> infinity
//
//   conditional VAE: q_phi(z|x,c), p_theta(x|z,c), p(z) = N(0, I), c one-hot
//   log p(x|c) >= E_q(z|x,c)[log p_theta(x|z,c)] - KL(q_phi(z|x,c) || N(0, I))
//
// Checked: L_K against the exact log p(x) of the linear-Gaussian model, and L_1 against
// its closed-form ELBO; on a VAE trained on binarised Fashion-MNIST, L_1 <= L_5 <= L_50 by
// paired differences over test images (L31). A CVAE trained on the same data: its
// conditional ELBO, and that the true label fits better than a wrong one (L33); images
// generated for a chosen class, and whether they are nearest to that class's mean image (L37).
//
//   build/release/tutorials/10_iwae_and_cvae [--data DIR] [--epochs 3] [--batch 128]
//       [--lr 1e-3] [--class C] [--seed 42] [--out DIR] [--quick]
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
#include "vae/cvae.h"
#include "vae/statistics.h"
#include "vae/iwae.h"
#include "vae/linear_gaussian.h"
#include "vae/mlp_vae.h"

using ad::Tensor;

namespace {

// ---------------------------------------------------------------- L31, exact model
void linear_gaussian_iwae(tut::Tutorial& t) {
  t.section("L31", "IWAE on the linear-Gaussian model, where log p(x) is exact");
  t.note("(note 003 has only the heading of its section on importance weighted autoencoders;");
  t.note(" the bound L_K = E[log 1/K sum_k p(x, z_k) / q(z_k|x)] used here is not written in the");
  t.note(" notes: it is the standard IWAE bound of Burda, Grosse and Salakhutdinov)");
  ad::Rng rng(t.seed() + 10);
  const vae::LinearGaussian model = vae::LinearGaussian::random(5, 2, 0.7, rng);
  const std::vector<double> x = model.sample_x(rng);
  const double log_px = model.log_evidence(x);
  const vae::Gaussian post = model.posterior(x);
  const double s0 = std::sqrt(post.cov(0, 0)), s1 = std::sqrt(post.cov(1, 1));
  // q: the posterior's mean moved by one posterior sd per axis, sds x2 and x1.2, diagonal
  const vae::Gaussian q =
      vae::Gaussian::diagonal({post.mean[0] + s0, post.mean[1] - s1}, {2.0 * s0, 1.2 * s1});
  const double elbo = vae::elbo(model, x, q);
  t.note(
      "d = 5, k = 2, sigma = 0.7; q = N(posterior mean + (1, -1) sd, diag((2 sd_1)^2, (1.2 "
      "sd_2)^2))");
  t.note("log p(x) = {:.5f}, closed-form ELBO = {:.5f}, KL(q || p(z|x)) = {:.5f}", log_px, elbo,
         log_px - elbo);
  const std::vector<int> Ks = {1, 2, 5, 10, 50, 100, 500};
  const int repeats = t.quick() ? 300 : 2000;
  std::vector<std::vector<double>> est(Ks.size());
  for (int r = 0; r < repeats; ++r) {
    const std::vector<double> w = vae::iwae_log_weights(model, x, q, Ks.back(), rng);
    for (size_t i = 0; i < Ks.size(); ++i)  // nested: L_K from the first K of the same draws
      est[i].push_back(vae::log_mean_exp({w.begin(), w.begin() + Ks[i]}));
  }
  std::string csv = "K,mean,se,log_px\n";
  std::vector<double> kx, means, exact;
  for (size_t i = 0; i < Ks.size(); ++i) {
    const vae::Summary m = vae::summarize(est[i]);
    t.note("K = {:3}: L_K = {:.5f} +- {:.5f}   gap log p(x) - L_K = {:.5f}", Ks[i], m.mean,
           m.se_mean, log_px - m.mean);
    csv += fmt::format("{},{},{},{}\n", Ks[i], m.mean, m.se_mean, log_px);
    kx.push_back(Ks[i]);
    means.push_back(m.mean);
    exact.push_back(log_px);
  }
  t.save_text("linear_gaussian_iwae_table.csv", csv);
  const vae::Summary l1 = vae::summarize(est[0]);
  t.check_within_se("L31", "mean of L_1 (one weight) vs the closed-form ELBO", l1.mean, l1.se_mean,
                    elbo, 4.0);
  for (auto [a, b] : std::vector<std::pair<size_t, size_t>>{{0, 2}, {2, 4}}) {
    std::vector<double> d;
    for (int r = 0; r < repeats; ++r) d.push_back(est[b][r] - est[a][r]);
    const vae::Summary m = vae::summarize(d);
    t.check_true("L31",
                 fmt::format("L_{} - L_{} > 0, paired: {:.5f} +- {:.5f} (> 4 se)", Ks[b], Ks[a],
                             m.mean, m.se_mean),
                 m.mean > 4 * m.se_mean);
  }
  const vae::Summary last = vae::summarize(est.back());
  t.check_within_se("L31", fmt::format("L_{} vs the exact log p(x)", Ks.back()), last.mean,
                    last.se_mean, log_px, 3.0);
  tut::Plot p("linear_gaussian_iwae", "IWAE bound L_K on the linear-Gaussian model");
  p.xlabel("K (importance samples)").ylabel("nats").log_x();
  p.points("L_K (mean over repeats)", kx, means);
  p.line("exact log p(x)", kx, exact, tut::LineStyle::dashed);
  p.line("closed-form ELBO", kx, std::vector<double>(kx.size(), elbo), tut::LineStyle::dashed);
  t.save_figure(p);
}

// ---------------------------------------------------------------- training
// Adam on the -ELBO of batches of binarised images (tut::train_vae: the VAE, or the
// conditional VAE given each batch's labels); returns the last epoch's mean training loss.
template <class Model>
double train_model(tut::Tutorial& t, Model& model, const nn::Dataset& data,
                   const tut::TrainingFlags& training, uint64_t seed, ad::Rng& rng) {
  nn::Adam adam(model, {.lr = training.lr});
  const tut::VaeHistory h = tut::train_vae(model, adam, data,
                                           {.epochs = training.epochs,
                                            .batch_size = training.batch,
                                            .binarize = true,
                                            .seed = seed,
                                            .min_steps = tut::min_vae_steps_per_epoch},
                                           rng);
  t.note("  {:.1f} s per epoch", h.seconds_per_epoch);
  return h.loss.back();
}

// ---------------------------------------------------------------- L31, VAE
void vae_iwae(tut::Tutorial& t, vae::Vae& model, const Tensor& test_x) {
  t.section("L31", "IWAE on the trained VAE: L_1 (ELBO) <= L_5 <= L_50 on test images");
  ad::NoGrad plain;
  ad::Rng rng(t.seed() + 20);
  const int Kmax = 50;
  const std::vector<int> Ks = {1, 2, 5, 10, 20, 50};
  const int64_t n = test_x.dim(0);
  std::vector<std::vector<double>> est(Ks.size());  // [K][image]
  for (int64_t start = 0; start < n; start += 500) {
    const Tensor xb = ad::slice(test_x, 0, start, std::min(n, start + 500));
    std::vector<Tensor> eps;
    for (int k = 0; k < Kmax; ++k) eps.push_back(rng.normal({xb.dim(0), 2}, xb.dtype()));
    const std::vector<double> w =
        vae::iwae_log_weights(model, model.encode(xb), xb, eps).to(ad::f64).to_vector();
    for (int64_t i = 0; i < xb.dim(0); ++i) {
      const std::vector<double> row(w.begin() + i * Kmax, w.begin() + (i + 1) * Kmax);
      for (size_t j = 0; j < Ks.size(); ++j)
        est[j].push_back(vae::log_mean_exp({row.begin(), row.begin() + Ks[j]}));
    }
  }
  t.note("{} binarised test images, {} eps per image; L_K from the first K (nested, paired)", n,
         Kmax);
  std::string csv = "K,mean,se,diff_from_L1,diff_se\n";
  std::vector<double> kx, means, lo, hi;
  for (size_t j = 0; j < Ks.size(); ++j) {
    const vae::Summary m = vae::summarize(est[j]);
    std::vector<double> d;
    for (int64_t i = 0; i < n; ++i) d.push_back(est[j][i] - est[0][i]);
    const vae::Summary dm = vae::summarize(d);
    t.note("K = {:2}: L_K = {:.3f} +- {:.3f} nats;  L_K - L_1 = {:.3f} +- {:.3f} (paired)", Ks[j],
           m.mean, m.se_mean, dm.mean, dm.se_mean);
    csv += fmt::format("{},{},{},{},{}\n", Ks[j], m.mean, m.se_mean, dm.mean, dm.se_mean);
    kx.push_back(Ks[j]);
    means.push_back(dm.mean);
    lo.push_back(dm.mean - 2 * dm.se_mean);
    hi.push_back(dm.mean + 2 * dm.se_mean);
  }
  t.save_text("vae_iwae.csv", csv);
  t.note("separate means overlap (their se ~ the spread between images); paired differences");
  t.note("remove that shared spread and resolve the ordering:");
  for (auto [a, b] : std::vector<std::pair<size_t, size_t>>{{0, 2}, {2, 5}}) {
    std::vector<double> d;
    for (int64_t i = 0; i < n; ++i) d.push_back(est[b][i] - est[a][i]);
    const vae::Summary m = vae::summarize(d);
    t.check_true("L31",
                 fmt::format("L_{} - L_{} > 0 on test images, paired: {:.4f} +- {:.4f} (> 4 se)",
                             Ks[b], Ks[a], m.mean, m.se_mean),
                 m.mean > 4 * m.se_mean);
  }
  tut::Plot p("vae_iwae_vs_K",
              "IWAE bound on test images: L_K − L_1, paired over the images\n"
              "dashed: ± 2 standard errors");
  p.xlabel("K (importance samples)").ylabel("L_K − L_1 (nats per image)").log_x().x_tics(kx);
  p.line("L_K − L_1", kx, means).companion_line(kx, hi).companion_line(kx, lo);
  p.legend(tut::LegendPlace::top_left);
  t.save_figure(p);
}

// ---------------------------------------------------------------- L33
void cvae_elbo(tut::Tutorial& t, vae::Cvae& model, const Tensor& test_x,
               const std::vector<int64_t>& labels, double vae_neg_elbo) {
  t.section("L33", "The conditional ELBO of the trained CVAE on test images");
  t.note(
      "conditional ELBO = E_q(z|x,c)[log p(x|z,c)] - KL(q(z|x,c) || p(z|c)), as note 004 writes");
  t.note("it. Note 003's eq. (47) takes the expectation over q(z|x); the encoder sees c, so it is");
  t.note("over q(z|x,c), as here. Both notes leave p(z|c) open; this model uses p(z|c) = N(0, I)");
  t.note("for every c (the KL below is KL(q(z|x,c) || N(0, I))).");
  ad::NoGrad plain;
  const int64_t n = test_x.dim(0);
  std::vector<double> right, wrong;
  ad::Rng rng(t.seed() + 30);
  for (int64_t start = 0; start < n; start += 500) {
    const int64_t end = std::min(n, start + 500);
    const Tensor xb = ad::slice(test_x, 0, start, end);
    std::vector<int64_t> c(labels.begin() + start, labels.begin() + end), c_wrong = c;
    for (int64_t& v : c_wrong) v = (v + 1) % model.config().num_classes;
    const Tensor eps = rng.normal({xb.dim(0), model.config().latent_dim}, xb.dtype());
    for (auto [cls, out] : {std::pair{&c, &right}, std::pair{&c_wrong, &wrong}}) {
      vae::DiagGaussian q = model.encode(xb, *cls);
      const std::vector<double> r =
          model.negative_log_likelihood(model.decode(q.rsample_from(eps), *cls), xb)
              .to(ad::f64)
              .to_vector();
      const std::vector<double> k = q.kl_to_standard().to(ad::f64).to_vector();
      for (size_t i = 0; i < r.size(); ++i) out->push_back(-(r[i] + k[i]));
    }
  }
  const vae::Summary m = vae::summarize(right);
  t.note("conditional ELBO (true label c, L = 1): {:.2f} +- {:.2f} nats per image", m.mean,
         m.se_mean);
  t.note("(the VAE above without labels: ELBO {:.2f}; log p(x|c) and log p(x) are different",
         -vae_neg_elbo);
  t.note(" quantities, log p(x|c) = log p(x) + log p(c|x) - log p(c), so this is no check)");
  std::vector<double> d;
  for (size_t i = 0; i < right.size(); ++i) d.push_back(right[i] - wrong[i]);
  const vae::Summary dm = vae::summarize(d);
  t.check_true("L33",
               fmt::format("the true label fits better than c+1 mod 10 (same eps, paired): "
                           "ELBO difference {:.2f} +- {:.2f} (> 4 se)",
                           dm.mean, dm.se_mean),
               dm.mean > 4 * dm.se_mean);
}

// ---------------------------------------------------------------- L37
// The mean training image (grey levels) of each class, [class][pixel].
std::vector<std::vector<double>> class_mean_images(const nn::Dataset& train, int classes) {
  const int64_t d = train.pixels_per_image();
  std::vector<std::vector<double>> mean(classes, std::vector<double>(d, 0.0));
  std::vector<double> count(classes, 0.0);
  const std::vector<double> pixels = train.images.to_vector();
  for (int64_t i = 0; i < train.size(); ++i) {
    count[train.labels[i]] += 1;
    for (int64_t j = 0; j < d; ++j) mean[train.labels[i]][j] += pixels[i * d + j];
  }
  for (int c = 0; c < classes; ++c)
    for (double& v : mean[c]) v /= std::max(count[c], 1.0);
  return mean;
}

// 100 images generated for each of `classes`, and the class means to compare them with.
struct GeneratedSets {
  std::vector<int> classes;
  std::vector<std::vector<double>> images;  // [set][image * d + pixel]
  std::vector<std::vector<double>> class_means;
  int64_t d = 0;
  static constexpr int64_t per_set = 100;

  // Mean squared distance of the images generated for classes[set] to the mean of class k.
  double distance(size_t set, int k) const {
    double s = 0;
    for (int64_t i = 0; i < per_set; ++i)
      for (int64_t j = 0; j < d; ++j) s += std::pow(images[set][i * d + j] - class_means[k][j], 2);
    return s / per_set;
  }
};

// One class only: how far its generated set is from its own mean and the nearest other.
void report_one_class(tut::Tutorial& t, const GeneratedSets& g, int num_classes) {
  const int c = g.classes[0];
  std::vector<double> dist(num_classes);
  for (int k = 0; k < num_classes; ++k) dist[k] = g.distance(0, k);
  double other = 1e300;
  for (int k = 0; k < num_classes; ++k)
    if (k != c) other = std::min(other, dist[k]);
  t.note("class {}: mean sq. distance to its own mean {:.1f}, to the nearest other {:.1f}", c,
         dist[c], other);
}

// Check: for each class k, of all the generated sets, the one generated with label k is
// the closest to k's mean training image (row a = k wins column k). A weaker statement
// than "nearest mean = own class", which fails here for the clothing classes
// (T-shirt, pullover, coat, ... are all nearest the Shirt mean): see the docs.
void check_sets_against_means(tut::Tutorial& t, const GeneratedSets& g, const nn::Dataset& train) {
  const int C = static_cast<int>(g.class_means.size());
  int wins = 0, nearest_own = 0;
  std::string csv = "class,dist_own_mean,closest_other_set_to_own_mean,nearest_mean_class\n";
  for (size_t a = 0; a < g.classes.size(); ++a) {
    const int k = g.classes[a];
    double own = g.distance(a, k), others = 1e300, nearest = 1e300;
    int nearest_class = -1;
    for (size_t b = 0; b < g.classes.size(); ++b)
      if (b != a) others = std::min(others, g.distance(b, k));
    for (int m = 0; m < C; ++m)
      if (const double v = g.distance(a, m); v < nearest) {
        nearest = v;
        nearest_class = m;
      }
    wins += own < others;
    nearest_own += nearest_class == k;
    const std::string name =
        train.class_names.empty() ? fmt::format("{}", k) : train.class_names[k];
    t.note("class {} ({}): its set to its mean {:.1f}, closest other set {:.1f}; nearest mean: {}",
           k, name, own, others, nearest_class);
    csv += fmt::format("{},{},{},{}\n", k, own, others, nearest_class);
  }
  t.save_text("generated_vs_class_means.csv", csv);
  t.note("{} of {} generated sets have their own class mean as the nearest mean (reported only)",
         nearest_own, g.classes.size());
  // By chance one set in ten would win a column; observed 8 of 10 (seed 42) and 6 of 10
  // (seed 7), so what is asserted is only "well above chance": at least 4 of 10. Under
  // --quick (the CVAE trains 3 epochs on 2000 images, see run): 7, 8 and 6 of 10 at seeds
  // 42, 7 and 3.
  const int needed = static_cast<int>(g.classes.size()) * 4 / 10;
  t.check_true("L37",
               fmt::format("the set generated with label k is the closest to k's mean image: "
                           "{} of {} classes (need >= {})",
                           wins, g.classes.size(), needed),
               wins >= needed);
}

void generate_classes(tut::Tutorial& t, vae::Cvae& model, const nn::Dataset& train,
                      const std::vector<int>& classes) {
  t.section("L37", "Generating a chosen class: z ~ p(z|c) = N(0, I), x = decoder(z, onehot(c))");
  ad::NoGrad plain;
  const int C = model.config().num_classes;
  GeneratedSets g{.classes = classes,
                  .images = {},
                  .class_means = class_mean_images(train, C),
                  .d = train.pixels_per_image()};
  ad::Rng rng(t.seed() + 40);
  std::vector<Tensor> rows;
  for (int c : classes) {
    rows.push_back(model.generate(c, 10, rng));
    g.images.push_back(model.generate(c, GeneratedSets::per_set, rng).to(ad::f64).to_vector());
  }
  std::vector<std::string> row_labels;
  for (int c : classes)
    row_labels.push_back(static_cast<size_t>(c) < train.class_names.size() ? train.class_names[c]
                                                                           : std::to_string(c));
  tut::ImageFigure figure("generated_by_class",
                          "CVAE: E[x | z, c] for z ~ N(0, I), one row per class c");
  figure.panel(nn::image_grid_rows(rows), {.row_labels = row_labels});
  t.save_figure(figure);
  t.note("wrote {}: row r = 10 images E[x|z,c] of class {}",
         t.out_path("generated_by_class.png").string(),
         classes.size() == 1 ? fmt::format("{}", classes[0]) : std::string("r"));
  if (classes.size() < 2)
    report_one_class(t, g, C);  // the check compares the generated sets of several classes
  else
    check_sets_against_means(t, g, train);
}

// The training and test images of this tutorial (fewer than tutorial 08's: two models are
// trained), with one fixed binarisation of the test images.
struct SmallData {
  nn::Dataset train, test;
  Tensor test_x;
};

SmallData small_data(const tut::ImageSplits& splits, bool quick, uint64_t seed) {
  SmallData d{.train = splits.train.first(quick ? 2000 : 15000),
              .test = splits.test.first(quick ? 200 : 2000),
              .test_x = {}};
  ad::Rng binarize_rng(seed + 1);
  d.test_x = tut::binarize(d.test.images, binarize_rng);
  return d;
}

double train_vae(tut::Tutorial& t, vae::Vae& model, const SmallData& data,
                 const tut::TrainingFlags& training, const std::string& description,
                 ad::Rng& rng) {
  t.section("L31", "Training a VAE as in tutorial 08 (784-256-64-2, Bernoulli decoder, L = 1)");
  t.note("data: {}; {} training images, {} epochs", description, data.train.size(),
         training.epochs);
  return train_model(t, model, data.train, training, t.seed() + 4, rng);
}

void train_cvae(tut::Tutorial& t, vae::Cvae& model, const SmallData& data,
                const tut::TrainingFlags& training, ad::Rng& rng) {
  t.section("L33", "Training a conditional VAE: [x, onehot(c)] -> z, [z, onehot(c)] -> x");
  t.note("{} training images, {} epochs", data.train.size(), training.epochs);
  train_model(t, model, data.train, training, t.seed() + 5, rng);
}

// The classes to generate: the one chosen with --class, or every class.
std::vector<int> classes_to_generate(int chosen, int num_classes) {
  if (chosen >= 0) return {chosen};
  std::vector<int> classes;
  for (int c = 0; c < num_classes; ++c) classes.push_back(c);
  return classes;
}

}  // namespace

static int run(int argc, char** argv) {
  tut::Tutorial t("10_iwae_and_cvae", "The IWAE bound and the conditional VAE");
  std::string data_dir;
  tut::TrainingFlags training{.epochs = 3, .batch = 128, .lr = 1e-3};
  int chosen = -1;
  tut::add_data_flag(t, data_dir);
  tut::add_training_flags(t, training, "training epochs of each model (--quick: 1)");
  t.flags()
      .add_option("--class", chosen, "generate only this class (default: every class)")
      ->check(CLI::Range(0, 9));
  if (auto exit_code = t.parse(argc, argv)) return *exit_code;
  if (t.quick() && !t.given("--epochs")) training.epochs = 1;
  // After one epoch on --quick's 2000 images the CVAE's classes are barely apart (the L37
  // check then passes or fails with the seed); three epochs separate them, a few seconds.
  tut::TrainingFlags cvae_training = training;
  if (t.quick() && !t.given("--epochs")) cvae_training.epochs = 3;

  linear_gaussian_iwae(t);

  const auto splits = tut::load_image_splits(t, data_dir);
  if (!splits) return 1;
  const SmallData data = small_data(*splits, t.quick(), t.seed());
  const int64_t pixels = data.train.pixels_per_image();
  ad::Rng init(t.seed() + 2), rng(t.seed() + 3);
  vae::Vae model({.input_dim = pixels, .hidden = tut::hidden_sizes, .latent_dim = 2}, init);
  const double vae_loss = train_vae(t, model, data, training, splits->description, rng);
  vae_iwae(t, model, data.test_x);

  vae::Cvae cvae({.input_dim = pixels,
                  .num_classes = data.train.num_classes(),
                  .hidden = tut::hidden_sizes,
                  .latent_dim = 2},
                 init);
  train_cvae(t, cvae, data, cvae_training, rng);
  cvae_elbo(t, cvae, data.test_x, data.test.labels, vae_loss);
  generate_classes(t, cvae, data.train, classes_to_generate(chosen, cvae.config().num_classes));
  return t.finish();
}

// Any error after the flags are read ends the program with one line and exit status 1.
int main(int argc, char** argv) {
  return tut::report_errors("10_iwae_and_cvae", [&] { return run(argc, argv); });
}
