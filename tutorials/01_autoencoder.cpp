// Tutorial 01: the stacked and the denoising autoencoder of the slides (note 000), trained
// on Fashion-MNIST as the baseline the VAE tutorials compare against (catalogue L01).
//
// Stacked autoencoder, encoder g_phi and decoder f_theta, cost (note 000, "Stacked
// AutoEncoders for image reconstruction"):
//   L(theta, phi) = 1/n sum_i (x^(i) - f_theta(g_phi(x^(i))))^2
// Denoising autoencoder: the encoder sees a corrupted copy x^^(i) of x^(i), the cost still
// compares with the clean image:
//   L(theta, phi) = 1/n sum_i (x^(i) - f_theta(g_phi(x^^(i))))^2
// (...)^2 of an image is the squared Euclidean norm, summed over its 784 pixels.
//
// Both are MLPs 784-256-64-2-64-256-784 with a 2-D code, so the code of every test image
// can be drawn in the plane. The trained AE is saved to out/01_autoencoder/autoencoder.ckpt:
// the VAE tutorials load it to compare latent spaces (L35).
//
//   build/release/tutorials/01_autoencoder [--data DIR] [--epochs 10] [--batch 128]
//       [--lr 1e-3] [--noise 0.5] [--seed 42] [--out DIR] [--quick]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "autodiff/autodiff.h"
#include "nn/dataset.h"
#include "nn/image.h"
#include "nn/nn.h"
#include "nn/progress.h"
#include "tutorials/common/data.h"
#include "tutorials/common/plot.h"
#include "tutorials/common/training.h"
#include "tutorials/common/tutorial.h"
#include "vae/autoencoder.h"
#include "vae/statistics.h"

using ad::Tensor;

namespace {

// The same cost as an explicit loop over images and pixels, in double.
double ae_cost_by_loop(const Tensor& reconstruction, const Tensor& target) {
  const std::vector<double> r = reconstruction.to_vector(), x = target.to_vector();
  const int64_t n = target.dim(0), d = target.dim(1);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    double image = 0;
    for (int64_t j = 0; j < d; ++j)
      image += (x[i * d + j] - r[i * d + j]) * (x[i * d + j] - r[i * d + j]);
    total += image;
  }
  return total / static_cast<double>(n);
}

// ---------------------------------------------------------------- the costs, checked
void costs(tut::Tutorial& t, const nn::Dataset& train, double noise, ad::Rng& rng) {
  t.section("L01", "The stacked and the denoising autoencoder costs (note 000)");
  t.note("stacked AE:    L(theta, phi) = 1/n sum_i (x^(i) - f_theta(g_phi(x^(i))))^2");
  t.note("denoising AE:  L(theta, phi) = 1/n sum_i (x^(i) - f_theta(g_phi(x^^(i))))^2,");
  t.note("               x^^(i) = clamp(x^(i) + {} eps, 0, 1), eps ~ N(0, I): a corrupted copy",
         noise);
  t.note("g_phi is the encoder, f_theta the decoder; (.)^2 of an image is the sum of squares of");
  t.note("its {} pixels. The slides write sum_{{i=0}}^n with 1/n: n + 1 terms; it is i = 1..n.",
         train.pixels_per_image());

  ad::Rng init_rng(t.seed() + 1);
  vae::Autoencoder model(tut::autoencoder_sizes(train.pixels_per_image()), init_rng);
  Tensor x = ad::slice(train.images, 0, 0, 128);
  Tensor x_noisy = vae::corrupt(x, noise, rng);
  {
    ad::NoGrad plain;
    const double library = model.cost(x, x).item();
    const double loop = ae_cost_by_loop(model.reconstruct(x), x);
    t.check_close("L01", "AE cost of 128 images: nn::mse(sum)/n vs a loop over pixels (double)",
                  library, loop, 1e-5);
    const double library_dae = model.cost(x_noisy, x).item();
    const double loop_dae = ae_cost_by_loop(model.reconstruct(x_noisy), x);
    t.check_close("L01", "denoising cost: nn::mse(sum)/n vs a loop over pixels (double)",
                  library_dae, loop_dae, 1e-5);
  }

  // The gradient of the cost, by the tape and by finite differences, on a tiny AE 6-4-2.
  ad::Rng tiny_rng(t.seed() + 2);
  vae::Autoencoder tiny({6, 4, 2}, tiny_rng, ad::f64);
  Tensor tiny_x = tiny_rng.uniform({5, 6}, 0.0, 1.0, ad::f64);
  std::vector<nn::Linear*> layers = tiny.linear_layers();
  auto cost_of = [&](const std::vector<Tensor>& p) {
    for (size_t i = 0; i < layers.size(); ++i) {  // point the layers at gradcheck's copies
      layers[i]->weight = p[2 * i];
      layers[i]->bias = p[2 * i + 1];
    }
    return tiny.cost(tiny_x, tiny_x);
  };
  std::vector<Tensor> values;
  for (const Tensor& p : tiny.parameters()) values.push_back(p.detach());
  ad::GradcheckResult check = ad::gradcheck(cost_of, values);
  t.note("tiny AE 6-4-2-4-6 in double, {} parameters, 5 images: {}", tiny.parameter_count(),
         check.str());
  t.check_less("L01", "AE cost gradient: worst error, tape vs finite differences",
               check.worst_error, 1e-6);
}

