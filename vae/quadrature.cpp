#include "vae/quadrature.h"

#include <cmath>
#include <numbers>

#include "autodiff/shape.h"

namespace vae {

double integrate(const std::function<double(double)>& f, double a, double b, int intervals) {
  if (intervals < 2) throw ad::Error("integrate: need at least 2 intervals");
  const int n = intervals + intervals % 2;  // Simpson needs an even count
  const double h = (b - a) / n;
  double sum = f(a) + f(b);
  for (int i = 1; i < n; ++i) sum += (i % 2 ? 4.0 : 2.0) * f(a + i * h);
  return sum * h / 3.0;
}

double gaussian_expectation(const std::function<double(double)>& f, double mean, double stddev,
                            int intervals) {
  if (!(stddev > 0)) throw ad::Error("gaussian_expectation: stddev must be positive");
  const double norm = 1.0 / (stddev * std::sqrt(2.0 * std::numbers::pi));
  auto weighted = [&](double x) {
    const double u = (x - mean) / stddev;
    return f(x) * norm * std::exp(-0.5 * u * u);
  };
  return integrate(weighted, mean - 12 * stddev, mean + 12 * stddev, intervals);
}

}  // namespace vae
