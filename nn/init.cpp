#include "nn/init.h"

#include <fmt/format.h>

namespace nn::init {

namespace {

void check_fan(const char* what, int64_t fan) {
  if (fan <= 0) throw ad::Error(fmt::format("init: {} = {} must be positive", what, fan));
}

}  // namespace

double xavier_variance(int64_t fan_in, int64_t fan_out, double gain) {
  check_fan("fan_in", fan_in);
  check_fan("fan_out", fan_out);
  return gain * gain * 2.0 / static_cast<double>(fan_in + fan_out);
}

double kaiming_variance(int64_t fan_in, double gain) {
  check_fan("fan_in", fan_in);
  return gain * gain / static_cast<double>(fan_in);
}

// U(-a, a) has variance a^2 / 3, so the bound for a target variance is sqrt(3 var).
void xavier_uniform_(ad::Tensor& w, int64_t fan_in, int64_t fan_out, ad::Rng& rng, double gain) {
  const double a = std::sqrt(3.0 * xavier_variance(fan_in, fan_out, gain));
  uniform_(w, -a, a, rng);
}

void xavier_normal_(ad::Tensor& w, int64_t fan_in, int64_t fan_out, ad::Rng& rng, double gain) {
  normal_(w, 0.0, std::sqrt(xavier_variance(fan_in, fan_out, gain)), rng);
}

void kaiming_uniform_(ad::Tensor& w, int64_t fan_in, ad::Rng& rng, double gain) {
  const double a = std::sqrt(3.0 * kaiming_variance(fan_in, gain));
  uniform_(w, -a, a, rng);
}

void kaiming_normal_(ad::Tensor& w, int64_t fan_in, ad::Rng& rng, double gain) {
  normal_(w, 0.0, std::sqrt(kaiming_variance(fan_in, gain)), rng);
}

// The writes below go straight into the tensor's buffer: nothing is recorded on the
// tape, and every handle sharing the node sees the new values.
void uniform_(ad::Tensor& w, double lo, double hi, ad::Rng& rng) {
  for (int64_t i = 0; i < w.numel(); ++i) w.set_flat(i, rng.uniform(lo, hi));
}

void normal_(ad::Tensor& w, double mean, double stddev, ad::Rng& rng) {
  for (int64_t i = 0; i < w.numel(); ++i) w.set_flat(i, rng.normal(mean, stddev));
}

void constant_(ad::Tensor& w, double value) {
  for (int64_t i = 0; i < w.numel(); ++i) w.set_flat(i, value);
}

void zeros_(ad::Tensor& w) { constant_(w, 0.0); }

}  // namespace nn::init