// ---------------------------------------------------------------- training
// The two models of the tutorial, each with its own initial weights and optimiser.
struct TwoAutoencoders {
  ad::Rng ae_init, dae_init;
  vae::Autoencoder ae, dae;  // stacked (clean input) and denoising (noisy input)
  nn::Adam ae_adam, dae_adam;
  TwoAutoencoders(const std::vector<int64_t>& sizes, uint64_t seed, double lr)
      : ae_init(seed + 5),
        dae_init(seed + 6),
        ae(sizes, ae_init),
        dae(sizes, dae_init),
        ae_adam(ae, {.lr = lr}),
        dae_adam(dae, {.lr = lr}) {}
};

// Fixed corrupted copies of the validation and test images, drawn once.
struct NoisyImages {
  Tensor validation, test;
};

struct History {
  std::vector<double> epochs, train, validation;  // validation[0] is before training
  double seconds_per_epoch = 0;
};

// Trains with Adam on the (denoising, if noise > 0) cost; validation uses a fixed
// corrupted copy `validation_input` of the clean `validation_target`.
History train_model(vae::Autoencoder& model, nn::Adam& adam, const nn::Dataset& train,
                    const Tensor& validation_input, const Tensor& validation_target,
                    const tut::EpochOptions& options, double noise, ad::Rng& noise_rng) {
  History h;
  auto validation_error = [&] {
    return vae::summarize(model.squared_errors(validation_input, validation_target)).mean;
  };
  h.epochs.push_back(0);
  h.validation.push_back(validation_error());
  auto step = [&](const nn::Batch& batch) {
    const Tensor input = noise > 0 ? vae::corrupt(batch.x, noise, noise_rng) : batch.x;
    return model.cost(input, batch.x);
  };
  auto after_epoch = [&](int epoch) {
    h.validation.push_back(validation_error());
    h.epochs.push_back(epoch + 1);
    return fmt::format("validation {:.3f}", h.validation.back());
  };
  tut::TrainingLog log = tut::train_epochs(adam, train, options, step, after_epoch);
  h.train = log.train_loss;
  h.seconds_per_epoch = log.seconds_per_epoch;
  return h;
}

void plot_costs(tut::Tutorial& t, const History& ae, const History& dae) {
  tut::Plot curves("loss_curves", "Autoencoder costs per epoch (sum of squares per image)");
  curves.xlabel("epoch").ylabel("1/n sum_i ||x - f(g(input))||^2");
  std::vector<double> trained_epochs(ae.epochs.begin() + 1, ae.epochs.end());
  curves.line("AE train", trained_epochs, ae.train);
  curves.line("AE validation", ae.epochs, ae.validation, tut::LineStyle::dashed);
  curves.line("denoising AE train (noisy input)", trained_epochs, dae.train);
  curves.line("denoising AE validation (noisy input)", dae.epochs, dae.validation,
              tut::LineStyle::dashed);
  curves.log_y().y_range(10, 250);  // epoch 0 (untrained) is 5-7 times the rest
  t.save_figure(curves);
}

