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

using ad::Tensor;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

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

struct MeanSe {
  double mean = 0, se = 0;
};
MeanSe mean_se(const std::vector<double>& v) {
  double m = 0, s2 = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  for (double x : v) s2 += (x - m) * (x - m);
  return {m, std::sqrt(s2 / static_cast<double>(v.size() - 1) / static_cast<double>(v.size()))};
}
double mean_of(const std::vector<double>& v) { return mean_se(v).mean; }

// Per-example differences a_i - b_i (a paired comparison on the same images).
std::vector<double> differences(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  return d;
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
struct History {
  std::vector<double> epochs, train, validation;  // validation[0] is before training
  double seconds_per_epoch = 0;
};

// Trains with Adam on the (denoising, if noise > 0) cost; validation uses a fixed
// corrupted copy `validation_input` of the clean `validation_target`.
History train_model(vae::Autoencoder& model, nn::Adam& adam, const nn::Dataset& train,
                    const Tensor& validation_input, const Tensor& validation_target, int epochs,
                    int64_t batch_size, double noise, uint64_t seed, ad::Rng& noise_rng) {
  History h;
  h.epochs.push_back(0);
  h.validation.push_back(mean_of(model.squared_errors(validation_input, validation_target)));
  nn::BatchIterator batches(train, {.batch_size = batch_size, .seed = seed});
  nn::Progress progress(epochs, batches.examples_per_epoch());
  const auto start = Clock::now();
  for (int epoch = 0; epoch < epochs; ++epoch) {
    progress.start_epoch(epoch);
    for (nn::Batch batch; batches.next(batch);) {
      Tensor input = noise > 0 ? vae::corrupt(batch.x, noise, noise_rng) : batch.x;
      adam.zero_grad();
      Tensor loss = model.cost(input, batch.x);
      const double value = loss.item();
      ad::backward(loss);
      adam.step();
      progress.add(batch.size(), value);
    }
    const double validation = mean_of(model.squared_errors(validation_input, validation_target));
    h.train.push_back(progress.end_epoch(fmt::format("validation {:.3f}", validation)));
    h.validation.push_back(validation);
    h.epochs.push_back(epoch + 1);
  }
  h.seconds_per_epoch = seconds_since(start) / std::max(epochs, 1);
  return h;
}

// The first test image of each class (so the grid shows every class once).
std::vector<int64_t> one_per_class(const nn::Dataset& data) {
  std::vector<int64_t> picked;
  for (int c = 0; c < data.num_classes(); ++c)
    for (int64_t i = 0; i < data.size(); ++i)
      if (data.labels[i] == c) {
        picked.push_back(i);
        break;
      }
  return picked;
}

}  // namespace

