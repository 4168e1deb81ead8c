// What the training tutorials (01, 02, 08-13) share: the standard training flags, one
// loop of mini-batch optimiser steps, the one VAE training loop (train_vae), the network
// sizes, a fixed binarisation of images and a stopwatch.
//
// Example (a VAE trained on binarised images):
//   tut::TrainingFlags training{.epochs = 10};
//   tut::add_training_flags(t, training);          // --epochs, --batch, --lr
//   if (auto exit_code = t.parse(argc, argv)) return *exit_code;
//   ...
//   nn::Adam adam(model, {.lr = training.lr});
//   tut::TrainingLog log = tut::train_epochs(
//       adam, data.train, {.epochs = training.epochs, .batch_size = training.batch,
//                          .binarize = true, .seed = t.seed() + 3},
//       [&](const nn::Batch& batch) { return vae::negative_elbo(model, batch.x, rng).loss; });
//   // or, the same loop with the -ELBO's parts recorded per epoch:
//   tut::VaeHistory h = tut::train_vae(model, adam, data.train, {...}, rng);
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "autodiff/rng.h"
#include "autodiff/tensor.h"
#include "nn/dataset.h"
#include "nn/optim.h"
#include "tutorials/common/tutorial.h"
#include "vae/cvae.h"
#include "vae/latent_model.h"

