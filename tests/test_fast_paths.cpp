// The fast paths give the numbers of the plain ones. With ad::ReferenceKernels alive
// (what AD_REFERENCE=1 does for a whole run), the gemm is the triple loop, the
// elementwise math the std:: functions one element at a time, Adam the formula as written;
// without it, the AVX-512 or AVX2 kernels. A whole VAE training step, run both ways from
// the same weights, batch and noise, must agree to float rounding: each tensor within
// 1e-4 of its largest magnitude (the sums differ only in their order of addition).
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "autodiff/autodiff.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "vae/mlp_vae.h"

namespace {

struct StepResult {
  double loss;
  std::vector<std::vector<double>> gradients, parameters;  // after the Adam step
};

// One training step of a small Bernoulli VAE from seeded weights, batch and noise.
StepResult vae_step() {
  ad::Rng rng(11);
  vae::Vae model({.input_dim = 50, .hidden = {40}, .latent_dim = 3}, rng);
  nn::Adam adam(model, {.lr = 1e-2});
  const ad::Tensor x = rng.uniform({17, 50}, 0.0, 1.0);  // grey pixels in [0, 1]
  StepResult r;
  for (int step = 0; step < 3; ++step) {  // a few steps, so Adam's moments matter too
    adam.zero_grad();
    vae::ElboTerms terms = vae::negative_elbo(model, x, rng);
    ad::backward(terms.loss);
    adam.step();
    r.loss = terms.loss.item();
  }
  for (const nn::NamedTensor& p : model.named_parameters()) {
    r.gradients.push_back(p.tensor.grad().to_vector());
    r.parameters.push_back(p.tensor.to_vector());
  }
  return r;
}

void check_close(const std::vector<double>& fast, const std::vector<double>& plain) {
  double largest = 0, worst = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    largest = std::max(largest, std::abs(plain[i]));
    worst = std::max(worst, std::abs(fast[i] - plain[i]));
  }
  CHECK(worst <= 1e-4 * largest);
}

}  // namespace

TEST_CASE("a VAE training step gives the same numbers with every fast path off") {
  const StepResult fast = vae_step();
  StepResult plain;
  {
    ad::ReferenceKernels reference;
    CHECK(ad::active_isa() == ad::Isa::reference);
    plain = vae_step();
  }
  CHECK(fast.loss == doctest::Approx(plain.loss).epsilon(1e-5));
  REQUIRE(fast.gradients.size() == plain.gradients.size());
  for (size_t k = 0; k < plain.gradients.size(); ++k) {
    INFO("parameter ", k);
    check_close(fast.gradients[k], plain.gradients[k]);
    check_close(fast.parameters[k], plain.parameters[k]);
  }
}

TEST_CASE("affine gives exactly matmul + bias") {
  ad::Rng rng(3);
  const ad::Tensor x = rng.normal({5, 7}), w = rng.normal({7, 4}), b = rng.normal({4});
  const ad::Tensor fused = ad::affine(x, w, b), composed = ad::matmul(x, w) + b;
  for (int64_t i = 0; i < fused.numel(); ++i)
    CHECK(fused.flat(i) == doctest::Approx(composed.flat(i)).epsilon(1e-6));
}

TEST_CASE("reshape is a view: no copy, and gradients still flow") {
  ad::Tensor x = ad::Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  ad::Tensor y = ad::reshape(x, {3, 2});
  CHECK(y.node()->storage == x.node()->storage);  // the same numbers
  ad::backward(ad::sum(y * y));
  CHECK(x.grad().flat(4) == 10.0);  // d/dx sum(x^2) = 2x
}

TEST_CASE("the storage pool hands a freed buffer to the next tensor of that size") {
  { ad::Tensor warm = ad::Tensor::empty({123, 45}); }
  const ad::StoragePoolStats before = ad::storage_pool_stats();
  for (int i = 0; i < 10; ++i) ad::Tensor t = ad::Tensor::zeros({123, 45});
  const ad::StoragePoolStats after = ad::storage_pool_stats();
  CHECK(after.allocated == before.allocated);  // no new memory from the system
  CHECK(after.reused - before.reused == 10);
  CHECK(ad::Tensor::zeros({123, 45}).flat(5000) == 0.0);  // zeros() still zeroes a reused buffer
}

