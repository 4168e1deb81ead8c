// crosscheck: our side of `make crosscheck` (bench/crosscheck.py drives it and compares
// with PyTorch). Every input and output is a file in our checkpoint format (nn/checkpoint.h),
// which crosscheck.py reads and writes with struct and zlib.
//
//   crosscheck grads --model M --weights W --data D --out R [--dtype f32|f64]
//       Loads the model's parameters from W and x, eps from D, computes the negative ELBO
//       with that eps (L = 1) and its gradient, and writes R: "loss", "reconstruction",
//       "kl" (scalars) and "grad/<parameter name>" for every parameter.
//   crosscheck train --order O --test-eps E --out R [--weights W0] [--weights-out W] [--seed S]
//       Trains mlp_vae (from the parameters in W0, else our initialisation from --seed;
//       float32, batch 128, Adam lr 1e-3; the noise from --seed) for as many epochs as O's tensor
//       "order" [epochs, 60000] has rows, visiting the Fashion-MNIST training images in that order
//       (the last batch of an epoch has the 96 left over), then writes R: "train_loss" [epochs]
//       (each epoch's mean loss) and "test_loss", "test_reconstruction", "test_kl": the test set's
//       negative ELBO with the fixed noise of E's tensor "eps" [10000, 20], one draw per image. W
//       gets the trained parameters.
//   crosscheck eval --model M --weights W --test-eps E --out R
//       The same test-set negative ELBO for the parameters in W.
//
// M is mlp_vae (vae::Vae 784-400-20, as bench/train_step.cpp) or conv_vae (vae::ConvVae,
// latent 2). Threads: OMP_NUM_THREADS.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "autodiff/autodiff.h"
#include "nn/dataset.h"
#include "nn/nn.h"
#include "vae/conv_vae.h"
#include "tutorials/common/tutorial.h"
#include "vae/mlp_vae.h"

