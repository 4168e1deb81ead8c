// tutorials/common/training.h: the standard training flags (read and checked), the shared
// training loop (it calls the hooks and lowers the loss of a small model), the fixed
// binarisation and the network sizes.
#include <doctest/doctest.h>

#include <omp.h>

#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "autodiff/autodiff.h"
#include "nn/nn.h"
#include "tests/helpers.h"
#include "tutorials/common/training.h"
#include "vae/conv_vae.h"
#include "vae/mlp_vae.h"

using test_helpers::contains;

namespace {

// Parses `args` after the program name with the training flags added; returns parse's
// answer (nothing: go on; 2: usage printed) and what went to stderr.
std::optional<int> parse_training(const std::vector<std::string>& args, tut::TrainingFlags& flags,
                                  std::string& errors) {
  test_helpers::TemporaryFolder folder("training_flags");
  std::ostringstream out, err;
  tut::Tutorial t("00_test", "training flags", out, err);
  tut::add_training_flags(t, flags);
  const std::string out_dir = (folder.path / "out").string();
  std::vector<const char*> argv = {"00_test", "--out", out_dir.c_str()};
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::optional<int> exit_code = t.parse(static_cast<int>(argv.size()), argv.data());
  errors = err.str();
  return exit_code;
}

}  // namespace

TEST_CASE("training flags: defaults, good values, and bad values exit 2 with the usage") {
  std::string errors;
  tut::TrainingFlags flags{.epochs = 3, .batch = 64, .lr = 1e-3};
  CHECK_FALSE(parse_training({}, flags, errors).has_value());
  CHECK(flags.epochs == 3);
  CHECK(flags.batch == 64);
  CHECK(flags.lr == 1e-3);
  CHECK_FALSE(parse_training({"--epochs", "2", "--batch", "16", "--lr", "0.01"}, flags, errors));
  CHECK(flags.epochs == 2);
  CHECK(flags.batch == 16);
  CHECK(flags.lr == 0.01);
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"--epochs", "0"}, {"--epochs", "-3"}, {"--epochs", "1001"},
        {"--batch", "0"}, {"--batch", "100000"}, {"--lr", "0"}, {"--lr", "-1e-3"},
        {"--lr", "inf"}, {"--lr", "nan"}, {"--lr", "fast"}}) {
    CAPTURE(bad[0] + " " + bad[1]);
    tut::TrainingFlags f;
    CHECK(parse_training(bad, f, errors) == std::optional<int>(tut::usage_exit_code));
    CHECK(contains(errors, bad[0]));
    CHECK(contains(errors, "Usage"));
  }
}

TEST_CASE("train_epochs: zero_grad, step, backward and update per batch, hooks per epoch") {
  // 32 examples of 4 pixels; a linear model learns to output the first pixel.
  nn::Dataset data;
  data.rows = 2;
  data.cols = 2;
  ad::Rng rng(1);
  data.images = rng.uniform({32, 4}, 0.0, 1.0);
  data.labels.assign(32, 0);
  nn::Linear model(4, 1, rng);
  nn::Adam adam(model.named_parameters(), {.lr = 0.05});
  std::vector<int> before, after;
  int batches = 0;
  auto step = [&](const nn::Batch& batch) {
    ++batches;
    const ad::Tensor target = ad::slice(batch.x, 1, 0, 1);
    return nn::mse(model(batch.x), target, nn::Reduction::mean);
  };
  std::FILE* progress = std::tmpfile();
  REQUIRE(progress != nullptr);
  const tut::TrainingLog log = tut::train_epochs(
      adam, data, {.epochs = 6, .batch_size = 8, .seed = 2, .progress = progress}, step,
      [&](int epoch) {
        after.push_back(epoch);
        return std::string("extra");
      },
      [&](int epoch) { before.push_back(epoch); });
  CHECK(batches == 6 * 4);
  CHECK(adam.steps() == 6 * 4);
  CHECK(before == std::vector<int>{0, 1, 2, 3, 4, 5});
  CHECK(after == before);
  REQUIRE(log.train_loss.size() == 6);
  CHECK(log.train_loss.back() < 0.5 * log.train_loss.front());
  CHECK(log.seconds_per_epoch >= 0);
  std::rewind(progress);
  char first_line[200] = {};
  CHECK(std::fgets(first_line, sizeof first_line, progress) != nullptr);
  CHECK(contains(first_line, "epoch 1/6"));
  CHECK(contains(first_line, "extra"));
  std::fclose(progress);
}