int main(int argc, char** argv) {
  tut::Tutorial t("01_autoencoder",
                  "Stacked and denoising autoencoders on Fashion-MNIST: the VAE's baseline");
  std::string data_dir;
  int epochs = 10;
  int64_t batch_size = 128;
  double lr = 1e-3, noise = 0.5;
  tut::add_data_flag(t, data_dir);
  t.flags().add_option("--epochs", epochs, "training epochs of each model (--quick: 1)");
  t.flags().add_option("--batch", batch_size, "mini-batch size");
  t.flags().add_option("--lr", lr, "Adam learning rate");
  t.flags().add_option("--noise", noise, "standard deviation of the denoising AE's input noise");
  if (auto exit_code = t.parse(argc, argv)) return *exit_code;
  const bool quick = t.quick();
  if (quick) epochs = 1;
  ad::Rng rng(t.seed());

  // ---- data
  auto data = tut::load_image_splits(t, data_dir);
  if (!data) return 1;
  const nn::Dataset &train = data->train, &validation = data->validation, &test = data->test;

  costs(t, train, noise, rng);

  t.section("L01", "Training the AE and the denoising AE");
  t.note("data: {}", data->description);
  if (quick)
    t.note("--quick: 10000 training images, 1 epoch; the full run uses 50000 and 10 epochs");
  ad::Rng noise_rng(t.seed() + 4);  // fixed corrupted copies for validation and test
  const Tensor validation_noisy = vae::corrupt(validation.images, noise, noise_rng);
  const Tensor test_noisy = vae::corrupt(test.images, noise, noise_rng);

  ad::Rng ae_rng(t.seed() + 5), dae_rng(t.seed() + 6);
  const std::vector<int64_t> sizes = tut::autoencoder_sizes(train.pixels_per_image());
  vae::Autoencoder ae(sizes, ae_rng), dae(sizes, dae_rng);
  nn::Adam ae_adam(ae, {.lr = lr}), dae_adam(dae, {.lr = lr});
  t.note(
      "both: MLP 784-256-64-2-64-256-784, ReLU, sigmoid output, {} parameters; Adam lr {}, "
      "batch {}, {} epochs",
      ae.parameter_count(), lr, batch_size, epochs);
  t.note("training the AE (cost on clean images):");
  History ae_history = train_model(ae, ae_adam, train, validation.images, validation.images, epochs,
                                   batch_size, 0.0, t.seed() + 7, rng);
  t.note("training the denoising AE (noise sd {}; validation on a fixed noisy copy):", noise);
  History dae_history = train_model(dae, dae_adam, train, validation_noisy, validation.images,
                                    epochs, batch_size, noise, t.seed() + 8, rng);
  t.note("epoch time: AE {:.2f} s, denoising AE {:.2f} s ({} images per epoch)",
         ae_history.seconds_per_epoch, dae_history.seconds_per_epoch, train.size());
  t.check_less("L01", "AE validation cost: after training < before", ae_history.validation.back(),
               ae_history.validation.front());
  t.check_less("L01", "denoising AE validation cost: after training < before",
               dae_history.validation.back(), dae_history.validation.front());

  tut::Plot curves("loss_curves", "Autoencoder costs per epoch (sum of squares per image)");
  curves.xlabel("epoch").ylabel("1/n sum_i ||x - f(g(input))||^2");
  std::vector<double> trained_epochs(ae_history.epochs.begin() + 1, ae_history.epochs.end());
  curves.line("AE train", trained_epochs, ae_history.train);
  curves.line("AE validation", ae_history.epochs, ae_history.validation, tut::LineStyle::dashed);
  curves.line("denoising AE train (noisy input)", trained_epochs, dae_history.train);
  curves.line("denoising AE validation (noisy input)", dae_history.epochs, dae_history.validation,
              tut::LineStyle::dashed);
  curves.log_y().y_range(10, 250);  // epoch 0 (untrained) is 5-7 times the rest
  t.save_figure(curves);

  // ---- test errors
  t.section("L01", "Test reconstruction errors");
  ae.eval();
  dae.eval();
  // Baseline: predict every image by the mean training image (what a code carrying no
  // information about the input can do at best under squared error).
  std::vector<double> baseline;
  {
    ad::NoGrad plain;
    Tensor mean_image = ad::mean(train.images, 0, true);
    Tensor diff = test.images - mean_image;
    baseline = ad::sum(diff * diff, 1).to_vector();
  }
  const std::vector<double> ae_clean = ae.squared_errors(test.images, test.images);
  const std::vector<double> dae_clean = dae.squared_errors(test.images, test.images);
  const std::vector<double> ae_noisy = ae.squared_errors(test_noisy, test.images);
  const std::vector<double> dae_noisy = dae.squared_errors(test_noisy, test.images);
  const MeanSe b = mean_se(baseline), a = mean_se(ae_clean), dc = mean_se(dae_clean),
               an = mean_se(ae_noisy), dn = mean_se(dae_noisy);
  t.note("mean ||x - x_rec||^2 per test image (+- standard error), {} images:", test.size());
  t.note("  mean training image:        {:8.3f} +- {:.3f}", b.mean, b.se);
  t.note("  AE, clean input:            {:8.3f} +- {:.3f}  (per pixel {:.5f})", a.mean, a.se,
         a.mean / test.pixels_per_image());
  t.note("  denoising AE, clean input:  {:8.3f} +- {:.3f}", dc.mean, dc.se);
  t.note("  AE, noisy input:            {:8.3f} +- {:.3f}", an.mean, an.se);
  t.note("  denoising AE, noisy input:  {:8.3f} +- {:.3f}", dn.mean, dn.se);
  t.check_less("L01", "test error: AE < the mean-image baseline", a.mean, b.mean);
  const MeanSe paired = mean_se(differences(dae_noisy, ae_noisy));
  t.note("paired difference on noisy inputs, denoising AE - AE: {:.3f} +- {:.3f}", paired.mean,
         paired.se);
  // Seen at the fixed seed: about 23 vs 54 on the full run, 43 vs 49 after --quick's one
  // short epoch; the margin is stated in paired standard errors.
  t.check_less("L01", "noisy test inputs: denoising AE error + 3 SE(paired) < AE error",
               dn.mean + 3 * paired.se, an.mean);

  // ---- figures
  std::vector<int64_t> shown = one_per_class(test);
  const nn::Dataset shown_set = test.subset(shown);
  {
    ad::NoGrad plain;
    Tensor noisy_shown = ad::gather(test_noisy, 0, shown);
    nn::write_image_rows(t.out_path("reconstructions.png"),
                         {shown_set.images, ae.reconstruct(shown_set.images), noisy_shown,
                          dae.reconstruct(noisy_shown), ae.reconstruct(noisy_shown)},
                         {.padding = 2, .scale = 2});
  }
  t.note("wrote {}: rows input / AE / noisy input / denoising AE of it / AE of it",
         t.out_path("reconstructions.png").string());

  std::vector<double> z0, z1;
  {
    ad::NoGrad plain;
    std::vector<double> z = ae.encode(test.images).to_vector();
    for (size_t i = 0; i < z.size(); i += 2) {
      z0.push_back(z[i]);
      z1.push_back(z[i + 1]);
    }
  }
  tut::Plot latent("latent_scatter", "AE codes z = g_phi(x) of the test images, by class");
  latent.xlabel("z_1").ylabel("z_2");
  latent.scatter_by_label("class", z0, z1, test.labels, test.class_names);
  t.save_figure(latent);

  // ---- checkpoint: the baseline model the VAE tutorials load (L35)
  t.section("L01", "Checkpoint of the trained AE (loaded by the VAE tutorials for L35)");
  const auto ckpt = t.out_path("autoencoder.ckpt");
  nn::save_checkpoint(ckpt, ae, ae_adam);
  nn::save_checkpoint(t.out_path("denoising_autoencoder.ckpt"), dae, dae_adam);
  t.note("saved {} and denoising_autoencoder.ckpt ({} parameters each, with Adam's state)",
         ckpt.string(), ae.parameter_count());
  ad::Rng other_rng(t.seed() + 99);
  vae::Autoencoder reloaded(sizes, other_rng);  // different initial weights, then overwritten
  nn::load_checkpoint(ckpt, reloaded);
  reloaded.eval();
  t.check_close("L01", "test error of the reloaded AE vs the trained AE",
                mean_of(reloaded.squared_errors(test.images, test.images)), a.mean, 0.0);
  return t.finish();
}
