// Anomaly mode: the first NaN or inf, in the forward pass or in backward, stops the
// program with a message naming the op, its tape entry and its inputs. Off, nothing is
// checked. docs/anomaly_mode.md quotes the VAE messages checked here.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "autodiff/autodiff.h"
#include "tests/helpers.h"
#include "vae/kl.h"

using namespace ad;
using test_helpers::contains;

namespace {

std::string anomaly_of(const std::function<void()>& f) {
  std::string message = test_helpers::error_of<AnomalyError>(f);
  tape().clear();  // the failed pass left its entries
  return message;
}

// The negative ELBO of a VAE written out by hand, for x [2x3] in {0, 1}: a linear encoder
// to mu and logvar [2x1], z = mu + exp(logvar / 2) eps, a linear decoder to Bernoulli
// probabilities, and the loss -log p(x|z) + KL(q(z|x) || N(0, 1)) as it is often first
// written, log of the probabilities rather than the stable log_sigmoid of the logits.
Tensor naive_vae_loss(const Tensor& x, const Tensor& w_mu, const Tensor& w_logvar,
                      const Tensor& w_dec, const Tensor& eps) {
  Tensor mu = matmul(x, w_mu);
  Tensor logvar = matmul(x, w_logvar);
  Tensor z = mu + exp(0.5 * logvar) * eps;
  Tensor p = sigmoid(matmul(z, w_dec));
  // Two statements, not one expression: C++ leaves the order in which the two sides of
  // `a + b` are evaluated to the compiler (GCC does the right side first on x86-64, the
  // left on arm64), and the tape numbers the page quotes follow that order.
  Tensor log_one_minus_p = log(1.0 - p);
  Tensor log_likelihood = sum(x * log(p) + (1.0 - x) * log_one_minus_p);
  return sum(vae::kl_diag_gaussian_to_standard(mu, logvar)) - log_likelihood;
}

struct NaiveVae {
  Tensor x = Tensor::from({1, 0, 1, 0, 1, 1}, {2, 3});
  Tensor w_mu = Tensor::from({0.1, -0.2, 0.3}, {3, 1}).requires_grad_().named("w_mu");
  Tensor w_logvar = Tensor::from({0.2, 0.1, -0.1}, {3, 1}).requires_grad_().named("w_logvar");
  Tensor w_dec = Tensor::from({0.5, -0.5, 0.25}, {1, 3}).requires_grad_().named("w_dec");
  Tensor eps = Tensor::from({0.3, -1.2}, {2, 1});
  Tensor loss() const { return naive_vae_loss(x, w_mu, w_logvar, w_dec, eps); }
};

std::string docs_page() {
  return test_helpers::read_file(std::filesystem::path(__FILE__).parent_path().parent_path() /
                                 "docs" / "anomaly_mode.md");
}

}  // namespace

TEST_CASE("anomaly mode: off, a NaN passes unchecked; the guard turns it on and restores") {
  if (anomaly_mode_enabled()) return;  // (a run with AD_ANOMALY=1 in the environment)
  Tensor x = Tensor::from({1, 0}, {2}).requires_grad_();
  Tensor y = log(x);  // -inf, unchecked
  CHECK(std::isinf(y.flat(1)));
  tape().clear();
  {
    AnomalyMode detect;
    CHECK(anomaly_mode_enabled());
    {
      AnomalyMode nested;
    }
    CHECK(anomaly_mode_enabled());
  }
  CHECK_FALSE(anomaly_mode_enabled());
}

TEST_CASE("anomaly mode: a forward op that makes inf names its tape entry and inputs") {
  AnomalyMode detect;
  Tensor x = Tensor::from({0.5, 0}, {2}).requires_grad_().named("x");
  const std::string message = anomaly_of([&] { Tensor y = sum(log(x)); });
  INFO(message);
  CHECK(message ==
        "anomaly mode: the forward pass of `v2 = log(v1)` gave -inf (1 of 2 values, the first "
        "at index 1); its inputs: v1: [2] finite, from 0 to 0.5");
  // Ops not recorded (no input requires grad) are checked too, named by op.
  const std::string unrecorded = anomaly_of([&] { log(Tensor::from({-1}, {1})); });
  CHECK(contains(unrecorded, "`log(x1), not recorded on the tape` gave NaN"));
  // Finite values pass, and the mode leaves no state behind after an error.
  Tensor ok = sum(log(x + 1.0));
  backward(ok);
  CHECK(x.grad().flat(1) == doctest::Approx(1.0));
}

TEST_CASE("anomaly mode: a backward that makes inf names the op whose gradient went bad") {
  AnomalyMode detect;
  Tensor x = Tensor::from({4, 0}, {2}).requires_grad_();
  Tensor y = sum(sqrt(x));  // sqrt(0) = 0 is fine; its derivative 1 / (2 sqrt(0)) is not
  const std::string message = anomaly_of([&] { backward(y); });
  INFO(message);
  CHECK(message ==
        "anomaly mode: the backward of `v2 = sqrt(v1)` gave inf (1 of 2 values, the first at "
        "index 1) in the gradient of v1; the gradient arriving at v2 was [2] finite, all 1; "
        "the inputs of sqrt: v1: [2] finite, from 0 to 4");
}

TEST_CASE("anomaly mode: the VAE's exp of a large logvar, and its log of 0 (docs/anomaly_mode.md)") {
  AnomalyMode detect;
  NaiveVae vae;
  backward(vae.loss());  // healthy weights: no anomaly
  CHECK(std::isfinite(vae.w_mu.grad().flat(0)));

  // An encoder whose logvar reaches 200: exp(logvar / 2) = e^100 overflows float32.
  vae.w_logvar = Tensor::from({200, 200, 0}, {3, 1}).requires_grad_().named("w_logvar");
  const std::string overflow = anomaly_of([&] { vae.loss(); });
  INFO(overflow);
  CHECK(contains(overflow, "the forward pass of `v8 = exp(v7)` gave inf"));
  CHECK(contains(docs_page(), overflow));

  // A decoder so sure of itself that sigmoid rounds to 1 in float32: log(1 - p) = log(0).
  vae.w_logvar = Tensor::from({0.2, 0.1, -0.1}, {3, 1}).requires_grad_().named("w_logvar");
  vae.w_dec = Tensor::from({60, -60, 60}, {1, 3}).requires_grad_().named("w_dec");
  vae.eps = Tensor::from({3, 3}, {2, 1});
  const std::string log_of_zero = anomaly_of([&] { vae.loss(); });
  MESSAGE(log_of_zero);
  CHECK(contains(log_of_zero, "gave -inf"));
  CHECK(contains(log_of_zero, "= log(v"));
  CHECK(contains(docs_page(), log_of_zero));
}
