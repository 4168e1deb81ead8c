// Tutorial 11: the Keras VAE demo the slides end with (note 000, "Demo:
// https://keras.io/examples/generative/vae/"), a convolutional VAE with a 2-D latent space,
// trained on Fashion-MNIST (L15); and the notes' claim that a VAE's latent space can be
// decoded between codes where an autoencoder's cannot, measured (L35).
//
//   encoder q_phi(z|x):   x [N,1,28,28] -> conv 3x3/2 (32) -> conv 3x3/2 (64) -> dense 16
//                         -> mu, logvar [N, 2]                      (vae::ConvVae, ReLU)
//   decoder p_theta(x|z): z -> dense 7*7*64 -> conv^T 3x3 x2 (64) -> conv^T 3x3 x2 (32)
//                         -> conv^T 3x3 (1) -> logits l,  theta = sigmoid(l)
//   loss, per image:      -ELBO = sum_i BCE(x_i, theta_i) + 1/2 sum_k (sigma_k^2 + mu_k^2 - 1 - logvar_k)
//
// As the demo: grey pixels in [0, 1] (not binarised), Adam (lr 1e-3), batch 128, one z per
// image, total / reconstruction / KL printed each epoch. Unlike the demo, which fits the
// training and test images together, the test images are held out here and only used to
// check the trained model.
//
// Checked: the trained encoder's KL in closed form against Monte Carlo; the held-out ELBO
// against the training ELBO; the reconstruction error of the convolutional VAE against the
// MLP VAE of tutorial 08 trained the same way in the same run; that the decoded 30 x 30
// manifolds are images and not noise (L15). For L35, autoencoders and VAEs with the same
// 784-256-64-2 layers, trained over several seeds: the fraction of points on straight lines
// between two test codes that lie where the test codes are (a kernel density of the codes).
//
//   build/release/tutorials/11_keras_conv_vae [--data DIR] [--epochs 5] [--batch 128]
//       [--lr 1e-3] [--seeds 5] [--seed 42] [--out DIR] [--quick]
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <numeric>
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
#include "vae/conv_vae.h"
#include "vae/mlp_vae.h"
#include "vae/statistics.h"

using ad::Tensor;

