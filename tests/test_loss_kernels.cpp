// Tests for nn::loss_kernels (nn/loss_kernels.h): the cross-entropy kernels of every ISA
// this CPU supports, the reference included, against their error bounds (the oracle in
// double precision), in place and out of place, with logits up to +-100; then the
// table's choice by ISA. The bit-for-bit agreement of the losses across thread counts is
// in test_fast_paths.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/shape.h"
#include "nn/loss_kernels.h"
#include "tests/float_kernels.h"

using namespace float_kernels;

namespace {

// Logits in [-100, 100] with the ends themselves, targets 0, 1 and in between.
struct BceData {
  std::vector<float> l, t, g;
  explicit BceData(int64_t n)
      : l(uniform(n, -100, 100, 3)), t(uniform(n, 0, 1, 4)), g(uniform(n, -2, 2, 5)) {
    for (int64_t i = 0; i < n; ++i) {
      if (i % 3 == 0) t[i] = 0;
      if (i % 3 == 1) t[i] = 1;
      if (i % 7 == 0) l[i] = i % 2 ? 100.0f : -100.0f;
      if (i % 11 == 0) l[i] = static_cast<float>(l[i] * 1e-3);  // near 0, where loss ~ log 2
    }
  }
};

double bce_exact(float l, float t) { return softplus_exact(l) - double(l) * t; }
// The bounds of loss_kernels.h; 0x1p-146 (8 of the smallest denormals) is their allowance for
// results that underflow into the denormals, whose spacing no relative bound can follow.
double bce_bound(float l, float t) {
  return 0x1p-21 * (softplus_exact(l) + std::fabs(double(l) * t)) + 0x1p-146;
}
double bce_backward_bound(float g, float l, float t) {
  return 0x1p-21 * std::fabs(g) * (sigmoid_exact(l) + std::fabs(t)) + 0x1p-146 * (1 + std::fabs(g));
}

}  // namespace

TEST_CASE("loss kernels: bce_with_logits and its backward are within their bounds, finite at +-100") {
  for (int64_t n : {1, 17, 100003}) {
    const BceData d(n);
    for (ad::Isa isa : ad::supported_isas()) {
      const nn::LossKernels& k = nn::loss_kernels(isa);
      std::vector<float> loss(n), dl(n);
      k.bce_with_logits(d.l.data(), d.t.data(), loss.data(), n);
      k.bce_with_logits_backward(d.g.data(), d.l.data(), d.t.data(), dl.data(), n);
      double worst_loss = 0, worst_dl = 0;  // error / bound: <= 1 passes
      int64_t not_finite = 0;
      for (int64_t i = 0; i < n; ++i) {
        const float l = d.l[i], t = d.t[i], g = d.g[i];
        worst_loss = std::max(worst_loss, std::fabs(loss[i] - bce_exact(l, t)) / bce_bound(l, t));
        const double dl_exact = g * (sigmoid_exact(l) - t);
        worst_dl = std::max(worst_dl, std::fabs(dl[i] - dl_exact) / bce_backward_bound(g, l, t));
        not_finite += !std::isfinite(loss[i]) + !std::isfinite(dl[i]);
      }
      const std::string isa_name = ad::to_string(isa);
      CAPTURE(isa_name);
      CAPTURE(n);
      CHECK(not_finite == 0);
      CHECK(worst_loss <= 1.0);
      CHECK(worst_dl <= 1.0);

      // In place: the output may be one of the inputs.
      std::vector<float> l = d.l, g = d.g;
      k.bce_with_logits(l.data(), d.t.data(), l.data(), n);
      k.bce_with_logits_backward(g.data(), d.l.data(), d.t.data(), g.data(), n);
      CHECK(std::equal(l.begin(), l.end(), loss.begin(), same));
      CHECK(std::equal(g.begin(), g.end(), dl.begin(), same));
    }
  }
}

TEST_CASE("loss kernels: bce_with_logits_row_sum is within the summed bound, for any row length") {
  for (int64_t cols : {0, 1, 17, 784, 1001}) {
    const int64_t rows = 5;
    const BceData d(rows * cols);
    for (ad::Isa isa : ad::supported_isas()) {
      std::vector<float> out(rows + 1, -12345.5f);
      nn::loss_kernels(isa).bce_with_logits_row_sum(d.l.data(), d.t.data(), out.data(), rows, cols);
      for (int64_t r = 0; r < rows; ++r) {
        double exact = 0, bound = 0;
        for (int64_t c = 0; c < cols; ++c) {
          exact += bce_exact(d.l[r * cols + c], d.t[r * cols + c]);
          bound += bce_bound(d.l[r * cols + c], d.t[r * cols + c]);
        }
        bound += 0x1p-24 * std::fabs(exact);
        const std::string isa_name = ad::to_string(isa);
        CAPTURE(isa_name);
        CAPTURE(cols);
        CAPTURE(r);
        CHECK(std::fabs(out[r] - exact) <= bound);
      }
      CHECK(out[rows] == -12345.5f);  // nothing written past the last row
    }
  }
}

TEST_CASE("loss kernels: loss_kernels() follows active_isa(), an ISA the CPU lacks throws") {
  check_table_choice<nn::LossKernels>(nn::loss_kernels, nn::loss_kernels);
}
