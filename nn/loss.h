// Loss functions, each built from ad:: ops (so their gradients come from the tape).
//
// Every loss takes a Reduction with no default. In a VAE the loss is
//   reconstruction (summed over pixels) + KL (summed over latent dimensions),
// and "mean" over 784 pixels instead of "sum" silently weights the reconstruction 784
// times less against the KL term: the model then ignores its input (posterior collapse)
// and nothing warns you. Writing the choice at every call site keeps it in view.
//
//   Reduction::sum   the sum over every element (for an ELBO: then divide by the batch size)
//   Reduction::mean  the mean over every element (batch and features alike)
//   Reduction::none  no reduction: the per-element loss, shaped like the broadcast inputs
//                    (per-example for cross_entropy)
//
// Example:
//   ad::Tensor logits = decoder(z);                                   // [N, 784]
//   ad::Tensor rec = nn::bce_with_logits(logits, images, nn::Reduction::sum) / batch_size;
//   ad::Tensor ce = nn::cross_entropy(class_logits, labels, nn::Reduction::mean);
//
// All losses are negative log-likelihoods or squared errors of (prediction, target);
// the target never needs requires_grad.
#pragma once
#include <cstdint>
#include <vector>

#include "autodiff/tensor.h"

namespace nn {

enum class Reduction { none, sum, mean };

// Applies a reduction to a per-element loss.
ad::Tensor reduce(const ad::Tensor& per_element, Reduction reduction);

// (prediction - target)^2
ad::Tensor mse(const ad::Tensor& prediction, const ad::Tensor& target, Reduction reduction);

// Binary cross-entropy of targets y in [0, 1] under Bernoulli(sigmoid(x)), from logits x:
//   -[y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))] = max(x, 0) - x y + log(1 + e^-|x|)
// The right-hand form never takes exp of a positive number, so it is finite for any
// logit (at x = +-100 too), and its gradient is sigmoid(x) - y.
ad::Tensor bce_with_logits(const ad::Tensor& logits, const ad::Tensor& target, Reduction reduction);

// The same loss summed over the last axis: [..., D] -> [...], e.g. -log p(x|z) of each
// image of a batch, sum_i bce(l_i, x_i) over its D pixels. The same numbers as
//   ad::sum(bce_with_logits(logits, target, Reduction::none), -1)
// (up to the order of the additions), as one recorded op: for float32 one pass over the
// pixels forward (loss_kernels.h's row-sum kernel, accumulating in double) and one backward,
// with no per-pixel loss tensor in between and no broadcast of the gradient.
ad::Tensor bce_with_logits_row_sums(const ad::Tensor& logits, const ad::Tensor& target);

// Negative log-density of target under N(mean, sigma^2), constant included:
//   (target - mean)^2 / (2 sigma^2) + log sigma + log(2 pi) / 2
// With sigma = 1 this is mse / 2 plus a constant.
ad::Tensor gaussian_nll(const ad::Tensor& mean, const ad::Tensor& target, double sigma,
                        Reduction reduction);
// The same with a learned scale given as log sigma (a tensor that broadcasts against the
// mean: one per element, per feature [D], or a single []). Parametrising by log sigma keeps
// sigma positive without a constraint: (target - mean)^2 exp(-2 log_sigma) / 2 + log_sigma + ...
ad::Tensor gaussian_nll(const ad::Tensor& mean, const ad::Tensor& target,
                        const ad::Tensor& log_sigma, Reduction reduction);

// Softmax cross-entropy of logits [N, C] with integer class targets (N values in [0, C)):
//   -log softmax(logits[i])[targets[i]], through ad::log_softmax (stable). none gives [N];
//   mean divides by N.
ad::Tensor cross_entropy(const ad::Tensor& logits, const std::vector<int64_t>& targets,
                         Reduction reduction);

}  // namespace nn