namespace {

constexpr int64_t kSide = 28, kPixels = kSide * kSide;

// The images of a data set are kept flat, [N, 784]; the convolutional VAE reads them as
// [N, 1, 28, 28] and returns [N, 1, 28, 28]. model_input and reconstruct_flat are the only
// places that know.
Tensor model_input(const vae::ConvVae&, const Tensor& flat) {
  return ad::reshape(flat, {flat.dim(0), 1, kSide, kSide});
}
Tensor model_input(const vae::Vae&, const Tensor& flat) { return flat; }

// ---------------------------------------------------------------- per-image terms
// -log p(x|z) with one z = mu + sigma eps per image, and the KL, for every image of x,
// without recording. The eps come from `eps_seed`: two models with the same latent size
// evaluated with the same seed see the same eps (a paired comparison).
template <typename Model>
vae::PerExampleElbo per_image_terms(Model& model, const Tensor& flat_x, uint64_t eps_seed) {
  ad::Rng rng(eps_seed);
  return vae::per_example_negative_elbo(model, model_input(model, flat_x), rng, 500);
}

double mean_of(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// ---------------------------------------------------------------- training
// Batches as each model reads them: [N, 1, 28, 28] for the convolutions, flat for the MLP.
nn::ImageLayout batch_layout(const vae::ConvVae&) { return nn::ImageLayout::nchw; }
nn::ImageLayout batch_layout(const vae::Vae&) { return nn::ImageLayout::flat; }

// The demo's training loop: Adam on the batch mean of -ELBO, one z per image. After each
// epoch the progress line shows the epoch's mean total loss, reconstruction and KL (as the
// demo's total_loss, reconstruction_loss, kl_loss) and -ELBO on the validation images.
template <typename Model>
tut::VaeHistory train_vae(Model& model, const nn::Dataset& train, const Tensor& validation_x,
                          const tut::TrainingFlags& s, uint64_t seed) {
  nn::Adam adam(model, {.lr = s.lr});
  ad::Rng rng(seed + 1);
  return tut::train_vae(
      model, adam, train,
      {.epochs = s.epochs, .batch_size = s.batch, .layout = batch_layout(model), .seed = seed,
       .min_steps = tut::min_vae_steps_per_epoch},
      rng, [&] { return mean_of(per_image_terms(model, validation_x, seed + 2).loss); },
      [](const tut::VaeHistory& h) {
        return fmt::format("rec {:.2f}  KL {:.3f}  val -ELBO {:.2f}", h.reconstruction.back(),
                           h.kl.back(), h.validation.back());
      });
}

std::string history_csv(const tut::VaeHistory& h) {
  std::string csv = "epoch,loss,reconstruction,kl,validation_loss\n";
  for (size_t i = 0; i < h.epochs.size(); ++i)
    csv += fmt::format("{},{:.4f},{:.4f},{:.4f},{:.4f}\n", h.epochs[i], h.loss[i],
                       h.reconstruction[i], h.kl[i], h.validation[i]);
  return csv;
}

// ---------------------------------------------------------------- L15: KL, ELBO
// KL(q(z|x) || N(0, I)) of the trained encoder, two ways, averaged over the images:
//   closed form  1/2 sum_k (sigma_k^2 + mu_k^2 - 1 - logvar_k)
//   Monte Carlo  log q(z|x) - log p(z) at one z = mu + sigma eps per image, whose mean
//                over the images estimates the same average.
void check_kl(tut::Tutorial& t, vae::ConvVae& model, const Tensor& flat_x) {
  ad::NoGrad plain;
  const vae::DiagGaussian q = model.encode(model_input(model, flat_x));
  const std::vector<double> mu = q.mu.to_vector(), logvar = q.logvar.to_vector();
  ad::Rng rng(t.seed() + 50);
  vae::RunningMean closed, monte_carlo;
  for (size_t i = 0; i < mu.size(); i += 2) {
    double kl = 0, log_ratio = 0;
    for (size_t k = i; k < i + 2; ++k) {
      kl += 0.5 * (std::exp(logvar[k]) + mu[k] * mu[k] - 1 - logvar[k]);
      const double eps = rng.normal(), z = mu[k] + std::exp(logvar[k] / 2) * eps;
      // log N(z; mu, sigma^2) - log N(z; 0, 1); the log(2 pi) terms cancel
      log_ratio += (-0.5 * eps * eps - 0.5 * logvar[k]) - (-0.5 * z * z);
    }
    closed.add(kl);
    monte_carlo.add(log_ratio);
  }
  t.note("over {} test images: mean sigma_1 {:.3f}; KL per image {:.3f} nats (closed form)",
         closed.count(), [&] {
           double s = 0;
           for (size_t i = 0; i < logvar.size(); i += 2) s += std::exp(logvar[i] / 2);
           return s / static_cast<double>(logvar.size() / 2);
         }(),
         closed.mean());
  t.check_within_se("L15", "mean KL(q(z|x) || N(0, I)): Monte Carlo E_q[log q - log p] vs closed form",
                    monte_carlo.mean(), monte_carlo.se(), closed.mean(), 4.0);
}

void check_generalisation(tut::Tutorial& t, vae::ConvVae& model, const Tensor& train_x,
                          const Tensor& test_x, double margin) {
  const vae::Summary train = vae::summarize(per_image_terms(model, train_x, t.seed() + 51).loss);
  const vae::Summary test = vae::summarize(per_image_terms(model, test_x, t.seed() + 52).loss);
  t.note("-ELBO (one z per image): {} training images {:.2f} +- {:.2f}, {} test images "
         "{:.2f} +- {:.2f} nats",
         train.n, train.mean, train.se_mean, test.n, test.mean, test.se_mean);
  const double gap = test.mean - train.mean;
  t.check_true("L15",
               fmt::format("held-out -ELBO within {:.0f}% of the training -ELBO (no overfit)",
                           100 * margin),
               std::abs(gap) <= margin * train.mean,
               fmt::format("test - train {:+.2f} nats ({:+.2f}%), allowed +-{:.2f}", gap,
                           100 * gap / train.mean, margin * train.mean));
}

// ---------------------------------------------------------------- L15: conv vs MLP
// E[x | z = mu(x)] of each image, flat [N, 784].
Tensor reconstruct_flat(vae::ConvVae& model, const Tensor& flat) {
  return ad::reshape(vae::reconstruct(model, model_input(model, flat)), {flat.dim(0), kPixels});
}
Tensor reconstruct_flat(vae::Vae& model, const Tensor& flat) { return vae::reconstruct(model, flat); }

// ||x - E[x | z = mu(x)]||^2, the mean over the images.
template <typename Model>
double squared_error_per_image(Model& model, const Tensor& flat_x) {
  ad::NoGrad plain;
  return ad::sum(ad::pow(reconstruct_flat(model, flat_x) - flat_x, 2)).item() /
         static_cast<double>(flat_x.dim(0));
}

// The same test images and the same eps for both models: per image, the difference of
// the reconstruction terms -log p(x|z); and the squared error of the decoded mean at
// z = mu(x), printed beside it.
void compare_with_mlp(tut::Tutorial& t, vae::ConvVae& conv, vae::Vae& mlp, const Tensor& test_x,
                      int epochs) {
  const vae::PerExampleElbo c = per_image_terms(conv, test_x, t.seed() + 53);
  const vae::PerExampleElbo m = per_image_terms(mlp, test_x, t.seed() + 53);  // the same eps
  const vae::Summary d = vae::summarize(vae::differences(m.reconstruction, c.reconstruction));
  t.note("test images, one z per image: reconstruction -log p(x|z) conv {:.2f}, MLP {:.2f};",
         mean_of(c.reconstruction), mean_of(m.reconstruction));
  t.note("  KL conv {:.3f}, MLP {:.3f}; -ELBO conv {:.2f}, MLP {:.2f} nats", mean_of(c.kl),
         mean_of(m.kl), mean_of(c.loss), mean_of(m.loss));
  t.note("  squared error ||x - E[x|z = mu(x)]||^2 per image: conv {:.2f}, MLP {:.2f}",
         squared_error_per_image(conv, test_x), squared_error_per_image(mlp, test_x));
  if (t.quick()) {  // after one short epoch the order is not settled; both must have learned
    t.note("MLP - conv {:+.2f} +- {:.2f} nats per image (--quick: not compared)", d.mean, d.se_mean);
    t.check_less("L15", "conv VAE reconstruction < 784 log 2 (coin flips for every pixel)",
                 mean_of(c.reconstruction), kPixels * std::log(2.0));
    t.check_less("L15", "MLP VAE reconstruction < 784 log 2", mean_of(m.reconstruction),
                 kPixels * std::log(2.0));
    return;
  }
  // Which model reconstructs better is measured, not assumed: the check is that the paired
  // difference is resolved, larger than 4 standard errors, and the line says which way.
  const char* lower = d.mean > 0 ? "the conv VAE's is lower" : "the MLP VAE's is lower";
  t.check_true("L15", "reconstruction error, conv VAE vs MLP VAE: the paired difference exceeds 4 se",
               std::abs(d.mean) > 4 * d.se_mean,
               fmt::format("MLP - conv {:+.2f} +- {:.2f} nats per image: {}", d.mean, d.se_mean,
                           lower));
  if (d.mean < 0) {
    t.note("so the convolutional VAE does not reconstruct better than the MLP after {} epochs", epochs);
    t.note("(it learns more slowly per epoch: docs/11_keras_conv_vae.md says what was measured)");
  }
}

// ---------------------------------------------------------------- L15: the manifold
// Phi^-1(p), the standard normal quantile, by bisection on Phi(x) = erfc(-x / sqrt 2) / 2:
// slow but plainly right, and 60 calls are all that is needed.
double normal_quantile(double p) {
  double lo = -10, hi = 10;
  for (int i = 0; i < 200; ++i) {
    const double mid = (lo + hi) / 2;
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

// The codes of an n x n grid, row by row from the top (z_2 falls down the rows, as in
// the demo's plot, where grid_y is reversed), with the coordinates `axis` on both axes.
Tensor grid_codes(const std::vector<double>& axis) {
  const int64_t n = static_cast<int64_t>(axis.size());
  std::vector<double> z;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < n; ++c) {
      z.push_back(axis[c]);
      z.push_back(axis[n - 1 - r]);
    }
  return Tensor::from(z, {n * n, 2});
}

// How an image looks in three numbers: its mean intensity, the spread of its pixels, and
// its roughness, the mean |difference| between horizontal and vertical neighbours (about
// 1/3 for uniform noise, small for clothes).
struct Look {
  double mean = 0, spread = 0, roughness = 0;
};
Look look_of(const double* p) {
  Look l;
  for (int64_t i = 0; i < kPixels; ++i) l.mean += p[i] / kPixels;
  double rough = 0;
  for (int64_t i = 0; i < kPixels; ++i) l.spread += (p[i] - l.mean) * (p[i] - l.mean) / kPixels;
  for (int64_t r = 0; r < kSide; ++r)
    for (int64_t c = 0; c + 1 < kSide; ++c)
      rough += std::abs(p[r * kSide + c + 1] - p[r * kSide + c]) +
               std::abs(p[(c + 1) * kSide + r] - p[c * kSide + r]);
  l.spread = std::sqrt(l.spread);
  l.roughness = rough / (2 * kSide * (kSide - 1));
  return l;
}
std::vector<Look> looks_of(const Tensor& images) {
  std::vector<Look> looks;
  for (int64_t start = 0; start < images.dim(0); start += 1000) {
    const std::vector<double> v =
        ad::slice(images, 0, start, std::min(images.dim(0), start + 1000)).to_vector();
    for (size_t i = 0; i < v.size(); i += kPixels) looks.push_back(look_of(&v[i]));
  }
  return looks;
}

// The range of the training images' looks: an image "looks like data" when its mean and
// spread lie within the data's [min, max] and it is no rougher than the roughest image.
struct LookRange {
  Look low{1e9, 1e9, 1e9}, high{-1e9, -1e9, -1e9};
  bool contains(const Look& l) const {
    return l.mean >= low.mean && l.mean <= high.mean && l.spread >= low.spread &&
           l.spread <= high.spread && l.roughness <= high.roughness;
  }
  int count_inside(const std::vector<Look>& looks) const {
    return static_cast<int>(std::count_if(looks.begin(), looks.end(),
                                          [&](const Look& l) { return contains(l); }));
  }
};
LookRange range_of(const std::vector<Look>& looks) {
  LookRange r;
  for (const Look& l : looks) {
    r.low = {std::min(r.low.mean, l.mean), std::min(r.low.spread, l.spread),
             std::min(r.low.roughness, l.roughness)};
    r.high = {std::max(r.high.mean, l.mean), std::max(r.high.spread, l.spread),
              std::max(r.high.roughness, l.roughness)};
  }
  return r;
}

// ---------------------------------------------------------------- the density of codes
// Where do the codes of real images lie? The density of a set of 2-D codes is estimated
// with a Gaussian kernel of width h_d = sd_d n^(-1/6) on each axis (Scott's rule in 2-D),
// so it is measured in the codes' own units and an autoencoder's arbitrary scale does not
// matter. A point counts as "in the data" when the density there is at least the density
// at the 5% least typical codes themselves (each left out of its own estimate).
class CodeDensity {
 public:
  explicit CodeDensity(std::vector<double> z) : z_(std::move(z)) {
    const double n = static_cast<double>(z_.size() / 2);
    for (int d = 0; d < 2; ++d) {
      double mean = 0, var = 0;
      for (size_t i = d; i < z_.size(); i += 2) mean += z_[i] / n;
      for (size_t i = d; i < z_.size(); i += 2) var += (z_[i] - mean) * (z_[i] - mean) / (n - 1);
      h_[d] = std::sqrt(var) * std::pow(n, -1.0 / 6);
    }
    std::vector<double> at_codes;
    for (size_t i = 0; i < z_.size(); i += 2) at_codes.push_back(at(z_[i], z_[i + 1], i / 2));
    std::sort(at_codes.begin(), at_codes.end());
    threshold_ = at_codes[at_codes.size() / 20];
  }
  // The kernel density at (a, b), leaving out code `skip` (none if -1).
  double at(double a, double b, int64_t skip = -1) const {
    double sum = 0;
    for (size_t i = 0; i < z_.size(); i += 2) {
      if (static_cast<int64_t>(i / 2) == skip) continue;
      const double u = (a - z_[i]) / h_[0], v = (b - z_[i + 1]) / h_[1];
      sum += std::exp(-0.5 * (u * u + v * v));
    }
    return sum / (2 * M_PI * h_[0] * h_[1] * static_cast<double>(z_.size() / 2));
  }
  bool in_data(double a, double b) const { return at(a, b) >= threshold_; }
  // The integral of the density over the plane by the midpoint rule on a 120 x 120 grid
  // reaching 5 bandwidths past the codes: 1 if the kernels are normalised right.
  double integral() const {
    std::array<double, 2> low{1e300, 1e300}, high{-1e300, -1e300};
    for (size_t i = 0; i < z_.size(); ++i) {
      low[i % 2] = std::min(low[i % 2], z_[i] - 5 * h_[i % 2]);
      high[i % 2] = std::max(high[i % 2], z_[i] + 5 * h_[i % 2]);
    }
    constexpr int cells = 120;
    const double w0 = (high[0] - low[0]) / cells, w1 = (high[1] - low[1]) / cells;
    double sum = 0;
    for (int r = 0; r < cells; ++r)
      for (int c = 0; c < cells; ++c) sum += at(low[0] + (c + 0.5) * w0, low[1] + (r + 0.5) * w1);
    return sum * w0 * w1;
  }

 private:
  std::vector<double> z_;  // n codes, (z_1, z_2) after each other
  std::array<double, 2> h_{};
  double threshold_ = 0;
};

// A decoded n x n grid as a figure panel: z_1 under the columns, z_2 beside the rows
// (grid_codes puts the largest z_2 on top).
tut::PanelLabels manifold_labels(std::string title, const std::vector<double>& axis) {
  std::vector<double> top_down(axis.rbegin(), axis.rend());
  return {.title = std::move(title),
          .row_labels = tut::sparse_labels(top_down),
          .column_labels = tut::sparse_labels(axis),
          .xlabel = "z₁",
          .ylabel = "z₂"};
}

// Decodes the demo's grid over [-1, 1]^2 and the normal-quantile grid and writes both side
// by side. Checks that every cell of the demo's grid looks like a training image
// (`data_look`); counts the cells of the quantile grid that do, among the test images'
// codes (`codes`) and outside them. Under --quick (one short epoch, not yet images) only
// checks that the test itself rejects noise.
void decoded_manifolds(tut::Tutorial& t, vae::ConvVae& model, const CodeDensity& codes,
                       const LookRange& data_look) {
  constexpr int64_t n = 30;  // the demo's plot_latent_space(vae, n=30, scale=1.0)
  std::vector<double> linear, quantiles;
  for (int64_t i = 0; i < n; ++i) {
    linear.push_back(-1.0 + 2.0 * static_cast<double>(i) / (n - 1));  // np.linspace(-1, 1, 30)
    quantiles.push_back(normal_quantile((static_cast<double>(i) + 0.5) / n));
  }
  ad::NoGrad plain;
  const Tensor demo_z = grid_codes(linear), aevb_z = grid_codes(quantiles);
  const Tensor demo = model.decode_mean(demo_z), aevb = model.decode_mean(aevb_z);
  nn::write_image_grid(t.new_file("manifold_demo_scale.png"), demo, n, {.padding = 0});
  nn::write_image_grid(t.new_file("manifold_normal_quantiles.png"), aevb, n, {.padding = 0});
  tut::ImageFigure both("manifolds_side_by_side",
                        "The decoder's mean θ(z) on two 30 × 30 grids of z");
  both.width(800)
      .panel(nn::image_grid(demo, n, {.padding = 0}),
             manifold_labels("z on [−1, 1]² (the demo)", linear))
      .panel(nn::image_grid(aevb, n, {.padding = 0}),
             manifold_labels("z on normal quantiles Φ⁻¹((i + ½) / 30)", quantiles));
  t.save_figure(both);
  t.note("wrote {}: left z on np.linspace(-1, 1, 30)^2 (the demo),",
         t.out_path("manifolds_side_by_side.png").string());
  t.note("  right z_i = Phi^-1((i + 1/2) / 30), from {:.2f} to {:.2f}: each cell holds 1/900 of the",
         quantiles.front(), quantiles.back());
  t.note("  prior's mass (the AEVB paper's way)");

  t.note("training images: mean intensity {:.3f} .. {:.3f}, pixel sd {:.3f} .. {:.3f}, roughness <= {:.3f}",
         data_look.low.mean, data_look.high.mean, data_look.low.spread, data_look.high.spread,
         data_look.high.roughness);
  // The test must reject what is not an image: uniform noise.
  ad::Rng rng(t.seed() + 60);
  std::vector<double> noise(n * n * kPixels);
  for (double& p : noise) p = rng.uniform();
  const int inside_noise = data_look.count_inside(looks_of(Tensor::from(noise, {n * n, kPixels})));
  t.check_true("L15", "the test rejects noise: no image of uniform noise looks like data",
               inside_noise == 0, fmt::format("{} of {} pass", inside_noise, n * n));
  // The demo's grid: every cell must look like an image.
  const int demo_images = data_look.count_inside(looks_of(demo));
  if (t.quick())
    t.note("[-1, 1]^2 grid: {} of {} cells look like a training image (--quick: one short epoch, "
           "not checked)", demo_images, n * n);
  else
    t.check_true("L15", "every cell of the demo's [-1, 1]^2 grid looks like a training image",
                 demo_images == n * n, fmt::format("{} of {} cells", demo_images, n * n));
  // The quantile grid reaches where the prior has mass, also where the encoder put no
  // codes: counted and located, not checked (that difference is what the figure shows).
  const std::vector<double> zv = aevb_z.to_vector();
  const std::vector<Look> looks = looks_of(aevb);
  int in_data = 0, in_data_images = 0, outside = 0, outside_images = 0;
  std::string not_images;
  for (size_t i = 0; i < looks.size(); ++i) {
    const bool image = data_look.contains(looks[i]);
    const bool among_codes = codes.in_data(zv[2 * i], zv[2 * i + 1]);
    in_data += among_codes;
    in_data_images += among_codes && image;
    outside += !among_codes;
    outside_images += !among_codes && image;
    if (!image)
      not_images += fmt::format(" ({:.2f}, {:.2f}){}", zv[2 * i], zv[2 * i + 1], among_codes ? "*" : "");
  }
  t.note("normal-quantile grid: {} of {} cells look like a training image; among the test codes",
         in_data_images + outside_images, n * n);
  t.note("  {} of {}, outside them {} of {}", in_data_images, in_data, outside_images, outside);
  const int others = n * n - in_data_images - outside_images;
  if (others > 0 && others <= 30)
    t.note("  the others, z = (z_1, z_2) (* among the codes):{}", not_images);
}

void latent_scatter(tut::Tutorial& t, vae::ConvVae& model, const nn::Dataset& test) {
  std::vector<double> z1, z2;
  {
    ad::NoGrad plain;
    const std::vector<double> mu = model.encode(model_input(model, test.images)).mu.to_vector();
    for (size_t i = 0; i < mu.size(); i += 2) {
      z1.push_back(mu[i]);
      z2.push_back(mu[i + 1]);
    }
  }
  tut::Plot p("latent_scatter", "Encoder means μ(x) of the test images, by class");
  p.xlabel("z₁").ylabel("z₂").size(760, 600).equal_aspect();
  p.scatter_by_label("class", z1, z2, test.labels, test.class_names);
  // the regions the two manifolds cover
  const double q = normal_quantile(59.0 / 60);
  p.line("[−1, 1]² (the demo's grid)", std::vector<double>{-1, 1, 1, -1, -1},
         std::vector<double>{-1, -1, 1, 1, -1});
  p.line("normal-quantile grid", std::vector<double>{-q, q, q, -q, -q},
         std::vector<double>{-q, -q, q, q, -q}, tut::LineStyle::dashed);
  t.save_figure(p);
}

// ---------------------------------------------------------------- L35
// Note 003: an autoencoder's codes "may not be contiguous ... huge empty spaces where the
// labeling may be ambiguous and not allow us to interpolate effectively"; the VAE's are
// "contiguous while still being distinct. This allows smooth interpolation".
// Measured: how much of a straight line between two codes runs in the data (CodeDensity).
constexpr int kLinePoints = 15;  // u = 1/16, ..., 15/16 on each line (the ends are codes)

// For each pair (i, j) of points of `z` (n points, (z_1, z_2) after each other): the
// fraction of the inner points of the line from point i to point j that are in the data.
std::vector<double> fractions_in_data(const CodeDensity& density, const std::vector<double>& z,
                                      const std::vector<std::pair<int64_t, int64_t>>& pairs) {
  std::vector<double> fractions;
  for (auto [i, j] : pairs) {
    int inside = 0;
    for (int k = 1; k <= kLinePoints; ++k) {
      const double u = k / (kLinePoints + 1.0);
      inside += density.in_data((1 - u) * z[2 * i] + u * z[2 * j],
                                (1 - u) * z[2 * i + 1] + u * z[2 * j + 1]);
    }
    fractions.push_back(static_cast<double>(inside) / kLinePoints);
  }
  return fractions;
}

// The autoencoder of tutorial 01, trained on the notes' cost, one line per epoch.
void train_autoencoder(vae::Autoencoder& ae, const nn::Dataset& train, const tut::TrainingFlags& s,
                       uint64_t seed) {
  nn::Adam adam(ae, {.lr = s.lr});
  tut::train_epochs(
      adam, train, {.epochs = s.epochs, .batch_size = s.batch, .seed = seed},
      [&](const nn::Batch& batch) { return ae.cost(batch.x, batch.x); },
      [](int) { return std::string("(sum of squares per image)"); });
}

struct LatentLines {
  std::vector<double> random_pairs, class_centres;  // one fraction per trained model
};

// The codes z of the first images of `test`, followed by the mean code of each class.
std::vector<double> with_class_centres(const std::vector<double>& z, const nn::Dataset& test) {
  std::vector<double> out = z;
  const int classes = test.num_classes();
  std::vector<double> sum(2 * classes, 0.0), count(classes, 0.0);
  for (size_t i = 0; i < z.size() / 2; ++i) {
    sum[2 * test.labels[i]] += z[2 * i];
    sum[2 * test.labels[i] + 1] += z[2 * i + 1];
    count[test.labels[i]] += 1;
  }
  for (int c = 0; c < classes; ++c)
    for (int d = 0; d < 2; ++d) out.push_back(sum[2 * c + d] / std::max(count[c], 1.0));
  return out;
}

// What L35 measures on every model: the same 400 random pairs of test codes and the same
// pairs of class centres (indices past the n codes).
struct LinePairs {
  int64_t n = 0;        // test codes used
  nn::Dataset codes_of;  // their images and labels
  std::vector<std::string> class_names;
  std::vector<std::pair<int64_t, int64_t>> random, centres;
};
LinePairs line_pairs(const tut::Tutorial& t, const nn::Dataset& test) {
  LinePairs lp;
  lp.n = std::min<int64_t>(test.size(), 5000);
  lp.codes_of = test.first(lp.n);
  lp.class_names = test.class_names;
  ad::Rng pair_rng(t.seed() + 70);
  while (lp.random.size() < 400) {
    const auto i = static_cast<int64_t>(pair_rng.uniform() * lp.n),
               j = static_cast<int64_t>(pair_rng.uniform() * lp.n);
    if (i != j) lp.random.emplace_back(i, j);
  }
  const int classes = test.num_classes();
  for (int a = 0; a < classes; ++a)
    for (int b = a + 1; b < classes; ++b) lp.centres.emplace_back(lp.n + a, lp.n + b);
  return lp;
}

// For the first seed's models: the density check, the scatter of the codes, and the decoded
// lines (9 points each) between three pairs of class centres, appended to `rows`.
void first_seed_figures(tut::Tutorial& t, const LinePairs& lp, const std::string& name,
                        const CodeDensity& density, const std::vector<double>& z,
                        const std::vector<double>& centres_z, std::vector<Tensor>& rows,
                        const std::function<Tensor(const Tensor&)>& decode) {
  t.check_close("L35", fmt::format("the {} codes' kernel density integrates to 1 (midpoint rule)", name),
                density.integral(), 1.0, 1e-3);
  ad::NoGrad plain;
  for (auto [a, b] : std::vector<std::pair<int, int>>{{1, 9}, {0, 7}, {5, 8}}) {
    std::vector<double> line;
    for (int k = 0; k <= 8; ++k)
      for (int d = 0; d < 2; ++d)
        line.push_back((1 - k / 8.0) * centres_z[2 * (lp.n + a) + d] +
                       k / 8.0 * centres_z[2 * (lp.n + b) + d]);
    rows.push_back(decode(Tensor::from(line, {9, 2})));
  }
  std::vector<double> z1, z2;
  for (size_t i = 0; i < z.size(); i += 2) {
    z1.push_back(z[i]);
    z2.push_back(z[i + 1]);
  }
  tut::Plot p("codes_" + name, name + " codes of " + std::to_string(lp.n) + " test images");
  p.xlabel("z₁").ylabel("z₂").size(760, 600).equal_aspect();
  p.scatter_by_label("class", z1, z2, lp.codes_of.labels, lp.class_names);
  t.save_figure(p);
}

// One model's codes z: the fraction of each line that runs through the data, printed, added to
// `into` and to the CSV; for seed 0 also first_seed_figures.
void measure_lines(tut::Tutorial& t, const LinePairs& lp, const std::string& name, int seed,
                   const std::vector<double>& z, LatentLines& into, std::string& csv,
                   std::vector<Tensor>& rows, const std::function<Tensor(const Tensor&)>& decode) {
  const CodeDensity density(z);
  const vae::Summary random = vae::summarize(fractions_in_data(density, z, lp.random));
  // the class centres are points in the plane, not codes of the density
  const std::vector<double> centres_z = with_class_centres(z, lp.codes_of);
  const double centres = mean_of(fractions_in_data(density, centres_z, lp.centres));
  into.random_pairs.push_back(random.mean);
  into.class_centres.push_back(centres);
  t.note("{} seed {}: lines between random test codes {:.3f} +- {:.3f} in the data; between "
         "class centres {:.3f}",
         name, seed, random.mean, random.se_mean, centres);
  csv += fmt::format("{},{},{:.4f},{:.4f},{:.4f}\n", name, seed, random.mean, random.se_mean,
                     centres);
  if (seed == 0) first_seed_figures(t, lp, name, density, z, centres_z, rows, decode);
}

// The decoded class-centre lines of the first seed's models as one image, VAE rows first,
// and how many of them look like a training image.
void save_centre_lines(tut::Tutorial& t, std::vector<Tensor> rows, const LookRange& data_look) {
  std::rotate(rows.begin(), rows.begin() + 3, rows.end());  // the VAE's three lines first
  nn::write_image_rows(t.new_file("between_class_centres.png"), rows, {.padding = 2, .scale = 2});
  t.note("wrote {}: 9 decoded points from one class centre to another (trouser - ankle boot,",
         t.out_path("between_class_centres.png").string());
  t.note("  T-shirt - sneaker, sandal - bag); the VAE's three rows first, then the autoencoder's");
  const std::vector<Tensor> vae_rows(rows.begin(), rows.begin() + 3),
      ae_rows(rows.begin() + 3, rows.end());
  auto looks_inside = [&](const std::vector<Tensor>& r) {
    int inside = 0;
    for (const Tensor& x : r) inside += data_look.count_inside(looks_of(x));
    return inside;
  };
  t.note("  decodings that look like a training image (L15's test): VAE {} of 27, autoencoder {} of 27",
         looks_inside(vae_rows), looks_inside(ae_rows));
}

// The L35 claim over the seeds: lines between VAE codes run through the data more.
void compare_lines(tut::Tutorial& t, const LatentLines& vae_lines, const LatentLines& ae_lines,
                   int seeds) {
  const vae::Summary v = vae::summarize(vae_lines.random_pairs),
                     a = vae::summarize(ae_lines.random_pairs);
  const double difference = v.mean - a.mean, se = std::hypot(v.se_mean, a.se_mean);
  const double worst_vae = *std::min_element(vae_lines.random_pairs.begin(), vae_lines.random_pairs.end());
  const double best_ae = *std::max_element(ae_lines.random_pairs.begin(), ae_lines.random_pairs.end());
  t.note("over {} seeds: VAE {:.3f} +- {:.3f}, autoencoder {:.3f} +- {:.3f} (se over seeds)", seeds,
         v.mean, v.se_mean, a.mean, a.se_mean);
  t.note("class centres: VAE {:.3f}, autoencoder {:.3f} (mean over seeds)",
         mean_of(vae_lines.class_centres), mean_of(ae_lines.class_centres));
  if (t.quick()) {
    t.note("--quick: one short epoch on 2000 images has not yet formed the clusters; not compared");
    return;
  }
  t.check_true("L35",
               "lines between test codes run through the data more for the VAE than the AE "
               "(difference > 4 se over seeds)",
               difference > 4 * se,
               fmt::format("VAE - AE {:+.3f} +- {:.3f}; worst VAE {:.3f}, best AE {:.3f}",
                           difference, se, worst_vae, best_ae));
}

void latent_space_lines(tut::Tutorial& t, const nn::Dataset& train, const Tensor& validation_x,
                        const nn::Dataset& test, const tut::TrainingFlags& s, int seeds,
                        const LookRange& data_look) {
  const LinePairs lp = line_pairs(t, test);
  const Tensor test_x = ad::slice(test.images, 0, 0, lp.n);
  LatentLines ae_lines, vae_lines;
  std::string csv = "model,seed,random_pairs,random_pairs_se,class_centres\n";
  std::vector<Tensor> rows;  // decoded lines of the first seed's models, for the figure
  for (int seed = 0; seed < seeds; ++seed) {
    ad::Rng init(t.seed() + 100 + seed);
    vae::Autoencoder ae(tut::autoencoder_sizes(kPixels), init);
    vae::Vae model({.input_dim = kPixels, .hidden = tut::hidden_sizes, .latent_dim = 2}, init);
    t.note("seed {}: the autoencoder (784-256-64-2, the notes' squared error), then the VAE", seed);
    train_autoencoder(ae, train, s, t.seed() + 110 + seed);
    train_vae(model, train, validation_x, s, t.seed() + 120 + seed);
    ad::NoGrad plain;
    measure_lines(t, lp, "autoencoder", seed, ae.encode(test_x).to_vector(), ae_lines, csv, rows,
                  [&](const Tensor& z) { return ae.decode(z); });
    measure_lines(t, lp, "VAE", seed, model.encode(test_x).mu.to_vector(), vae_lines, csv, rows,
                  [&](const Tensor& z) { return model.decode_mean(z); });
  }
  t.save_text("latent_lines.csv", csv);
  save_centre_lines(t, rows, data_look);
  compare_lines(t, vae_lines, ae_lines, seeds);
}

}  // namespace

// L15: the demo's model trained as the demo trains it, its loss curves and checkpoint.
void train_demo(tut::Tutorial& t, vae::ConvVae& conv, const nn::Dataset& train,
                const Tensor& validation_x, const tut::TrainingFlags& s) {
  t.note("grey pixels in [0, 1] as in the demo; trained on {} training images, the test images",
         train.size());
  t.note("held out (the demo fits training and test images together; here they check the model)");
  if (t.quick()) t.note("--quick: 2000 training images and 1 epoch");
  t.note("{} parameters (Keras's summary: encoder 69,076 + decoder 65,089); Adam lr {}, batch {}, {} epochs",
         conv.parameter_count(), s.lr, s.batch, s.epochs);
  const tut::VaeHistory h = train_vae(conv, train, validation_x, s, t.seed() + 1);
  t.note("{:.1f} s per epoch", h.seconds_per_epoch);
  t.save_text("conv_vae_history.csv", history_csv(h));
  tut::Plot curves("loss_curves", "Convolutional VAE: -ELBO = reconstruction + KL (nats per image)");
  curves.xlabel("epoch").ylabel("nats per image").log_y();
  curves.line("total loss (train)", h.epochs, h.loss);
  curves.line("reconstruction (train)", h.epochs, h.reconstruction);
  curves.line("KL (train)", h.epochs, h.kl);
  curves.line("-ELBO (validation)", h.epochs, h.validation, tut::LineStyle::dashed);
  t.save_figure(curves);
  nn::save_checkpoint(t.new_file("conv_vae.ckpt"), conv);
}

// L15: the MLP VAE of tutorial 08 trained the same way, against the convolutional one.
void convolutions_or_not(tut::Tutorial& t, vae::ConvVae& conv, const nn::Dataset& train,
                         const Tensor& validation_x, const Tensor& test_x,
                         const tut::TrainingFlags& s) {
  ad::Rng mlp_init(t.seed() + 2);
  vae::Vae mlp({.input_dim = kPixels, .hidden = tut::hidden_sizes, .latent_dim = 2}, mlp_init);
  t.note("MLP 784-256-64-(2x2), {} parameters, grey pixels, the same loss, epochs and batches",
         mlp.parameter_count());
  const tut::VaeHistory mh = train_vae(mlp, train, validation_x, s, t.seed() + 1);
  t.note("{:.1f} s per epoch", mh.seconds_per_epoch);
  t.save_text("mlp_vae_history.csv", history_csv(mh));
  compare_with_mlp(t, conv, mlp, test_x, s.epochs);
}

int main(int argc, char** argv) {
  tut::Tutorial t("11_keras_conv_vae", "The Keras VAE demo: a convolutional VAE with a 2-D latent");
  std::string data_dir;
  tut::TrainingFlags s{.epochs = 5};
  int seeds = 5;
  tut::add_data_flag(t, data_dir);
  tut::add_training_flags(t, s, "training epochs of every model (the demo: 30; --quick: 1)");
  t.flags()
      .add_option("--seeds", seeds, "models of each kind trained for L35 (--quick: 2)")
      ->check(CLI::Range(2, 20))
      ->capture_default_str();
  if (auto exit_code = t.parse(argc, argv)) return *exit_code;
  if (t.quick()) {
    s.epochs = 1;
    seeds = 2;
  }

  auto data = tut::load_image_splits(t, data_dir);
  if (!data) return 1;
  const nn::Dataset train = t.quick() ? data->train.first(2000) : data->train;
  const nn::Dataset& test = data->test;
  const Tensor& validation_x = data->validation.images;
  const Tensor test_x = test.images;
  const Tensor train_x = train.first(test.size()).images;

  t.section("L15", "The Keras demo: a convolutional VAE with a 2-D latent space");
  t.note("data: {}", data->description);
  ad::Rng init(t.seed());
  vae::ConvVae conv({.latent_dim = 2}, init);
  train_demo(t, conv, train, validation_x, s);

  t.section("L15", "The trained encoder: KL in closed form and by Monte Carlo");
  check_kl(t, conv, test_x);
  t.section("L15", "Held-out images: the ELBO does not overfit at this size");
  check_generalisation(t, conv, train_x, test_x, 0.02);

  t.section("L15", "Convolutions or not: the MLP VAE of tutorial 08, trained the same way");
  convolutions_or_not(t, conv, train, validation_x, test_x, s);

  t.section("L15", "The figures of the demo: latent scatter and the decoded manifold");
  latent_scatter(t, conv, test);
  const LookRange data_look = range_of(looks_of(train.images));
  {
    ad::NoGrad plain;
    const CodeDensity codes(conv.encode(model_input(conv, test.images)).mu.to_vector());
    decoded_manifolds(t, conv, codes, data_look);
  }

  t.section("L35", "Autoencoder vs VAE latent space: can we decode between codes?");
  t.note("note 003: the AE's codes 'may not be contiguous ... huge empty spaces where the labeling");
  t.note("may be ambiguous and not allow us to interpolate effectively'; the VAE's should be");
  t.note("'contiguous while still being distinct. This allows smooth interpolation'");
  t.note("{} autoencoders and {} VAEs, 784-256-64-2 each, {} epochs on the training images above;",
         seeds, seeds, s.epochs);
  t.note("lines between 400 random pairs of test codes, 15 inner points each; a point is 'in the");
  t.note("data' where the kernel density of the test codes is at least its 5% quantile at the codes");
  latent_space_lines(t, train, validation_x, test, s, seeds, data_look);

  return t.finish();
}