// Large elementwise ops are split between threads (kernels.h in_chunks); every element
// must come out the same whatever the split, including at the chunk edges.
TEST_CASE("large elementwise ops give the same bits on 1, 2 and 3 threads") {
  const int saved = omp_get_max_threads();
  ad::Rng rng(7);
  const int64_t n = 3 * (int64_t{1} << 16) + 37;  // three chunks with a ragged end
  ad::Tensor x = rng.normal({n}, ad::f32, 0, 3), g = rng.normal({n}, ad::f32);
  x.requires_grad_(true);
  const ad::Tensor targets = rng.uniform({n}, 0.0, 1.0);
  std::vector<std::vector<double>> relu_out, relu_grad, exp_out, bce_out, bce_grad;
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    ad::Tensor y = ad::relu(x);
    ad::backward(ad::sum(y * g));
    relu_out.push_back(y.detach().to_vector());
    relu_grad.push_back(x.grad().to_vector());
    exp_out.push_back(ad::exp(x.detach()).to_vector());
    x.zero_grad();
    ad::Tensor bce = nn::bce_with_logits(x, targets, nn::Reduction::none);
    ad::backward(ad::sum(bce * g));
    bce_out.push_back(bce.detach().to_vector());
    bce_grad.push_back(x.grad().to_vector());
    x.zero_grad();
  }
  omp_set_num_threads(saved);
  for (int t = 1; t < 3; ++t) {
    CHECK(relu_out[t] == relu_out[0]);
    CHECK(relu_grad[t] == relu_grad[0]);
    CHECK(exp_out[t] == exp_out[0]);
    CHECK(bce_out[t] == bce_out[0]);
    CHECK(bce_grad[t] == bce_grad[0]);
  }
  // and the split covers every element: relu's gradient is g where x > 0, else 0
  const std::vector<double> xs = x.detach().to_vector(), gs = g.to_vector();
  int64_t wrong = 0;
  for (int64_t i = 0; i < n; ++i) wrong += relu_grad[1][i] != (xs[i] > 0 ? gs[i] : 0.0);
  CHECK(wrong == 0);
}

// The fused row sums of the cross-entropy (what the VAEs' -log p(x|z) uses) against the
// composition they replace, on 1, 2 and 3 threads: the gradients are the same bits (the
// same elementwise kernel computes them), the sums agree to float rounding (only the
// order of the additions differs), and every thread count gives the same bits.
TEST_CASE("bce_with_logits_row_sums is the row sum of bce_with_logits, on any thread count") {
  const int saved = omp_get_max_threads();
  ad::Rng rng(8);
  const int64_t rows = 131, cols = 784;  // several chunks, rows straddling their edges
  ad::Tensor l = rng.normal({rows, cols}, ad::f32, 0, 4);
  const ad::Tensor t = rng.uniform({rows, cols}, 0.0, 1.0), g = rng.normal({rows}, ad::f32);
  l.requires_grad_(true);
  ad::Tensor composed = ad::sum(nn::bce_with_logits(l, t, nn::Reduction::none), -1);
  ad::backward(ad::sum(composed * g));
  const std::vector<double> composed_sums = composed.detach().to_vector(),
                            composed_grad = l.grad().to_vector();
  l.zero_grad();
  std::vector<std::vector<double>> sums, grads;
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    ad::Tensor fused = nn::bce_with_logits_row_sums(l, t);
    ad::backward(ad::sum(fused * g));
    sums.push_back(fused.detach().to_vector());
    grads.push_back(l.grad().to_vector());
    l.zero_grad();
  }
  omp_set_num_threads(saved);
  CHECK(grads[0] == composed_grad);
  for (int64_t r = 0; r < rows; ++r)
    CHECK(sums[0][r] == doctest::Approx(composed_sums[r]).epsilon(1e-6));
  for (int t_index = 1; t_index < 3; ++t_index) {
    CHECK(sums[t_index] == sums[0]);
    CHECK(grads[t_index] == grads[0]);
  }
}

// transpose swaps the last two axes tile by tile (ops_shape.cpp); every element must land
// where the definition puts it, on shapes that end mid-tile, one-row and one-column
// matrices and batches of matrices included, in float and double.
TEST_CASE("transpose of the last two axes puts every element where the definition does") {
  ad::Rng rng(12);
  const std::vector<ad::Shape> shapes = {{1, 1},  {1, 70},  {70, 1},     {31, 33},
                                         {64, 64}, {65, 97}, {3, 33, 40}, {2, 3, 17, 45}};
  for (const ad::Shape& shape : shapes)
    for (ad::DType dtype : {ad::f32, ad::f64}) {
      CAPTURE(ad::to_string(shape));
      const ad::Tensor a = rng.normal(shape, dtype);
      const int r = a.rank();
      const int64_t rows = a.dim(-2), cols = a.dim(-1), count = a.numel() / (rows * cols);
      const std::vector<double> x = a.to_vector();
      for (auto [axis0, axis1] : {std::pair{-2, -1}, std::pair{-1, -2}, std::pair{r - 1, r - 2}}) {
        const ad::Tensor t = ad::transpose(a, axis0, axis1);
        CHECK(t.dim(-2) == cols);
        CHECK(t.dim(-1) == rows);
        const std::vector<double> y = t.to_vector();
        int64_t wrong = 0;
        for (int64_t m = 0; m < count; ++m)
          for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = 0; j < cols; ++j)
              wrong += y[(m * cols + j) * rows + i] != x[(m * rows + i) * cols + j];
        CHECK(wrong == 0);
      }
    }
}

