// Statistics of repeated estimates: the mean and variance of a sample with their standard
// errors, a running mean, and paired differences. Every Monte Carlo check of the
// tutorials reports an estimate as "mean +- standard error" through these.
//
// For values x_1..x_n with mean m, unbiased variance s^2 = 1/(n-1) sum_i (x_i - m)^2 and
// fourth central moment m4 = 1/n sum_i (x_i - m)^4:
//   se_mean     = sqrt(s^2 / n)
//   se_variance = sqrt((m4 - (n - 3) / (n - 1) s^4) / n)
// The second is the standard deviation of the sample variance,
//   Var(s^2) = (mu4 - (n - 3) / (n - 1) sigma^4) / n,
// exact for any distribution with a fourth moment (no normality assumed), with the
// sample's moments in place of the unknown mu4 and sigma^2. For normal data it is
// sigma^2 sqrt(2 / (n - 1)). (The often-quoted sqrt((m4 - s^4) / n) is its large-n limit.)
//
// Example:
//   vae::Summary s = vae::summarize({1, 2, 3, 4});   // s.mean 2.5, s.variance 5/3
//   t.check_within_se("L10", "Monte Carlo mean", s.mean, s.se_mean, exact);
#pragma once
#include <cstdint>
#include <limits>
#include <vector>

namespace vae {

struct Summary {
  int64_t n = 0;
  double mean = 0, variance = 0, se_mean = 0, se_variance = 0;
  double stddev() const;
};
// Throws ad::Error for fewer than 2 values.
Summary summarize(const std::vector<double>& x);

// The standard deviation of the unbiased variance of n draws from a distribution with
// variance `variance` and fourth central moment m4: sqrt((m4 - (n-3)/(n-1) variance^2) / n)
// (0 where rounding makes the difference negative).
double variance_standard_error(double m4, double variance, int64_t n);

// Running mean of values seen one at a time, with its standard error, by Welford's
// update (no need to keep the values, and no cancellation as in sum x^2 - n mean^2).
// Also tracks the smallest and largest value.
class RunningMean {
 public:
  void add(double x);
  int64_t count() const { return n_; }
  double mean() const { return mean_; }
  double variance() const;  // unbiased: m2 / (n - 1)
  double se() const;        // standard error of the mean: sqrt(variance / n)
  double min() const { return min_; }
  double max() const { return max_; }

 private:
  int64_t n_ = 0;
  double mean_ = 0, m2_ = 0;
  double min_ = std::numeric_limits<double>::infinity();
  double max_ = -std::numeric_limits<double>::infinity();
};

// a_i - b_i: a paired comparison of two quantities measured on the same examples (the
// same images, the same eps), whose shared spread cancels in the difference. Throws
// ad::Error when the sizes differ.
std::vector<double> differences(const std::vector<double>& a, const std::vector<double>& b);

// The means of consecutive groups of `group` values (a trailing partial group is dropped):
// R = n / group independent group-size-sample estimates from n per-sample values.
std::vector<double> group_means(const std::vector<double>& x, int64_t group);

}  // namespace vae