namespace {

namespace fs = std::filesystem;

// The two models as train_step.cpp builds them, behind one interface.
struct Model {
  virtual ~Model() = default;
  virtual nn::Module& module() = 0;
  virtual vae::ElboTerms negative_elbo_from_eps(const ad::Tensor& x, const ad::Tensor& eps) = 0;
  virtual ad::Shape image_shape(int64_t n) const = 0;
};

struct MlpVae : Model {
  vae::Vae vae;
  MlpVae(ad::Rng& rng, ad::DType dtype)
      : vae({.input_dim = 784, .hidden = {400}, .latent_dim = 20, .dtype = dtype}, rng) {}
  nn::Module& module() override { return vae; }
  vae::ElboTerms negative_elbo_from_eps(const ad::Tensor& x, const ad::Tensor& eps) override {
    return vae::negative_elbo_from_eps(vae, x, {eps});
  }
  ad::Shape image_shape(int64_t n) const override { return {n, 784}; }
};

struct ConvVae : Model {
  vae::ConvVae vae;
  ConvVae(ad::Rng& rng, ad::DType dtype) : vae({.latent_dim = 2, .dtype = dtype}, rng) {}
  nn::Module& module() override { return vae; }
  vae::ElboTerms negative_elbo_from_eps(const ad::Tensor& x, const ad::Tensor& eps) override {
    return vae::negative_elbo_from_eps(vae, x, {eps});
  }
  ad::Shape image_shape(int64_t n) const override { return {n, 1, 28, 28}; }
};

std::unique_ptr<Model> make_model(const std::string& name, uint64_t seed, ad::DType dtype) {
  ad::Rng rng(seed);
  if (name == "mlp_vae") return std::make_unique<MlpVae>(rng, dtype);
  if (name == "conv_vae") return std::make_unique<ConvVae>(rng, dtype);
  throw std::invalid_argument("unknown model '" + name + "'");
}

ad::Tensor tensor_named(const fs::path& file, const std::string& name) {
  for (nn::NamedTensor& t : nn::read_tensors(file))
    if (t.name == name) return t.tensor;
  throw std::runtime_error(fmt::format("{} holds no tensor '{}'", file.string(), name));
}

// Rows `indices` of images [N, 784] (float32), shaped for the model.
ad::Tensor gather_images(const ad::Tensor& images, const std::vector<int64_t>& indices,
                         const Model& model) {
  const int64_t n = static_cast<int64_t>(indices.size()), d = images.dim(1);
  ad::Tensor x = ad::Tensor::zeros(model.image_shape(n));
  const float* src = images.data<float>();
  float* dst = x.data<float>();
  for (int64_t i = 0; i < n; ++i) std::memcpy(dst + i * d, src + indices[i] * d, sizeof(float) * d);
  return x;
}

ad::Tensor scalar(double v) { return ad::Tensor::scalar(v, ad::f64); }

// The test set's mean negative ELBO and its parts, with eps [10000, latent] fixed.
std::vector<nn::NamedTensor> test_elbo(Model& model, const fs::path& eps_file) {
  ad::NoGrad plain;
  const nn::Dataset test = nn::load_fashion_mnist(nn::Split::test);
  const ad::Tensor eps = tensor_named(eps_file, "eps");
  if (eps.rank() != 2 || eps.dim(0) != test.size() || eps.dtype() != ad::f32)
    throw std::runtime_error(fmt::format("{}: eps must be float32 [{}, latent], got {}",
                                         eps_file.string(), test.size(),
                                         ad::to_string(eps.shape())));
  double loss = 0, reconstruction = 0, kl = 0;
  const int64_t chunk = 1000;
  for (int64_t start = 0; start < test.size(); start += chunk) {
    const int64_t n = std::min(chunk, test.size() - start);
    std::vector<int64_t> idx(n);
    for (int64_t i = 0; i < n; ++i) idx[i] = start + i;
    const ad::Tensor x = gather_images(test.images, idx, model);
    const ad::Tensor e = ad::slice(eps, 0, start, start + n);
    const vae::ElboTerms t = model.negative_elbo_from_eps(x, e);
    loss += t.loss.item() * n;  // each term is a mean over the chunk
    reconstruction += t.reconstruction.item() * n;
    kl += t.kl.item() * n;
  }
  const double n = static_cast<double>(test.size());
  return {{"test_loss", scalar(loss / n)},
          {"test_reconstruction", scalar(reconstruction / n)},
          {"test_kl", scalar(kl / n)}};
}

int run_grads(const std::string& model_name, const fs::path& weights, const fs::path& data,
              const fs::path& out, const std::string& dtype_name) {
  const ad::DType dtype = dtype_name == "f64" ? ad::f64 : ad::f32;
  std::unique_ptr<Model> model = make_model(model_name, 0, dtype);
  nn::load_checkpoint(weights, model->module());
  const ad::Tensor x = tensor_named(data, "x"), eps = tensor_named(data, "eps");
  const vae::ElboTerms terms = model->negative_elbo_from_eps(x, eps);
  std::vector<nn::NamedTensor> results = {{"loss", terms.loss.detach()},
                                          {"reconstruction", terms.reconstruction.detach()},
                                          {"kl", terms.kl.detach()}};
  model->module().zero_grad();
  ad::backward(terms.loss);
  for (const nn::NamedTensor& p : model->module().named_parameters()) {
    if (!p.tensor.grad().defined()) throw std::runtime_error("no gradient reached " + p.name);
    results.push_back({"grad/" + p.name, p.tensor.grad().detach()});
  }
  nn::write_tensors(out, results);
  fmt::print("crosscheck grads {} ({}): loss {:.6f}, wrote {}\n", model_name, dtype_name,
             terms.loss.item(), out.string());
  return 0;
}

int run_train(const fs::path& order_file, const fs::path& eps_file, const fs::path& out,
              const fs::path& weights_in, const fs::path& weights_out, uint64_t seed) {
  const nn::Dataset train = nn::load_fashion_mnist(nn::Split::train);
  const ad::Tensor order = tensor_named(order_file, "order");
  if (order.rank() != 2 || order.dim(1) != train.size())
    throw std::runtime_error(fmt::format("{}: order must be [epochs, {}], got {}",
                                         order_file.string(), train.size(),
                                         ad::to_string(order.shape())));
  std::unique_ptr<Model> model = make_model("mlp_vae", seed, ad::f32);
  if (!weights_in.empty()) nn::load_checkpoint(weights_in, model->module());
  nn::Adam adam(model->module(), {.lr = 1e-3});
  ad::Rng noise(seed + 1);
  const int64_t epochs = order.dim(0), n = train.size(), batch = 128;
  std::vector<double> epoch_loss;
  for (int64_t e = 0; e < epochs; ++e) {
    double sum = 0;
    for (int64_t start = 0; start < n; start += batch) {
      const int64_t count = std::min(batch, n - start);
      std::vector<int64_t> idx(count);
      for (int64_t i = 0; i < count; ++i) {
        const double v = order.flat(e * n + start + i);
        if (!(v >= 0 && v < static_cast<double>(n)))
          throw std::runtime_error(
              fmt::format("{}: index {} out of range", order_file.string(), v));
        idx[i] = static_cast<int64_t>(v);
      }
      const ad::Tensor x = gather_images(train.images, idx, *model);
      adam.zero_grad();
      const vae::ElboTerms terms = model->negative_elbo_from_eps(x, noise.normal({count, 20}));
      ad::backward(terms.loss);
      adam.step();
      sum += terms.loss.item() * count;
    }
    epoch_loss.push_back(sum / n);
    fmt::print("  ours, epoch {:2}: training loss {:.3f}\n", e + 1, epoch_loss.back());
    std::fflush(stdout);
  }
  std::vector<nn::NamedTensor> results = test_elbo(*model, eps_file);
  results.push_back(
      {"train_loss", ad::Tensor::from(epoch_loss, {static_cast<int64_t>(epochs)}, ad::f64)});
  nn::write_tensors(out, results);
  if (!weights_out.empty()) nn::save_checkpoint(weights_out, model->module());
  return 0;
}

int run_eval(const std::string& model_name, const fs::path& weights, const fs::path& eps_file,
             const fs::path& out) {
  std::unique_ptr<Model> model = make_model(model_name, 0, ad::f32);
  nn::load_checkpoint(weights, model->module());
  nn::write_tensors(out, test_elbo(*model, eps_file));
  return 0;
}

}  // namespace

