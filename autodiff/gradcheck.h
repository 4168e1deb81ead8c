// gradcheck: compares the tape's gradients with central finite differences.
//
// For f: inputs -> output, every entry of the Jacobian d output_k / d input_j is computed
// twice: by backward (seeded with the unit vector e_k) and by
//   (f(x + h e_j) - f(x - h e_j)) / (2h).
// The error of one entry is |analytic - numeric| / max(1, |analytic|, |numeric|):
// relative for large derivatives, absolute for small ones. Inputs must be float64:
// in float32 the finite difference itself is only good to about 1e-3.
//
//   auto r = ad::gradcheck([](const auto& x) { return ad::sum(ad::exp(x[0])); },
//                          {rng.normal({3, 4}, ad::f64)});
//   CHECK(r.ok);  // r.str(): "worst error 3.1e-10 at input 0 element 5 ..."
//   CHECK(ad::gradgradcheck(f, inputs).ok);  // the same for second derivatives
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autodiff/tensor.h"

namespace ad {

struct GradcheckOptions {
  double step = 1e-6;       // h
  double tolerance = 1e-6;  // the largest error that passes
};

struct GradcheckResult {
  bool ok = true;
  double worst_error = 0;
  int input = -1;        // where the worst error is: which input,
  int64_t element = -1;  //   which of its elements,
  int64_t output = -1;   //   which output element
  double analytic = 0, numeric = 0;
  std::string str() const;
};

using TensorFunction = std::function<Tensor(const std::vector<Tensor>&)>;

// The error measure of gradcheck for one pair of values: |a - b| / max(1, |a|, |b|),
// relative for large values, absolute for small ones.
double relative_error(double a, double b);
// The largest relative_error over two lists of the same length (NaN if any is NaN, so
// that a NaN never passes a check). Throws ad::Error when the lengths differ.
double worst_relative_error(const std::vector<double>& a, const std::vector<double>& b);

// Uses the tape (and leaves it empty).
GradcheckResult gradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

// Second derivatives: gradcheck of the first derivative, as create_graph computes it.
// With v a fixed random adjoint for f's output (seeded draw), the function checked is
//   G(x, v) = d <v, f(x)> / d x = v^T J_f(x)      (ad::grad with create_graph, flattened)
// so its Jacobian holds sum_k v_k d^2 f_k / dx dx' (each row of the Hessians, against
// finite differences of G) and, through v, the first derivative itself. An op whose
// backward is not differentiable fails here with its own error.
GradcheckResult gradgradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs,
                              const GradcheckOptions& options = {});

}  // namespace ad
