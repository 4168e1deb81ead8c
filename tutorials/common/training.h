// What the training tutorials (01, 02, 08, 09, 10) share: the standard training flags, one
// loop of mini-batch optimiser steps, the network sizes, a fixed binarisation of images
// and a stopwatch.
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
//       [&](const nn::Batch& batch) { return model.elbo(batch.x, rng).loss; });
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
struct EpochOptions {
  int epochs = 1;
  int64_t batch_size = 128;
  bool binarize = false;  // a fresh x ~ Bernoulli(pixel) for every batch (nn::BatchOptions)
  uint64_t seed = 0;      // the order of the batches
  std::FILE* progress = stdout;  // where the progress lines go
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

// ---- data and time
// One fixed binarisation x_i ~ Bernoulli(intensity_i) of a set of images, for evaluation
// (training draws a fresh one for every batch through EpochOptions::binarize).
ad::Tensor binarize(const ad::Tensor& images, ad::Rng& rng);

// Seconds since `start`, from the steady clock.
double seconds_since(std::chrono::steady_clock::time_point start);

}  // namespace tut