namespace tut {

// ---- sizes
// The hidden widths of every MLP in the VAE tutorials: 784-256-64-k, as tutorial 01's
// autoencoder, so the latent spaces of the AE and the VAEs can be compared (L35).
inline const std::vector<int64_t> hidden_sizes = {256, 64};

// Tutorial 01's autoencoder widths {input, 256, 64, code}: tutorial 08 builds the same
// model to load 01's checkpoint.
std::vector<int64_t> autoencoder_sizes(int64_t input_dim, int64_t code_dim = 2);

// ---- flags
// The standard training flags, with the tutorial's defaults. Each value is checked when
// the command line is read (the allowed range is stated in --help): a bad one prints the
// usage and Tutorial::parse returns usage_exit_code.
struct TrainingFlags {
  int epochs = 10;      // --epochs, 1 to 1000
  int64_t batch = 128;  // --batch, 1 to 65536
  double lr = 1e-3;     // --lr, a finite number > 0
};
inline constexpr int max_epochs = 1000;
inline constexpr int64_t max_batch = 65536;

// Adds --epochs, --batch and --lr (before parse). `epochs_help` says what an epoch trains,
// e.g. "training epochs of each model (--quick: 1)".
void add_training_flags(Tutorial& t, TrainingFlags& flags,
                        const std::string& epochs_help = "training epochs (--quick: 1)");
// Only --batch and --lr, for a tutorial that counts optimiser steps instead of epochs.
void add_batch_and_lr_flags(Tutorial& t, TrainingFlags& flags);

// ---- the training loop
// Fewer optimiser steps per epoch than this leave a VAE all but untrained: the tutorials
// that train on a full data set check --batch against it (EpochOptions::min_steps).
inline constexpr int64_t min_vae_steps_per_epoch = 10;

struct EpochOptions {
  int epochs = 1;
  int64_t batch_size = 128;
  bool binarize = false;  // a fresh x ~ Bernoulli(pixel) for every batch (nn::BatchOptions)
  nn::ImageLayout layout = nn::ImageLayout::flat;  // [N, 784], or [N, 1, 28, 28] for convolutions
  uint64_t seed = 0;      // the order of the batches
  std::FILE* progress = stdout;  // where the progress lines go
  int64_t min_steps = 1;  // optimiser steps an epoch must take at least (see check_batch_size)
};

struct TrainingLog {
  std::vector<double> train_loss;  // mean loss per example of each epoch
  double seconds_per_epoch = 0;
};

// The loss of one mini-batch, recorded on the tape (a scalar).
using TrainingStep = std::function<ad::Tensor(const nn::Batch& batch)>;
// Called before each epoch (counting from 0), e.g. to set the learning rate.
using BeforeEpoch = std::function<void(int epoch)>;
// Called after each epoch (counting from 0); what it returns ends the epoch's progress
// line (e.g. "validation -ELBO 256.90").
using AfterEpoch = std::function<std::string(int epoch)>;

// For each epoch and each mini-batch: zero the gradients, loss = step(batch), backward,
// one optimizer step. Prints one progress line per epoch (nn::Progress) with the epoch's
// mean loss.
TrainingLog train_epochs(nn::Optimizer& optimizer, const nn::Dataset& data,
                         const EpochOptions& options, const TrainingStep& step,
                         const AfterEpoch& after_epoch = {}, const BeforeEpoch& before_epoch = {});

// Throws a UsageError naming --batch, its value and the training set's size when one
// epoch of `examples` would take fewer than options.min_steps optimiser steps (a batch
// larger than the set trains one step per epoch: a run that only looks like training).
void check_batch_size(const EpochOptions& options, int64_t examples);

// ---- training a VAE
// What train_vae records, one entry per epoch: the mean over the training images of the
// -ELBO and its two parts, and the tutorial's validation -ELBO.
struct VaeHistory {
  std::vector<double> epochs, loss, reconstruction, kl, validation;
  double seconds_per_epoch = 0;
};
// The validation -ELBO after an epoch (a tutorial's own evaluation, with its own noise).
using ValidationLoss = std::function<double()>;
// The end of an epoch's progress line from the history so far.
using EpochSummary = std::function<std::string(const VaeHistory& history)>;
// "validation -ELBO 256.90"
std::string validation_summary(const VaeHistory& history);

// The model a batch trains: the model itself, or for the conditional VAE the view with
// the batch's labels (vae::Conditioned), so one loop trains both.
template <class Model>
Model& model_for_batch(Model& model, const nn::Batch&) {
  return model;
}
inline vae::Conditioned model_for_batch(vae::Cvae& model, const nn::Batch& batch) {
  return {model, batch.y};
}

// The VAE training of notes 003 (AEVB): for each epoch and mini-batch, one optimiser step
// on the -ELBO with L = 1 sample per image (vae::negative_elbo, z = g_phi(eps), eps drawn
// from rng). Checks --batch against the training set first (check_batch_size). After each
// epoch records the epoch's mean -ELBO, reconstruction and KL per image, calls
// `validation` (when given) and ends the progress line with `summary`.
template <class Model>
VaeHistory train_vae(Model& model, nn::Optimizer& optimizer, const nn::Dataset& train,
                     const EpochOptions& options, ad::Rng& rng,
                     const ValidationLoss& validation = {},
                     const EpochSummary& summary = validation_summary) {
  check_batch_size(options, train.size());
  VaeHistory h;
  double reconstruction = 0, kl = 0;  // sums over the epoch's images
  auto step = [&](const nn::Batch& batch) {
    auto&& view = model_for_batch(model, batch);
    const vae::ElboTerms terms = vae::negative_elbo(view, batch.x, rng);  // L = 1
    reconstruction += terms.reconstruction.item() * static_cast<double>(batch.size());
    kl += terms.kl.item() * static_cast<double>(batch.size());
    return terms.loss;
  };
  auto after_epoch = [&](int epoch) {
    const double n = static_cast<double>(train.size());
    h.reconstruction.push_back(reconstruction / n);
    h.kl.push_back(kl / n);
    reconstruction = kl = 0;
    h.epochs.push_back(epoch + 1);
    if (!validation) return std::string();
    h.validation.push_back(validation());
    return summary(h);
  };
  const TrainingLog log = train_epochs(optimizer, train, options, step, after_epoch);
  h.loss = log.train_loss;
  h.seconds_per_epoch = log.seconds_per_epoch;
  return h;
}

// ---- data and time
// One fixed binarisation x_i ~ Bernoulli(intensity_i) of a set of images, for evaluation
// (training draws a fresh one for every batch through EpochOptions::binarize).
ad::Tensor binarize(const ad::Tensor& images, ad::Rng& rng);

// Seconds since `start`, from the steady clock.
double seconds_since(std::chrono::steady_clock::time_point start);

}  // namespace tut
