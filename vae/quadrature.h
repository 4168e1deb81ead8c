// Numerical integration in one dimension, for "exact" values to check Monte Carlo
// estimates against: composite Simpson's rule, error O(h^4) for smooth integrands.
//
//   double p_x = vae::integrate([](double z) { return p_x_given_z(z) * p_z(z); }, -12, 12);
//   double m2 = vae::gaussian_expectation([](double x) { return x * x; }, 1.0, 1.0);  // 2
#pragma once
#include <functional>

namespace vae {

// Integral of f over [a, b] with `intervals` (rounded up to even) Simpson panels.
double integrate(const std::function<double(double)>& f, double a, double b, int intervals = 20000);

// E[f(x)] for x ~ N(mean, stddev^2), integrating over mean +- 12 stddev (the mass
// outside is below 1e-32).
double gaussian_expectation(const std::function<double(double)>& f, double mean, double stddev,
                            int intervals = 20000);

}  // namespace vae
