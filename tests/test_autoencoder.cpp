// vae/autoencoder.h: the stacked / denoising autoencoder of note 000. Its layers and
// parameter names (so tutorial 01's checkpoint loads), its cost against a loop, a short
// training run that lowers the cost, a checkpoint round trip, and bad sizes.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autodiff/autodiff.h"
#include "nn/nn.h"
#include "tests/helpers.h"
#include "vae/autoencoder.h"

using test_helpers::error_of;

TEST_CASE("Autoencoder: shapes, parameter names and the mirrored layers") {
  ad::Rng rng(1);
  vae::Autoencoder ae({12, 8, 4, 2}, rng);
  const ad::Tensor x = rng.uniform({5, 12}, 0.0, 1.0);
  CHECK(ae.encode(x).shape() == ad::Shape{5, 2});
  const ad::Tensor x_rec = ae.reconstruct(x);
  CHECK(x_rec.shape() == ad::Shape{5, 12});
  for (double v : x_rec.to_vector()) CHECK((v > 0 && v < 1));  // sigmoid output
  // 12-8-4-2-4-8-12: three Linear layers each way, ReLUs at the odd indices
  std::vector<std::string> names;
  for (const nn::NamedTensor& p : ae.named_parameters()) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{
                     "encoder.0.weight", "encoder.0.bias", "encoder.2.weight", "encoder.2.bias",
                     "encoder.4.weight", "encoder.4.bias", "decoder.0.weight", "decoder.0.bias",
                     "decoder.2.weight", "decoder.2.bias", "decoder.4.weight", "decoder.4.bias"});
  CHECK(ae.linear_layers().size() == 6);
  // weights and biases: 12*8+8 + 8*4+4 + 4*2+2 (encoder) + 2*4+4 + 4*8+8 + 8*12+12 (decoder)
  CHECK(ae.parameter_count() == 104 + 36 + 10 + 12 + 40 + 108);
}

TEST_CASE("Autoencoder: cost is 1/n sum_i ||x_i - f(g(x_i))||^2, and squared_errors per row") {
  ad::Rng rng(2);
  vae::Autoencoder ae({6, 4, 2}, rng, ad::f64);
  const ad::Tensor x = rng.uniform({3, 6}, 0.0, 1.0, ad::f64);
  const std::vector<double> r = ae.reconstruct(x).to_vector(), xv = x.to_vector();
  std::vector<double> rows(3, 0.0);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 6; ++j) rows[i] += std::pow(xv[i * 6 + j] - r[i * 6 + j], 2);
  CHECK(ae.cost(x, x).item() == doctest::Approx((rows[0] + rows[1] + rows[2]) / 3).epsilon(1e-12));
  const std::vector<double> errors = ae.squared_errors(x, x);
  REQUIRE(errors.size() == 3);
  for (int i = 0; i < 3; ++i) CHECK(errors[i] == doctest::Approx(rows[i]).epsilon(1e-12));
}

TEST_CASE("Autoencoder: a short Adam run lowers the cost, stacked and denoising") {
  ad::Rng data_rng(3);
  // 64 images of 16 pixels made of two patterns, so a 2-D code can capture them
  std::vector<double> pixels;
  for (int i = 0; i < 64; ++i)
    for (int j = 0; j < 16; ++j) pixels.push_back((i % 2 == 0) == (j < 8) ? 0.9 : 0.1);
  const ad::Tensor x = ad::Tensor::from(pixels, {64, 16});
  for (double noise : {0.0, 0.3}) {
    CAPTURE(noise);
    ad::Rng rng(4);
    vae::Autoencoder ae({16, 8, 2}, rng);
    nn::Adam adam(ae, {.lr = 1e-2});
    const double before = ae.cost(x, x).item();
    for (int step = 0; step < 150; ++step) {
      const ad::Tensor input = noise > 0 ? vae::corrupt(x, noise, rng) : x;
      adam.zero_grad();
      ad::Tensor loss = ae.cost(input, x);
      ad::backward(loss);
      adam.step();
    }
    const double after = ae.cost(x, x).item();
    CHECK(after < 0.25 * before);
  }
}

TEST_CASE("Autoencoder: a checkpoint round trip gives the same reconstructions") {
  test_helpers::TemporaryFolder folder("autoencoder");
  ad::Rng rng(5), other_rng(6);
  vae::Autoencoder ae({10, 6, 2}, rng), reloaded({10, 6, 2}, other_rng);
  const ad::Tensor x = rng.uniform({4, 10}, 0.0, 1.0);
  CHECK(ae.reconstruct(x).to_vector() != reloaded.reconstruct(x).to_vector());
  nn::save_checkpoint(folder.path / "ae.ckpt", ae);
  nn::load_checkpoint(folder.path / "ae.ckpt", reloaded);
  CHECK(ae.reconstruct(x).to_vector() == reloaded.reconstruct(x).to_vector());
  // another architecture does not load silently
  vae::Autoencoder wider({10, 7, 2}, other_rng);
  CHECK(test_helpers::contains(
      error_of<nn::CheckpointError>([&] { nn::load_checkpoint(folder.path / "ae.ckpt", wider); }),
      "encoder.0.weight"));
}

TEST_CASE("Autoencoder: bad sizes and the corruption's range") {
  ad::Rng rng(7);
  CHECK(test_helpers::contains(error_of<ad::Error>([&] { vae::Autoencoder({784}, rng); }),
                               "Autoencoder"));
  CHECK(test_helpers::contains(error_of<ad::Error>([&] { vae::Autoencoder({784, 0, 2}, rng); }),
                               "positive"));
  const ad::Tensor x = rng.uniform({50, 20}, 0.0, 1.0);
  const ad::Tensor noisy = vae::corrupt(x, 0.5, rng);
  CHECK(noisy.shape() == x.shape());
  CHECK_FALSE(noisy.requires_grad());
  bool in_range = true, changed = false;
  const std::vector<double> a = x.to_vector(), b = noisy.to_vector();
  for (size_t i = 0; i < a.size(); ++i) {
    in_range = in_range && b[i] >= 0 && b[i] <= 1;
    changed = changed || a[i] != b[i];
  }
  CHECK(in_range);
  CHECK(changed);
}