TEST_CASE("binarize draws 0 or 1 with probability the intensity; sizes of tutorial 01's AE") {
  ad::Rng rng(3);
  const ad::Tensor images = ad::Tensor::full({200, 50}, 0.3);
  const std::vector<double> x = tut::binarize(images, rng).to_vector();
  double ones = 0;
  bool zero_or_one = true;
  for (double v : x) {
    zero_or_one = zero_or_one && (v == 0.0 || v == 1.0);
    ones += v;
  }
  CHECK(zero_or_one);
  // 10000 draws of Bernoulli(0.3): the mean's standard error is 0.0046
  CHECK(std::abs(ones / x.size() - 0.3) < 4 * 0.0046);
  CHECK(tut::autoencoder_sizes(784) == std::vector<int64_t>{784, 256, 64, 2});
  CHECK(tut::autoencoder_sizes(100, 5) == std::vector<int64_t>{100, 256, 64, 5});
}

// ---- the same bits on any number of threads
// The kernels split a step's work between threads by rows and columns of their outputs, and
// the convolutions sum dW over parts of the batch whose number does not depend on the
// threads, so a training run gives the same weights, bit for bit, on one core or two (and
// the tutorials' outputs do not depend on the machine's cores).
namespace {

// Every parameter of `model` after three Adam steps on the -ELBO of the same images with
// the same noise, run on `threads` threads.
template <class Model, class Config>
std::vector<double> weights_after_three_steps(const Config& config, const ad::Tensor& x,
                                              int threads) {
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  ad::Rng init(11), noise(12);
  Model model(config, init);
  nn::Adam adam(model, {.lr = 1e-3});
  for (int step = 0; step < 3; ++step) {
    adam.zero_grad();
    ad::backward(vae::negative_elbo(model, x, noise).loss);
    adam.step();
  }
  omp_set_num_threads(before);
  std::vector<double> all;
  for (const nn::NamedTensor& p : model.named_parameters())
    for (double v : p.tensor.to_vector()) all.push_back(v);
  return all;
}

// Binary images, [batch, 784] or [batch, 1, 28, 28] (tut::binarize of uniform intensities).
ad::Tensor binary_images(const ad::Shape& shape) {
  ad::Rng rng(10);
  return tut::binarize(rng.uniform(shape, 0, 1), rng);
}

// The model trained on one thread and on two ends with the same weights, bit for bit.
template <class Model, class Config>
void check_same_weights_on_one_and_two_threads(const Config& config, const ad::Shape& images) {
  const ad::Tensor x = binary_images(images);
  const std::vector<double> one = weights_after_three_steps<Model>(config, x, 1);
  const std::vector<double> two = weights_after_three_steps<Model>(config, x, 2);
  REQUIRE(one.size() == two.size());
  CHECK(one == two);
}

}  // namespace

TEST_CASE("training a VAE gives the same weights, bit for bit, on one thread and on two") {
  SUBCASE("the MLP VAE of the tutorials, 784-256-64-2, a batch of 128") {
    check_same_weights_on_one_and_two_threads<vae::Vae>(
        vae::VaeConfig{.input_dim = 784, .hidden = tut::hidden_sizes, .latent_dim = 2},
        {128, 784});
  }
  SUBCASE("the convolutional VAE of the Keras demo, a batch of 16") {
    check_same_weights_on_one_and_two_threads<vae::ConvVae>(vae::ConvVaeConfig{}, {16, 1, 28, 28});
  }
}