static int run(int argc, char** argv) {
  CLI::App cli("Our side of the comparison with PyTorch (run by bench/crosscheck.py)",
               "crosscheck");
  cli.require_subcommand(1);
  cli.failure_message(CLI::FailureMessage::help);
  const std::vector<std::string> models = {"mlp_vae", "conv_vae"};
  std::string model = "mlp_vae", weights, data, out, dtype = "f32", order, eps, weights_out;
  uint64_t seed = 42;

  CLI::App* grads =
      cli.add_subcommand("grads", "negative ELBO and its gradient for given weights, x, eps");
  grads->add_option("--model", model)->required()->check(CLI::IsMember(models));
  grads->add_option("--weights", weights, "checkpoint of the model's parameters")->required();
  grads->add_option("--data", data, "tensors x and eps")->required();
  grads->add_option("--out", out)->required();
  grads->add_option("--dtype", dtype)->check(CLI::IsMember({"f32", "f64"}))->capture_default_str();

  CLI::App* train =
      cli.add_subcommand("train", "train mlp_vae in a given data order, then the test ELBO");
  train->add_option("--order", order, "tensor order [epochs, 60000]")->required();
  train->add_option("--test-eps", eps, "tensor eps [10000, 20]")->required();
  train->add_option("--out", out)->required();
  train->add_option("--weights", weights, "initial parameters (default: our initialisation)");
  train->add_option("--weights-out", weights_out, "checkpoint of the trained parameters");
  train->add_option("--seed", seed, "seed of the initialisation and the noise")
      ->check(tut::seed_check())
      ->capture_default_str();

  CLI::App* eval = cli.add_subcommand("eval", "the test ELBO of given weights");
  eval->add_option("--model", model)->required()->check(CLI::IsMember(models));
  eval->add_option("--weights", weights)->required();
  eval->add_option("--test-eps", eps)->required();
  eval->add_option("--out", out)->required();

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e) == 0 ? 0 : 2;
  }
  if (*grads) return run_grads(model, weights, data, out, dtype);
  if (*train) return run_train(order, eps, out, weights, weights_out, seed);
  return run_eval(model, weights, eps, out);
}

int main(int argc, char** argv) {
  return tut::report_errors("crosscheck", [&] { return run(argc, argv); });
}
