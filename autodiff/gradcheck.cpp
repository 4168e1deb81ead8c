#include "autodiff/gradcheck.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "autodiff/ops.h"
#include "autodiff/rng.h"
#include "autodiff/tape.h"

namespace ad {

std::string GradcheckResult::str() const {
  if (input < 0) return "no gradients to check";
  return fmt::format(
      "{}: worst error {:.3g} at input {} element {} (output {}): analytic {:.12g}, "
      "numeric {:.12g}",
      ok ? "ok" : "FAILED", worst_error, input, element, output, analytic, numeric);
}

double relative_error(double a, double b) {
  // EXERCISE E01.9: gradcheck's error measure
  return std::abs(a - b) / std::max({1.0, std::abs(a), std::abs(b)});
  // END EXERCISE E01.9
}

double worst_relative_error(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size())
    throw Error(fmt::format("worst_relative_error: {} values against {}", a.size(), b.size()));
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double err = relative_error(a[i], b[i]);
    if (std::isnan(err)) return err;
    worst = std::max(worst, err);
  }
  return worst;
}

GradcheckResult gradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options) {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].dtype() != f64)
      throw Error(
          fmt::format("gradcheck: input {} is {}; use float64 inputs (float32 finite "
                      "differences are too noisy to check against)",
                      i, to_string(inputs[i].dtype())));

  // Fresh leaves, so the caller's tensors and their gradients are left alone.
  std::vector<Tensor> x;
  for (const Tensor& t : inputs) x.push_back(t.clone().requires_grad_());

  // Numeric Jacobian, one input element at a time (recording off: plain evaluations).
  std::vector<std::vector<std::vector<double>>> numeric(x.size());  // [input][element][output]
  int64_t n_out = 0;
  {
    NoGrad plain;
    // excerpt: central_differences
    for (size_t i = 0; i < x.size(); ++i) {
      for (int64_t j = 0; j < x[i].numel(); ++j) {
        // EXERCISE E01.8: gradcheck's central differences
        const double x0 = x[i].flat(j);
        x[i].set_flat(j, x0 + options.step);
        std::vector<double> up = f(x).to_vector();
        x[i].set_flat(j, x0 - options.step);
        std::vector<double> down = f(x).to_vector();
        tape().clear();  // (f may record even here: gradgradcheck's f calls ad::grad)
        x[i].set_flat(j, x0);
        n_out = static_cast<int64_t>(up.size());
        std::vector<double> column(up.size());
        for (size_t k = 0; k < up.size(); ++k) column[k] = (up[k] - down[k]) / (2 * options.step);
        numeric[i].push_back(std::move(column));
        // END EXERCISE E01.8
      }
    }
    // end excerpt: central_differences
  }

  // Analytic Jacobian, one output element at a time: backward seeded with e_k.
  GradcheckResult result;
  if (n_out == 0) {
    NoGrad plain;
    n_out = f(x).numel();
  }
  for (int64_t k = 0; k < n_out; ++k) {
    for (Tensor& t : x) t.zero_grad();
    Tensor out = f(x);
    if (!out.requires_grad()) break;  // f does not depend on its inputs: nothing to compare
    Tensor seed = Tensor::zeros(out.shape(), f64);
    seed.set_flat(k, 1.0);
    BackwardOptions seeded;
    seeded.seed = seed;
    backward(out, seeded);
    for (size_t i = 0; i < x.size(); ++i) {
      Tensor g = x[i].grad();
      for (int64_t j = 0; j < x[i].numel(); ++j) {
        const double a = g.defined() ? g.flat(j) : 0.0, n = numeric[i][j][k];
        const double err = relative_error(a, n);
        if (result.input < 0 || err > result.worst_error || std::isnan(err))
          result = {true, err, static_cast<int>(i), j, k, a, n};
      }
    }
  }
  result.ok = result.worst_error <= options.tolerance && !std::isnan(result.worst_error);
  return result;
}

}  // namespace ad

namespace ad {

GradcheckResult gradgradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs,
                              const GradcheckOptions& options) {
  Shape output_shape;
  {
    NoGrad plain;
    output_shape = f(inputs).shape();
  }
  Rng rng(20240607);
  std::vector<Tensor> inputs_and_v = inputs;
  inputs_and_v.push_back(rng.normal(output_shape, f64));  // v
  const size_t n = inputs.size();
  auto first_derivative = [&f, n](const std::vector<Tensor>& x_and_v) {
    EnableGrad recording;  // (gradcheck evaluates it under NoGrad too)
    const std::vector<Tensor> x(x_and_v.begin(), x_and_v.begin() + static_cast<long>(n));
    BackwardOptions options;
    options.seed = x_and_v[n];
    options.create_graph = true;
    std::vector<Tensor> parts;
    for (const Tensor& g : grad(f(x), x, options)) parts.push_back(reshape(g, {-1}));
    return concat(parts, 0);
  };
  return gradcheck(first_derivative, inputs_and_v, options);
}

}  // namespace ad
