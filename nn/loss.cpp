#include "nn/loss.h"

#include <fmt/format.h>

#include <cmath>
#include <numbers>

#include "autodiff/runtime/kernels.h"
#include "autodiff/ops.h"
#include "autodiff/stable_math.h"
#include "autodiff/tape.h"
#include "nn/loss_kernels.h"

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
  // float32 through loss_kernels.h, float64 through the scalar formulas
  const ad::Tensor loss = ad::kernels::zip_fast(
      logits, target, loss_kernels().bce_with_logits,
      [](auto l, auto t) { return ad::stable::softplus(l) - l * t; });
  ad::tape().record("bce_with_logits", {logits, target}, loss,
                    [logits, target](const ad::Tensor& g) -> ad::Grads {
                      return {g * (ad::sigmoid(logits) - target),
                              target.requires_grad() ? -g * logits : ad::Tensor()};
                    });
  return loss;
}

}  // namespace

ad::Tensor bce_with_logits(const ad::Tensor& logits, const ad::Tensor& target,
                           Reduction reduction) {
  check_same_shape("bce_with_logits", logits, target);
  return reduce(bce_per_element(logits, target), reduction);
}

namespace {

// Calls body(first_row, row_count) on runs of whole rows of a [rows, cols] matrix, split
// between the threads as kernels::in_chunks splits its elements: each row goes with the
// chunk that holds its last element.
template <class F>
void in_row_chunks(int64_t rows, int64_t cols, F body) {
  ad::kernels::in_chunks(rows * cols, [&](int64_t begin, int64_t count) {
    const int64_t first = begin / cols, end = (begin + count) / cols;
    if (end > first) body(first, end - first);
  });
}

// g [...] as a column [..., 1], to broadcast over each row's D entries.
ad::Tensor as_column(const ad::Tensor& g) {
  ad::Shape shape = g.shape();
  shape.push_back(1);
  return ad::reshape(g, shape);
}

// Forward, float32: one pass of the row-sum kernel over rows [rows, cols].
void bce_row_sums_f32(const float* l, const float* t, float* sums, int64_t rows, int64_t cols) {
  const LossKernels& k = loss_kernels();
  in_row_chunks(rows, cols, [&](int64_t first, int64_t count) {
    k.bce_with_logits_row_sum(l + first * cols, t + first * cols, sums + first, count, cols);
  });
}

// Backward, float32: d/dl = g_r (sigmoid(l) - t), the elementwise backward kernel fed
// g_r repeated over row r.
void bce_row_sums_backward_f32(const float* g, const float* l, const float* t, float* dl,
                               int64_t rows, int64_t cols) {
  const LossKernels& k = loss_kernels();
  in_row_chunks(rows, cols, [&](int64_t first, int64_t count) {
    std::vector<float> g_row(cols);
    for (int64_t r = first; r < first + count; ++r) {
      std::fill(g_row.begin(), g_row.end(), g[r]);
      k.bce_with_logits_backward(g_row.data(), l + r * cols, t + r * cols, dl + r * cols, cols);
    }
  });
}

}  // namespace

ad::Tensor bce_with_logits_row_sums(const ad::Tensor& logits, const ad::Tensor& target) {
  check_same_shape("bce_with_logits_row_sums", logits, target);
  ad::check_same_dtype("bce_with_logits_row_sums", logits, target);
  if (logits.rank() == 0)
    throw ad::Error("bce_with_logits_row_sums: logits are a scalar; expected [..., D]");
  const int64_t cols = logits.dim(-1), rows = cols == 0 ? 0 : logits.numel() / cols;
  const bool f32 = logits.dtype() == ad::f32 && cols > 0;  // through loss_kernels.h
  ad::Tensor sums;
  if (f32) {
    ad::Shape shape = logits.shape();
    shape.pop_back();
    sums = ad::Tensor::empty(shape, ad::f32);
    bce_row_sums_f32(logits.data<float>(), target.data<float>(), sums.data<float>(), rows, cols);
  } else {
    ad::NoGrad values_only;
    sums = ad::sum(bce_per_element(logits, target), -1);
  }
  ad::tape().record(
      "bce_with_logits_row_sums", {logits, target}, sums,
      [logits, target, rows, cols, f32](const ad::Tensor& g) -> ad::Grads {
        const ad::Tensor dt = target.requires_grad() ? -as_column(g) * logits : ad::Tensor();
        if (!f32 || ad::differentiable_backward())  // the formula as ops (recorded if asked)
          return {as_column(g) * (ad::sigmoid(logits) - target), dt};
        ad::Tensor dl = ad::Tensor::empty(logits.shape(), ad::f32);
        bce_row_sums_backward_f32(g.data<float>(), logits.data<float>(), target.data<float>(),
                                  dl.data<float>(), rows, cols);
        return {dl, dt};
      });
  return sums;
}

ad::Tensor gaussian_nll(const ad::Tensor& mean, const ad::Tensor& target, double sigma,
                        Reduction reduction) {
  check_same_shape("gaussian_nll", mean, target);
  if (!(sigma > 0)) throw ad::Error(fmt::format("gaussian_nll: sigma = {} must be > 0", sigma));
  // EXERCISE E04.4: the Gaussian log-likelihood (negative, with a fixed sigma)
  ad::Tensor diff = target - mean;
  ad::Tensor per_element =
      diff * diff * (0.5 / (sigma * sigma)) + (std::log(sigma) + half_log_two_pi);
  return reduce(per_element, reduction);
  // END EXERCISE E04.4
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
