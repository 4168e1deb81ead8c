// vae/statistics.h: the mean and variance of a sample with their standard errors, on
// known data and by simulation; the running mean; paired differences.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "autodiff/autodiff.h"
#include "tests/helpers.h"
#include "vae/statistics.h"

TEST_CASE("summarize: mean, variance and their standard errors on known data") {
  vae::Summary s = vae::summarize({1, 2, 3, 4});
  CHECK(s.mean == doctest::Approx(2.5));
  CHECK(s.variance == doctest::Approx(5.0 / 3.0));
  CHECK(s.se_mean == doctest::Approx(std::sqrt(5.0 / 12.0)));
  // m4 = (2 * 1.5^4 + 2 * 0.5^4) / 4 = 2.5625; (m4 - (1/3) s^4) / 4
  CHECK(s.se_variance == doctest::Approx(std::sqrt((2.5625 - (25.0 / 9.0) / 3.0) / 4.0)));
  // Normal data: se_variance ~ s^2 sqrt(2 / n).
  ad::Rng rng(4);
  std::vector<double> x(40000);
  for (double& v : x) v = rng.normal(0, 2);
  vae::Summary t = vae::summarize(x);
  CHECK(t.se_variance == doctest::Approx(4.0 * std::sqrt(2.0 / 40000)).epsilon(0.05));
  CHECK(vae::group_means({1, 2, 3, 4, 5}, 2) == std::vector<double>{1.5, 3.5});
}

TEST_CASE("RunningMean agrees with summarize on the same values") {
  ad::Rng rng(11);
  std::vector<double> x;
  vae::RunningMean running;
  for (int i = 0; i < 1000; ++i) {
    x.push_back(rng.normal(3.0, 2.0));
    running.add(x.back());
  }
  vae::Summary s = vae::summarize(x);
  CHECK(running.count() == 1000);
  CHECK(running.mean() == doctest::Approx(s.mean).epsilon(1e-12));
  CHECK(running.variance() == doctest::Approx(s.variance).epsilon(1e-10));
  CHECK(running.se() == doctest::Approx(s.se_mean).epsilon(1e-10));
  CHECK(running.min() == *std::min_element(x.begin(), x.end()));
  CHECK(running.max() == *std::max_element(x.begin(), x.end()));
}

TEST_CASE("variance_standard_error: the spread of the sample variance of small normal samples") {
  // n = 10 draws of N(0, 1), repeated: the sample variance s^2 has standard deviation
  // sqrt(2 / (n - 1)) = 0.4714 (s^2 (n-1) is chi-square with n - 1 degrees of freedom).
  // The formula with the population moments mu4 = 3, sigma^2 = 1 must give exactly that;
  // the large-n form sqrt((mu4 - sigma^4) / n) = 0.4472 is 5% off at this n.
  const int64_t n = 10;
  CHECK(vae::variance_standard_error(3.0, 1.0, n) == doctest::Approx(std::sqrt(2.0 / 9.0)));
  ad::Rng rng(12);
  std::vector<double> variances;
  for (int r = 0; r < 40000; ++r) {
    std::vector<double> x(n);
    for (double& v : x) v = rng.normal();
    variances.push_back(vae::summarize(x).variance);
  }
  const double measured = vae::summarize(variances).stddev();  // relative se ~ 0.6%
  CHECK(measured == doctest::Approx(vae::variance_standard_error(3.0, 1.0, n)).epsilon(0.02));
  CHECK(std::abs(measured - std::sqrt(2.0 / 10.0)) > 0.01);  // not the large-n form (5 se off)
}

TEST_CASE("differences and summarize: errors, and a paired difference") {
  CHECK(vae::differences({3, 5}, {1, 1}) == std::vector<double>{2, 4});
  CHECK(test_helpers::contains(
      test_helpers::error_of<ad::Error>([] { vae::differences({1, 2}, {1}); }), "2 and 1"));
  CHECK(test_helpers::contains(test_helpers::error_of<ad::Error>([] { vae::summarize({1}); }),
                               "at least 2"));
}