// sum_to's plain loops for a scalar target and for the last axis (ops_reduce.cpp) must add
// in the order of the general walk: element after element into a float, rows in order.
// The terms span 12 orders of magnitude, so another order of addition gives other bits.
TEST_CASE("sum_to onto one number or onto the last axis adds in the general walk's order") {
  ad::Rng rng(13);
  const ad::Tensor scale = ad::exp(rng.uniform({5, 7, 300}, -14.0, 14.0));
  const ad::Tensor a = rng.normal({5, 7, 300}) * scale;  // f32
  const std::vector<double> x = a.to_vector();
  const int64_t cols = 300, rows = 35;

  float whole = 0;  // the general walk onto one number
  for (double v : x) whole += static_cast<float>(v);
  for (const ad::Shape& target : {ad::Shape{}, ad::Shape{1}, ad::Shape{1, 1, 1}}) {
    CAPTURE(ad::to_string(target));
    const ad::Tensor s = ad::sum_to(a, target);
    CHECK(s.shape() == target);
    CHECK(s.to_vector()[0] == whole);
  }
  float reversed = 0;  // the test can tell orders apart
  for (auto v = x.rbegin(); v != x.rend(); ++v) reversed += static_cast<float>(*v);
  CHECK(reversed != whole);

  std::vector<float> by_column(cols, 0.0f);  // the general walk onto the last axis
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) by_column[c] += static_cast<float>(x[r * cols + c]);
  for (const ad::Shape& target : {ad::Shape{300}, ad::Shape{1, 300}, ad::Shape{1, 1, 300}}) {
    CAPTURE(ad::to_string(target));
    const std::vector<double> s = ad::sum_to(a, target).to_vector();
    int64_t wrong = 0;
    for (int64_t c = 0; c < cols; ++c) wrong += s[c] != by_column[c];
    CHECK(wrong == 0);
  }
  // and a target the general walk serves, for comparison: the sums over the middle axis
  const std::vector<double> middle = ad::sum_to(a, {5, 1, 300}).to_vector();
  float first = 0;
  for (int64_t r = 0; r < 7; ++r) first += static_cast<float>(x[r * cols]);
  CHECK(middle[0] == first);
}

// A tensor combined with a single number (x * 0.5, 1.0 - x) takes a flat loop in
// broadcast_binary (ops_elementwise.cpp); each element must be the operation on the pair.
TEST_CASE("a tensor and a single number combine element by element, the number on either side") {
  ad::Rng rng(14);
  for (ad::DType dtype : {ad::f32, ad::f64})
    for (const ad::Shape& number_shape : {ad::Shape{}, ad::Shape{1}, ad::Shape{1, 1}}) {
      CAPTURE(ad::to_string(number_shape));
      const ad::Tensor x = rng.normal({37, 19}, dtype);
      const ad::Tensor c = rng.normal(number_shape, dtype);
      const std::vector<double> xs = x.to_vector();
      const double k = c.to_vector()[0];
      auto same = [&](const ad::Tensor& got, auto op) {
        CHECK(got.shape() == x.shape());
        const std::vector<double> g = got.to_vector();
        int64_t wrong = 0;
        for (size_t i = 0; i < xs.size(); ++i) {
          const double want = dtype == ad::f32 ? static_cast<double>(op(static_cast<float>(xs[i]),
                                                                        static_cast<float>(k)))
                                               : op(xs[i], k);
          wrong += g[i] != want;
        }
        CHECK(wrong == 0);
      };
      same(x + c, [](auto a, auto b) { return a + b; });
      same(c + x, [](auto a, auto b) { return b + a; });
      same(x - c, [](auto a, auto b) { return a - b; });
      same(c - x, [](auto a, auto b) { return b - a; });
      same(x * c, [](auto a, auto b) { return a * b; });
      same(c / x, [](auto a, auto b) { return b / a; });
      same(x / c, [](auto a, auto b) { return a / b; });
    }
}