void train_both(tut::Tutorial& t, TwoAutoencoders& m, const tut::ImageSplits& data,
                const NoisyImages& noisy, const tut::TrainingFlags& training, double noise,
                ad::Rng& rng) {
  t.section("L01", "Training the AE and the denoising AE");
  t.note("data: {}", data.description);
  if (t.quick())
    t.note("--quick: 10000 training images, 1 epoch; the full run uses 50000 and 10 epochs");
  t.note(
      "both: MLP 784-256-64-2-64-256-784, ReLU, sigmoid output, {} parameters; Adam lr {}, "
      "batch {}, {} epochs",
      m.ae.parameter_count(), training.lr, training.batch, training.epochs);
  const Tensor& clean = data.validation.images;
  t.note("training the AE (cost on clean images):");
  const History ae = train_model(
      m.ae, m.ae_adam, data.train, clean, clean,
      {.epochs = training.epochs, .batch_size = training.batch, .seed = t.seed() + 7}, 0.0, rng);
  t.note("training the denoising AE (noise sd {}; validation on a fixed noisy copy):", noise);
  const History dae = train_model(
      m.dae, m.dae_adam, data.train, noisy.validation, clean,
      {.epochs = training.epochs, .batch_size = training.batch, .seed = t.seed() + 8}, noise, rng);
  t.note("epoch time: AE {:.2f} s, denoising AE {:.2f} s ({} images per epoch)",
         ae.seconds_per_epoch, dae.seconds_per_epoch, data.train.size());
  t.check_less("L01", "AE validation cost: after training < before", ae.validation.back(),
               ae.validation.front());
  t.check_less("L01", "denoising AE validation cost: after training < before",
               dae.validation.back(), dae.validation.front());
  plot_costs(t, ae, dae);
}

// ---------------------------------------------------------------- test errors
// Baseline: predict every image by the mean training image (what a code carrying no
// information about the input can do at best under squared error).
std::vector<double> mean_image_errors(const nn::Dataset& train, const nn::Dataset& test) {
  ad::NoGrad plain;
  Tensor mean_image = ad::mean(train.images, 0, true);
  Tensor diff = test.images - mean_image;
  return ad::sum(diff * diff, 1).to_vector();
}

// Returns the AE's mean error on clean test images (the reloaded checkpoint must match it).
double test_errors(tut::Tutorial& t, TwoAutoencoders& m, const tut::ImageSplits& data,
                   const NoisyImages& noisy) {
  t.section("L01", "Test reconstruction errors");
  m.ae.eval();
  m.dae.eval();
  const nn::Dataset& test = data.test;
  const std::vector<double> ae_noisy = m.ae.squared_errors(noisy.test, test.images);
  const std::vector<double> dae_noisy = m.dae.squared_errors(noisy.test, test.images);
  const vae::Summary b = vae::summarize(mean_image_errors(data.train, test)),
                     a = vae::summarize(m.ae.squared_errors(test.images, test.images)),
                     dc = vae::summarize(m.dae.squared_errors(test.images, test.images)),
                     an = vae::summarize(ae_noisy), dn = vae::summarize(dae_noisy);
  t.note("mean ||x - x_rec||^2 per test image (+- standard error), {} images:", test.size());
  t.note("  mean training image:        {:8.3f} +- {:.3f}", b.mean, b.se_mean);
  t.note("  AE, clean input:            {:8.3f} +- {:.3f}  (per pixel {:.5f})", a.mean, a.se_mean,
         a.mean / test.pixels_per_image());
  t.note("  denoising AE, clean input:  {:8.3f} +- {:.3f}", dc.mean, dc.se_mean);
  t.note("  AE, noisy input:            {:8.3f} +- {:.3f}", an.mean, an.se_mean);
  t.note("  denoising AE, noisy input:  {:8.3f} +- {:.3f}", dn.mean, dn.se_mean);
  t.check_less("L01", "test error: AE < the mean-image baseline", a.mean, b.mean);
  const vae::Summary paired = vae::summarize(vae::differences(dae_noisy, ae_noisy));
  t.note("paired difference on noisy inputs, denoising AE - AE: {:.3f} +- {:.3f}", paired.mean,
         paired.se_mean);
  // Seen at the fixed seed: about 23 vs 54 on the full run, 43 vs 49 after --quick's one
  // short epoch; the margin is stated in paired standard errors.
  t.check_less("L01", "noisy test inputs: denoising AE error + 3 SE(paired) < AE error",
               dn.mean + 3 * paired.se_mean, an.mean);
  return a.mean;
}

