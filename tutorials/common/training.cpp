#include "tutorials/common/training.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "autodiff/tape.h"
#include "nn/progress.h"

namespace tut {

std::vector<int64_t> autoencoder_sizes(int64_t input_dim, int64_t code_dim) {
  std::vector<int64_t> sizes = {input_dim};
  sizes.insert(sizes.end(), hidden_sizes.begin(), hidden_sizes.end());
  sizes.push_back(code_dim);
  return sizes;
}

void add_batch_and_lr_flags(Tutorial& t, TrainingFlags& flags) {
  t.flags()
      .add_option("--batch", flags.batch, "mini-batch size")
      ->check(CLI::Range(int64_t{1}, max_batch))
      ->capture_default_str();
  t.flags()
      .add_option("--lr", flags.lr, "Adam learning rate")
      ->check(finite_positive())
      ->capture_default_str();
}

void add_training_flags(Tutorial& t, TrainingFlags& flags, const std::string& epochs_help) {
  t.flags()
      .add_option("--epochs", flags.epochs, epochs_help)
      ->check(CLI::Range(1, max_epochs))
      ->capture_default_str();
  add_batch_and_lr_flags(t, flags);
}

void check_batch_size(const EpochOptions& options, int64_t examples) {
  const int64_t steps = (examples + options.batch_size - 1) / options.batch_size;
  if (options.batch_size > examples)
    throw UsageError(fmt::format(
        "--batch {} is larger than the training set ({} images): each epoch would take one "
        "step on all of them; choose --batch {} or less",
        options.batch_size, examples, examples / std::max<int64_t>(options.min_steps, 1)));
  if (steps < options.min_steps)
    throw UsageError(fmt::format(
        "--batch {} leaves {} optimiser steps per epoch on the {} training images; this "
        "program needs at least {}: choose --batch {} or less",
        options.batch_size, steps, examples, options.min_steps, examples / options.min_steps));
}

std::string validation_summary(const VaeHistory& history) {
  return fmt::format("validation -ELBO {:.2f}", history.validation.back());
}

TrainingLog train_epochs(nn::Optimizer& optimizer, const nn::Dataset& data,
                         const EpochOptions& options, const TrainingStep& step,
                         const AfterEpoch& after_epoch, const BeforeEpoch& before_epoch) {
  TrainingLog log;
  nn::BatchIterator batches(data, {.batch_size = options.batch_size,
                                   .binarize = options.binarize,
                                   .layout = options.layout,
                                   .seed = options.seed});
  nn::Progress progress(options.epochs, batches.examples_per_epoch(), options.progress);
  const auto start = std::chrono::steady_clock::now();
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    progress.start_epoch(epoch);
    if (before_epoch) before_epoch(epoch);
    // excerpt: training_step
    for (nn::Batch batch; batches.next(batch);) {
      optimizer.zero_grad();
      ad::Tensor loss = step(batch);
      const double value = loss.item();
      ad::backward(loss);
      optimizer.step();
      progress.add(batch.size(), value);
    }
    // end excerpt: training_step
    log.train_loss.push_back(progress.end_epoch(after_epoch ? after_epoch(epoch) : std::string()));
  }
  log.seconds_per_epoch = seconds_since(start) / std::max(options.epochs, 1);
  return log;
}

ad::Tensor binarize(const ad::Tensor& images, ad::Rng& rng) {
  std::vector<double> v = images.to_vector();
  for (double& p : v) p = rng.uniform() < p ? 1.0 : 0.0;
  return ad::Tensor::from(v, images.shape());
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace tut
