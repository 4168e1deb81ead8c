#include "vae/statistics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "autodiff/shape.h"

namespace vae {

double Summary::stddev() const { return std::sqrt(variance); }

Summary summarize(const std::vector<double>& x) {
  Summary s;
  s.n = static_cast<int64_t>(x.size());
  if (s.n < 2)
    throw ad::Error(fmt::format("summarize: need at least 2 values, got {}", x.size()));
  // EXERCISE E03.1: the Monte Carlo estimate and its standard error
  const double n = static_cast<double>(s.n);
  double sum = 0;
  for (double v : x) sum += v;
  s.mean = sum / n;
  double m2 = 0, m4 = 0;  // central moments, divided by n
  for (double v : x) {
    const double d = (v - s.mean) * (v - s.mean);
    m2 += d;
    m4 += d * d;
  }
  m2 /= n;
  m4 /= n;
  s.variance = m2 * n / (n - 1);
  s.se_mean = std::sqrt(s.variance / n);
  s.se_variance = variance_standard_error(m4, s.variance, s.n);
  // END EXERCISE E03.1
  return s;
}

double variance_standard_error(double m4, double variance, int64_t n) {
  const double count = static_cast<double>(n);
  const double var_of_var = (m4 - (count - 3) / (count - 1) * variance * variance) / count;
  return std::sqrt(std::max(var_of_var, 0.0));
}

void RunningMean::add(double x) {
  ++n_;
  const double delta = x - mean_;
  mean_ += delta / static_cast<double>(n_);
  m2_ += delta * (x - mean_);
  min_ = std::min(min_, x);
  max_ = std::max(max_, x);
}

double RunningMean::variance() const { return n_ > 1 ? m2_ / static_cast<double>(n_ - 1) : 0.0; }

double RunningMean::se() const {
  return n_ > 1 ? std::sqrt(variance() / static_cast<double>(n_)) : 0.0;
}

std::vector<double> differences(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size())
    throw ad::Error(
        fmt::format("differences: paired values need equal sizes, got {} and {}", a.size(),
                    b.size()));
  std::vector<double> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  return d;
}

std::vector<double> group_means(const std::vector<double>& x, int64_t group) {
  if (group < 1) throw ad::Error(fmt::format("group_means: group must be >= 1, got {}", group));
  std::vector<double> means;
  for (size_t start = 0; start + group <= x.size(); start += group) {
    double sum = 0;
    for (int64_t i = 0; i < group; ++i) sum += x[start + i];
    means.push_back(sum / static_cast<double>(group));
  }
  return means;
}

}  // namespace vae