// ---------------------------------------------------------------- figures
void figures(tut::Tutorial& t, TwoAutoencoders& m, const nn::Dataset& test,
             const NoisyImages& noisy) {
  ad::NoGrad plain;
  const std::vector<int64_t> shown = tut::first_of_each_class(test, 1);
  const Tensor images = test.subset(shown).images;
  const Tensor noisy_shown = ad::gather(noisy.test, 0, shown);
  tut::ImageFigure reconstructions("reconstructions",
                                   "One test image per class through both autoencoders");
  reconstructions.panel(
      nn::image_grid_rows({images, m.ae.reconstruct(images), noisy_shown,
                           m.dae.reconstruct(noisy_shown), m.ae.reconstruct(noisy_shown)}),
      {.row_labels = {"input x", "AE", "noisy x̃", "denoising AE(x̃)", "AE(x̃)"}});
  t.save_figure(reconstructions);

  std::vector<double> z0, z1;
  const std::vector<double> z = m.ae.encode(test.images).to_vector();
  for (size_t i = 0; i < z.size(); i += 2) {
    z0.push_back(z[i]);
    z1.push_back(z[i + 1]);
  }
  tut::Plot latent("latent_scatter", "AE codes z = g_φ(x) of the test images, by class");
  latent.xlabel("z₁").ylabel("z₂").size(760, 600).equal_aspect();
  latent.scatter_by_label("class", z0, z1, test.labels, test.class_names);
  t.save_figure(latent);
}

// ---------------------------------------------------------------- checkpoint
// The baseline model the VAE tutorials load (L35), saved and read back.
void checkpoint(tut::Tutorial& t, TwoAutoencoders& m, const nn::Dataset& test,
                double ae_test_error) {
  t.section("L01", "Checkpoint of the trained AE (loaded by the VAE tutorials for L35)");
  const auto ckpt = t.new_file("autoencoder.ckpt");
  nn::save_checkpoint(ckpt, m.ae, m.ae_adam);
  nn::save_checkpoint(t.new_file("denoising_autoencoder.ckpt"), m.dae, m.dae_adam);
  t.note("saved {} and denoising_autoencoder.ckpt ({} parameters each, with Adam's state)",
         ckpt.string(), m.ae.parameter_count());
  ad::Rng other_rng(t.seed() + 99);
  vae::Autoencoder reloaded(m.ae.sizes(), other_rng);  // other initial weights, overwritten
  nn::load_checkpoint(ckpt, reloaded);
  reloaded.eval();
  t.check_close("L01", "test error of the reloaded AE vs the trained AE",
                vae::summarize(reloaded.squared_errors(test.images, test.images)).mean,
                ae_test_error, 0.0);
}

}  // namespace

static int run(int argc, char** argv) {
  tut::Tutorial t("01_autoencoder",
                  "Stacked and denoising autoencoders on Fashion-MNIST: the VAE's baseline");
  std::string data_dir;
  tut::TrainingFlags training{.epochs = 10, .batch = 128, .lr = 1e-3};
  double noise = 0.5;
  tut::add_data_flag(t, data_dir);
  tut::add_training_flags(t, training, "training epochs of each model (--quick: 1)");
  t.flags()
      .add_option("--noise", noise, "standard deviation of the denoising AE's input noise")
      ->check(tut::finite_in(0, 10));
  if (auto exit_code = t.parse(argc, argv)) return *exit_code;
  if (t.quick() && !t.given("--epochs")) training.epochs = 1;

  const auto data = tut::load_image_splits(t, data_dir);
  if (!data) return 1;
  ad::Rng rng(t.seed());
  costs(t, data->train, noise, rng);

  ad::Rng noise_rng(t.seed() + 4);
  const NoisyImages noisy{.validation = vae::corrupt(data->validation.images, noise, noise_rng),
                          .test = vae::corrupt(data->test.images, noise, noise_rng)};
  TwoAutoencoders models(tut::autoencoder_sizes(data->train.pixels_per_image()), t.seed(),
                         training.lr);
  train_both(t, models, *data, noisy, training, noise, rng);
  const double ae_test_error = test_errors(t, models, *data, noisy);
  figures(t, models, data->test, noisy);
  checkpoint(t, models, data->test, ae_test_error);
  return t.finish();
}

// Any error after the flags are read ends the program with one line and exit status 1.
int main(int argc, char** argv) {
  return tut::report_errors("01_autoencoder", [&] { return run(argc, argv); });
}
