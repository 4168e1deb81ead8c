#include "nn/loss.h"

#include <fmt/format.h>

#include <cmath>
#include <numbers>

#include "autodiff/kernels.h"
#include "autodiff/ops.h"
#include "autodiff/stable_math.h"
#include "autodiff/tape.h"

namespace nn {

namespace {

// Losses compare a prediction with a target elementwise; a target that merely broadcasts
// (e.g. [N] against [N, 1]) is almost always a bug that would silently give an [N, N] loss.
void check_same_shape(const char* loss, const ad::Tensor& prediction, const ad::Tensor& target) {
  if (prediction.shape() != target.shape())
    throw ad::Error(fmt::format("{}: prediction {} and target {} have different shapes", loss,
                                ad::to_string(prediction.shape()), ad::to_string(target.shape())));
}

const double half_log_two_pi = 0.5 * std::log(2.0 * std::numbers::pi);

}  // namespace

ad::Tensor reduce(const ad::Tensor& per_element, Reduction reduction) {
  switch (reduction) {
    case Reduction::none:
      return per_element;
    case Reduction::sum:
      return ad::sum(per_element);
    case Reduction::mean:
      return ad::mean(per_element);
  }
  throw ad::Error("reduce: unknown Reduction value");
}

ad::Tensor mse(const ad::Tensor& prediction, const ad::Tensor& target, Reduction reduction) {
  check_same_shape("mse", prediction, target);
  ad::Tensor diff = prediction - target;
  return reduce(diff * diff, reduction);
}

namespace {

// The per-element binary cross-entropy as one recorded op, forward and backward side by
// side (the composition softplus(l) - l * t gives the same values in three passes):
//   loss = softplus(l) - l t        (stable::softplus: max(l, 0) + log(1 + e^-|l|))
//   d loss / d l = sigmoid(l) - t   d loss / d t = -l
ad::Tensor bce_per_element(const ad::Tensor& logits, const ad::Tensor& target) {
  ad::check_same_dtype("bce_with_logits", logits, target);
  const bool f32 = logits.dtype() == ad::f32;  // float32 through the vecmath kernels
  ad::Tensor loss;
  if (f32) {
    loss = ad::Tensor::empty(logits.shape(), ad::f32);
    const float *l = logits.data<float>(), *t = target.data<float>();
    float* out = loss.data<float>();
    const ad::vec::Kernels& k = ad::vec::kernels();
    ad::kernels::in_chunks(logits.numel(), [&](int64_t begin, int64_t count) {
      k.bce_with_logits(l + begin, t + begin, out + begin, count);
    });
  } else {
    loss = ad::kernels::zip(logits, target,
                            [](auto l, auto t) { return ad::stable::softplus(l) - l * t; });
  }
  ad::tape().record("bce_with_logits", {logits, target}, loss,
                    [logits, target, f32](const ad::Tensor& g) -> ad::Grads {
                      if (ad::differentiable_backward())  // the same formulas, recorded
                        return {g * (ad::sigmoid(logits) - target),
                                target.requires_grad() ? -g * logits : ad::Tensor()};
                      ad::Tensor dl;
                      if (f32) {
                        dl = ad::Tensor::empty(logits.shape(), ad::f32);
                        const float *gd = g.data<float>(), *l = logits.data<float>(),
                                    *t = target.data<float>();
                        float* out = dl.data<float>();
                        const ad::vec::Kernels& k = ad::vec::kernels();
                        ad::kernels::in_chunks(g.numel(), [&](int64_t begin, int64_t count) {
                          k.bce_with_logits_backward(gd + begin, l + begin, t + begin,
                                                     out + begin, count);
                        });
                      } else {
                        dl = ad::kernels::zip3(g, logits, target, [](auto gi, auto l, auto t) {
                          return gi * (ad::stable::sigmoid(l) - t);
                        });
                      }
                      ad::Tensor dt = target.requires_grad()
                                          ? ad::kernels::zip(g, logits,
                                                             [](auto gi, auto l) { return -gi * l; })
                                          : ad::Tensor();
                      return {dl, dt};
                    });
  return loss;
}

}  // namespace

ad::Tensor bce_with_logits(const ad::Tensor& logits, const ad::Tensor& target,
                           Reduction reduction) {
  check_same_shape("bce_with_logits", logits, target);
  return reduce(bce_per_element(logits, target), reduction);
}

ad::Tensor gaussian_nll(const ad::Tensor& mean, const ad::Tensor& target, double sigma,
                        Reduction reduction) {
  check_same_shape("gaussian_nll", mean, target);
  if (!(sigma > 0)) throw ad::Error(fmt::format("gaussian_nll: sigma = {} must be > 0", sigma));
  ad::Tensor diff = target - mean;
  ad::Tensor per_element =
      diff * diff * (0.5 / (sigma * sigma)) + (std::log(sigma) + half_log_two_pi);
  return reduce(per_element, reduction);
}

ad::Tensor gaussian_nll(const ad::Tensor& mean, const ad::Tensor& target,
                        const ad::Tensor& log_sigma, Reduction reduction) {
  check_same_shape("gaussian_nll", mean, target);
  ad::Tensor diff = target - mean;
  // 1 / sigma^2 = exp(-2 log sigma): no division, and finite for any log_sigma in range.
  ad::Tensor per_element =
      0.5 * diff * diff * ad::exp(-2.0 * log_sigma) + log_sigma + half_log_two_pi;
  return reduce(per_element, reduction);
}

ad::Tensor cross_entropy(const ad::Tensor& logits, const std::vector<int64_t>& targets,
                         Reduction reduction) {
  if (logits.rank() != 2)
    throw ad::Error(fmt::format("cross_entropy: logits have shape {}; expected [N, classes]",
                                ad::to_string(logits.shape())));
  const int64_t n = logits.dim(0), classes = logits.dim(1);
  if (static_cast<int64_t>(targets.size()) != n)
    throw ad::Error(
        fmt::format("cross_entropy: {} targets for {} rows of logits", targets.size(), n));
  // Pick log p(target) of each row out of the flattened [N * C] log-probabilities.
  std::vector<int64_t> picked(n);
  for (int64_t i = 0; i < n; ++i) {
    if (targets[i] < 0 || targets[i] >= classes)
      throw ad::Error(fmt::format("cross_entropy: target {} of row {} is not a class in [0, {})",
                                  targets[i], i, classes));
    picked[i] = i * classes + targets[i];
  }
  ad::Tensor log_p = ad::log_softmax(logits, -1);
  return reduce(-ad::gather(ad::reshape(log_p, {-1}), 0, picked), reduction);
}

}  // namespace nn
