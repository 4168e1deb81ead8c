// The fast nn::conv2d, nn::conv_transpose2d and nn::conv2d_weight_grad (one recorded op
// each, nn/conv.cpp, their products in nn/conv_fast.cpp) against their definitions
// nn::conv2d_reference & co. (im2col, matmul, transpose and a broadcast bias, each recorded
// by itself), and the patch-matrix kernels of nn/conv_fast.h against nn::im2col and
// nn::col2im.
//
// Tolerances. In double the two paths agree to 1e-12. In float both are compared with the
// double reference: every output and gradient element is a sum of L products (L = C_in k k
// for a conv2d output, N H_out W_out for a weight gradient, ...), and the standard bound
// for such a sum in precision eps is (L + 2) eps sum |a_i b_i|, in any order of summation.
// The sum of magnitudes is the same op run on |x|, |w|, |b| with the seed |dY|, so each
// element gets its own bound; L is the longest sum of the op.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "autodiff/autodiff.h"
#include "nn/conv.h"
#include "nn/conv_fast.h"
#include "tests/helpers.h"

using ad::Tensor;
using X = const std::vector<Tensor>&;

namespace {

// One convolution to test. For conv2d the image is the input [n, c_in, h, w]; for
// conv_transpose2d it is the input too (the small side), and the output grows.
struct Case {
  int64_t n, c_in, c_out, h, w, k, stride, padding, output_padding;
  bool bias;
};

// Batch 1 and 3 (and 8, split over threads), 1 and 3 input channels, kernels 1, 3, 4, 5,
// strides 1 to 3, padding 0 to 2, output_padding up to stride - 1, non-square images,
// kernels larger than the stride and smaller, a kernel larger than the image.
const std::vector<Case> cases = {
    {1, 1, 2, 5, 7, 3, 1, 1, 0, true},  {3, 3, 4, 6, 5, 3, 2, 1, 1, false},
    {1, 3, 2, 7, 4, 1, 1, 0, 0, true},  {3, 1, 3, 8, 9, 4, 2, 2, 1, true},
    {1, 2, 1, 9, 6, 5, 3, 2, 2, true},  {3, 3, 5, 5, 5, 5, 1, 2, 0, false},
    {3, 2, 3, 4, 10, 3, 3, 0, 1, true}, {1, 1, 1, 3, 3, 4, 2, 1, 0, false},
    {3, 3, 2, 6, 6, 2, 3, 1, 2, true},  {8, 8, 16, 12, 11, 3, 1, 1, 0, true},
    // rows of more than 16 positions (the AVX-512 row loops move 16 at a time)
    {2, 2, 3, 7, 37, 3, 2, 1, 1, true}, {1, 2, 2, 5, 35, 3, 1, 1, 0, false},
};

enum class Op { conv2d, conv_transpose2d };

using ConvFn = std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>;

// The fast op or the reference one, with the case's stride and padding.
ConvFn conv_of(Op op, const Case& c, bool reference) {
  if (op == Op::conv2d)
    return [c, reference](const Tensor& x, const Tensor& w, const Tensor& b) {
      return reference ? nn::conv2d_reference(x, w, b, c.stride, c.padding)
                       : nn::conv2d(x, w, b, c.stride, c.padding);
    };
  return [c, reference](const Tensor& x, const Tensor& w, const Tensor& b) {
    return reference
               ? nn::conv_transpose2d_reference(x, w, b, c.stride, c.padding, c.output_padding)
               : nn::conv_transpose2d(x, w, b, c.stride, c.padding, c.output_padding);
  };
}

// The inputs of a case in double: x, the weight in the op's layout, the bias (or
// undefined), and a seed dY of the output's shape.
struct Inputs {
  Tensor x, w, b, seed;
};

Inputs inputs_of(Op op, const Case& c, ad::Rng& rng) {
  Inputs in;
  in.x = rng.normal({c.n, c.c_in, c.h, c.w}, ad::f64);
  in.w = op == Op::conv2d ? rng.normal({c.c_out, c.c_in, c.k, c.k}, ad::f64)
                          : rng.normal({c.c_in, c.c_out, c.k, c.k}, ad::f64);
  if (c.bias) in.b = rng.normal({c.c_out}, ad::f64);
  const int64_t out_h = op == Op::conv2d ? nn::conv2d_output_size(c.h, c.k, c.stride, c.padding)
                                         : nn::conv_transpose2d_output_size(
                                               c.h, c.k, c.stride, c.padding, c.output_padding);
  const int64_t out_w = op == Op::conv2d ? nn::conv2d_output_size(c.w, c.k, c.stride, c.padding)
                                         : nn::conv_transpose2d_output_size(
                                               c.w, c.k, c.stride, c.padding, c.output_padding);
  in.seed = rng.normal({c.n, c.c_out, out_h, out_w}, ad::f64);
  return in;
}

void backward_with_seed(const Tensor& y, const Tensor& seed) {
  ad::BackwardOptions options;
  options.seed = seed;
  ad::backward(y, options);
}

// y = f(x, w, b) and its three gradients under the seed: {y, dx, dw, db} (db undefined
// without a bias). Fresh leaves of the given dtype every time, so nothing accumulates.
std::vector<Tensor> run(const ConvFn& f, const Inputs& in, ad::DType dtype) {
  Tensor x = in.x.to(dtype).detach().requires_grad_();
  Tensor w = in.w.to(dtype).detach().requires_grad_();
  Tensor b = in.b.defined() ? in.b.to(dtype).detach().requires_grad_() : Tensor();
  Tensor y = f(x, w, b);
  backward_with_seed(y, in.seed.to(dtype).detach());
  return {y, x.grad(), w.grad(), b.defined() ? b.grad() : Tensor()};
}

Tensor absolute(const Tensor& t) {
  if (!t.defined()) return t;
  Tensor a = t.detach();
  for (int64_t i = 0; i < a.numel(); ++i) a.set_flat(i, std::abs(a.flat(i)));
  return a;
}

// The longest dot product in the op: an output pixel, a weight-gradient entry (summed
// over every image and position) or an input-gradient pixel.
int64_t longest_sum(const Case& c, const Tensor& y) {
  const int64_t positions = c.n * std::max(c.h * c.w, y.dim(2) * y.dim(3));
  return std::max({c.c_in * c.k * c.k + 1, c.c_out * c.k * c.k, positions});
}

const char* const names[] = {"y", "dx", "dweight", "dbias"};

// Largest |got - expected| over the elements (the dtypes may differ).
double max_abs_diff(const Tensor& got, const Tensor& expected) {
  REQUIRE(got.shape() == expected.shape());
  double worst = 0;
  for (int64_t i = 0; i < got.numel(); ++i)
    worst = std::max(worst, std::abs(got.flat(i) - expected.flat(i)));
  return worst;
}

double max_abs(const Tensor& t) {
  double largest = 0;
  for (int64_t i = 0; i < t.numel(); ++i) largest = std::max(largest, std::abs(t.flat(i)));
  return largest;
}

// The largest error relative to the elementwise bound (L + 2) eps magnitude: <= 1 passes.
double worst_error_ratio(const Tensor& got, const Tensor& exact, const Tensor& magnitude,
                         int64_t length) {
  REQUIRE(got.shape() == exact.shape());
  const double eps = std::numeric_limits<float>::epsilon();
  double worst = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double bound = (length + 2) * eps * magnitude.flat(i);
    const double error = std::abs(got.flat(i) - exact.flat(i));
    if (error > bound) worst = std::max(worst, bound == 0 ? INFINITY : error / bound);
  }
  return worst;
}

std::string describe(Op op, const Case& c) {
  return fmt::format("{} n={} c_in={} c_out={} {}x{} k={} stride={} padding={} op={} bias={}",
                     op == Op::conv2d ? "conv2d" : "conv_transpose2d", c.n, c.c_in, c.c_out, c.h,
                     c.w, c.k, c.stride, c.padding, c.output_padding, c.bias);
}

void check_fast_against_reference(Op op) {
  ad::Rng rng(op == Op::conv2d ? 11 : 12);
  for (const Case& c : cases) {
    INFO(describe(op, c));
    const Inputs in = inputs_of(op, c, rng);
    const std::vector<Tensor> exact = run(conv_of(op, c, true), in, ad::f64);
    const std::vector<Tensor> fast64 = run(conv_of(op, c, false), in, ad::f64);
    const std::vector<Tensor> fast32 = run(conv_of(op, c, false), in, ad::f32);
    const std::vector<Tensor> reference32 = run(conv_of(op, c, true), in, ad::f32);
    const Inputs abs_in{absolute(in.x), absolute(in.w), absolute(in.b), absolute(in.seed)};
    const std::vector<Tensor> magnitude = run(conv_of(op, c, true), abs_in, ad::f64);
    const int64_t length = longest_sum(c, exact[0]);
    for (int i = 0; i < 4; ++i) {
      CAPTURE(names[i]);
      REQUIRE((exact[i].defined() == c.bias || i < 3));
      if (!exact[i].defined()) {
        CHECK_FALSE(fast64[i].defined());
        continue;
      }
      CHECK(fast64[i].dtype() == ad::f64);
      CHECK(fast32[i].dtype() == ad::f32);
      CHECK(max_abs_diff(fast64[i], exact[i]) < 1e-12);
      CHECK(worst_error_ratio(fast32[i], exact[i], magnitude[i], length) <= 1.0);
      // The bound is a fair one: the float reference composition stays inside it too.
      CHECK(worst_error_ratio(reference32[i], exact[i], magnitude[i], length) <= 1.0);
    }
  }
}

void check_gradcheck(const ad::TensorFunction& f, const std::vector<Tensor>& inputs) {
  ad::GradcheckResult r = ad::gradcheck(f, inputs);
  INFO(r.str());
  CHECK(r.ok);
}

// Small integers, so that every sum is exact whatever its order.
Tensor integers(ad::Rng& rng, const ad::Shape& shape, ad::DType dtype) {
  Tensor t = rng.normal(shape, dtype);
  for (int64_t i = 0; i < t.numel(); ++i) t.set_flat(i, std::round(4 * t.flat(i)));
  return t;
}

}  // namespace

TEST_CASE("conv fast: unfold is im2col transposed and fold is col2im transposed") {
  // Both row loops: the AVX-512 ones (when the CPU has them) and the plain ones.
  for (bool plain : {false, true}) {
    std::optional<ad::ReferenceKernels> reference;
    if (plain) reference.emplace();
    INFO("plain row loops: " << plain);
    ad::Rng rng(10);
    for (const Case& c : cases) {
      for (ad::DType dtype : {ad::f32, ad::f64}) {
        INFO(describe(Op::conv2d, c));
        namespace ck = nn::conv_fast;
        const ck::Geometry g = ck::Geometry::over(c.c_in, c.h, c.w, c.k, c.stride, c.padding);
        REQUIRE(g.grid_w == nn::conv2d_output_size(c.w, c.k, c.stride, c.padding));
        const int64_t K = g.patch_size(), P = g.positions();
        Tensor x = integers(rng, {c.n, c.c_in, c.h, c.w}, dtype);
        Tensor cols = nn::im2col(x, c.k, c.stride, c.padding);  // [N, P, K]
        REQUIRE(cols.shape() == ad::Shape{c.n, P, K});
        Tensor dcols = integers(rng, cols.shape(), dtype);  // a gradient to fold back
        Tensor folded = nn::col2im(dcols, c.c_in, c.h, c.w, c.k, c.stride, c.padding);
        ad::dispatch(dtype, [&](auto zero) {
          using T = decltype(zero);
          // Garbage in the buffer first: unfold must write every entry, padding included.
          std::vector<T> patches(K * P, T(7)), image(g.image_size(), T(0));
          for (int64_t n = 0; n < c.n; ++n) {
            ck::unfold(x.data<T>() + n * g.image_size(), g, patches.data());
            int64_t wrong = 0;
            for (int64_t j = 0; j < P; ++j)
              for (int64_t r = 0; r < K; ++r)
                wrong += patches[r * P + j] != cols.data<T>()[(n * P + j) * K + r];
            CHECK(wrong == 0);

            for (int64_t j = 0; j < P; ++j)  // dcols[n]^T, folded back onto an image
              for (int64_t r = 0; r < K; ++r)
                patches[r * P + j] = dcols.data<T>()[(n * P + j) * K + r];
            std::fill(image.begin(), image.end(), T(7));  // fold overwrites every pixel
            ck::fold<T>(patches.data(), g, nullptr, image.data());
            wrong = 0;
            for (int64_t i = 0; i < g.image_size(); ++i)
              wrong += image[i] != folded.data<T>()[n * g.image_size() + i];
            CHECK(wrong == 0);
          }
        });
      }
    }
  }
}

TEST_CASE("conv fast: fold adds tap by tap onto the start values, the bits of a direct loop") {
  // fold goes through the image's phases when the stride is above 1; each pixel must
  // still receive its entries in tap order (c, kh, kw) on top of its channel's start
  // value. Random values, so that another order of the sums would show in the bits.
  namespace ck = nn::conv_fast;
  ad::Rng rng(12);
  for (bool plain : {false, true}) {
    std::optional<ad::ReferenceKernels> reference;
    if (plain) reference.emplace();
    INFO("plain row loops: " << plain);
    for (const Case& c : cases) {
      INFO(describe(Op::conv2d, c));
      const ck::Geometry g = ck::Geometry::over(c.c_in, c.h, c.w, c.k, c.stride, c.padding);
      const int64_t K = g.patch_size(), P = g.positions(), pixels = g.height * g.width;
      const Tensor patches = rng.normal({K, P}, ad::f32), start = rng.normal({c.c_in}, ad::f32);
      const float* entries = patches.data<float>();
      std::vector<float> direct(g.image_size());
      for (int64_t ch = 0; ch < g.channels; ++ch)
        std::fill_n(direct.begin() + ch * pixels, pixels, start.data<float>()[ch]);
      for (int64_t ch = 0; ch < g.channels; ++ch)
        for (int64_t kh = 0; kh < g.kernel; ++kh)
          for (int64_t kw = 0; kw < g.kernel; ++kw)
            for (int64_t oh = 0; oh < g.grid_h; ++oh)
              for (int64_t ow = 0; ow < g.grid_w; ++ow) {
                const int64_t r = oh * g.stride - g.padding + kh;
                const int64_t q = ow * g.stride - g.padding + kw;
                if (r < 0 || r >= g.height || q < 0 || q >= g.width) continue;
                direct[ch * pixels + r * g.width + q] +=
                    entries[((ch * g.kernel + kh) * g.kernel + kw) * P + oh * g.grid_w + ow];
              }
      std::vector<float> folded(g.image_size(), 7.0f);
      ck::fold(entries, g, start.data<float>(), folded.data());
      CHECK(std::memcmp(direct.data(), folded.data(), direct.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("conv fast: each ISA's row loops give the plain loops' bits") {
  // (On a CPU without AVX-512 every ISA runs the plain loops and this compares them with
  // themselves.) Every block width around the register widths (8 and 16), rows ending at
  // the very end of the buffers (a SIMD loop must not read or write past them), and
  // pixels holding -0 that an add must leave alone (x + 0 would make them +0).
  namespace ck = nn::conv_fast;
  ad::Rng rng(31);
  for (ad::Isa isa : ad::supported_isas()) {
    INFO("isa: " << ad::to_string(isa));
    for (int64_t cols = 1; cols <= 33; ++cols)
      for (int64_t rows : {1, 3}) {
        CAPTURE(cols);
        CAPTURE(rows);
        const int64_t src_ld = cols + 5, dst_ld = cols + 3;
        const int64_t pixels = (rows - 1) * src_ld + cols;
        const int64_t positions = (rows - 1) * dst_ld + cols;
        const Tensor image_values = integers(rng, {pixels}, ad::f32);
        const Tensor patch_values = integers(rng, {positions}, ad::f32);
        std::vector<float> image(image_values.data<float>(), image_values.data<float>() + pixels);
        const std::vector<float> patch(patch_values.data<float>(),
                                       patch_values.data<float>() + positions);
        for (size_t i = 0; i < image.size(); i += 3) image[i] = -0.0f;
        const auto plain = ck::detail::row_loops<float>(ad::Isa::reference);
        const auto fast = ck::detail::row_loops<float>(isa);

        std::vector<float> plain_out(positions, 7.0f), fast_out(positions, 7.0f);
        plain.copy(image.data(), src_ld, rows, cols, plain_out.data(), dst_ld);
        fast.copy(image.data(), src_ld, rows, cols, fast_out.data(), dst_ld);
        CHECK(std::memcmp(plain_out.data(), fast_out.data(), positions * sizeof(float)) == 0);

        std::vector<float> plain_image = image, fast_image = image;
        plain.add(patch.data(), dst_ld, rows, cols, plain_image.data(), src_ld);
        fast.add(patch.data(), dst_ld, rows, cols, fast_image.data(), src_ld);
        CHECK(std::memcmp(plain_image.data(), fast_image.data(), pixels * sizeof(float)) == 0);
      }
  }
}

TEST_CASE("conv fast: conv2d matches conv2d_reference (values, dx, dweight, dbias)") {
  check_fast_against_reference(Op::conv2d);
}

TEST_CASE("conv fast: conv_transpose2d matches conv_transpose2d_reference (values and grads)") {
  check_fast_against_reference(Op::conv_transpose2d);
}

TEST_CASE("conv fast: conv2d_weight_grad matches conv2d_weight_grad_reference (values and grads)") {
  ad::Rng rng(19);
  for (const Case& c : cases) {
    INFO(describe(Op::conv2d, c));
    const int64_t out_h = nn::conv2d_output_size(c.h, c.k, c.stride, c.padding);
    const int64_t out_w = nn::conv2d_output_size(c.w, c.k, c.stride, c.padding);
    const Tensor x = rng.normal({c.n, c.c_in, c.h, c.w}, ad::f64);
    const Tensor dy = rng.normal({c.n, c.c_out, out_h, out_w}, ad::f64);
    const Tensor seed = rng.normal({c.c_out, c.c_in, c.k, c.k}, ad::f64);
    // {dW, its gradient with respect to x, and with respect to dy}, under the seed.
    auto run_weight_grad = [&](bool reference, ad::DType dtype) {
      Tensor xs = x.to(dtype).detach().requires_grad_();
      Tensor dys = dy.to(dtype).detach().requires_grad_();
      Tensor dw = reference ? nn::conv2d_weight_grad_reference(xs, dys, c.k, c.stride, c.padding)
                            : nn::conv2d_weight_grad(xs, dys, c.k, c.stride, c.padding);
      backward_with_seed(dw, seed.to(dtype).detach());
      return std::vector<Tensor>{dw, xs.grad(), dys.grad()};
    };
    const std::vector<Tensor> exact = run_weight_grad(true, ad::f64);
    const std::vector<Tensor> fast64 = run_weight_grad(false, ad::f64);
    const std::vector<Tensor> fast32 = run_weight_grad(false, ad::f32);
    for (int i = 0; i < 3; ++i) {
      CAPTURE(i);
      CHECK(fast64[i].dtype() == ad::f64);
      CHECK(max_abs_diff(fast64[i], exact[i]) < 1e-12);
      // In float, each entry is a sum of at most N P products of numbers of size ~1.
      const double length = double(c.n) * std::max(c.h * c.w, out_h * out_w) * c.k * c.k;
      CHECK(max_abs_diff(fast32[i], exact[i]) <=
            (length + 2) * std::numeric_limits<float>::epsilon() * (1 + max_abs(exact[i])));
    }
  }
}

TEST_CASE("conv fast: the backward of each op is the other convolutions (nn/conv.h's form T)") {
  if (ad::active_isa() == ad::Isa::reference) {
    MESSAGE("AD_REFERENCE is set: the ops run their definitions, nothing to compare");
    return;
  }
  // Under create_graph the backward passes record themselves: conv2d's dx is a
  // conv_transpose2d of dY and its dW a conv2d_weight_grad; conv_transpose2d's dx is a
  // conv2d and its dW a conv2d_weight_grad of (dY, x); db is sums.
  ad::Rng rng(20);
  Tensor x = rng.normal({2, 3, 6, 5}, ad::f64).requires_grad_();
  Tensor w = rng.normal({4, 3, 3, 3}, ad::f64).requires_grad_();
  Tensor b = rng.normal({4}, ad::f64).requires_grad_();
  // The ops that the backward pass of y's op records (after the forward's entries).
  auto backward_ops = [](const Tensor& y, const std::vector<Tensor>& inputs) {
    const size_t forward_entries = ad::tape().entries().size();
    Tensor loss = ad::sum(y * y);
    const size_t before = ad::tape().entries().size();
    REQUIRE(before == forward_entries + 2);
    ad::grad(loss, inputs, {.create_graph = true});
    std::string ops;
    const auto& entries = ad::tape().entries();
    for (size_t i = before; i < entries.size(); ++i) ops += " " + entries[i].op + " ";
    ad::tape().clear();
    return ops;
  };
  auto count = [](const std::string& ops, const std::string& op) {
    int found = 0;
    for (size_t at = ops.find(" " + op + " "); at != std::string::npos;
         at = ops.find(" " + op + " ", at + 1))
      ++found;
    return found;
  };
  ad::tape().clear();
  std::string ops = backward_ops(nn::conv2d(x, w, b, 2, 1), {x, w, b});
  CAPTURE(ops);
  CHECK(count(ops, "conv_transpose2d") == 1);
  CHECK(count(ops, "conv2d_weight_grad") == 1);
  CHECK(count(ops, "conv2d") == 0);
  CHECK(count(ops, "im2col") == 0);
  ops = backward_ops(nn::conv_transpose2d(x, rng.normal({3, 4, 3, 3}, ad::f64).requires_grad_(),
                                          b, 2, 1, 1),
                     {x, w, b});
  CAPTURE(ops);
  CHECK(count(ops, "conv2d") == 1);
  CHECK(count(ops, "conv2d_weight_grad") == 1);
  CHECK(count(ops, "conv_transpose2d") == 0);
}

TEST_CASE("conv fast: the fused first-order backward gives the ops form's gradients (double)") {
  // Without create_graph, conv2d's and conv_transpose2d's backward run fused
  // (nn/conv_fast_backward.cpp: one pass over the batch); with it, the ops of the form T.
  // Both must give the same dx, dW and db, for every case of the table, in double.
  ad::Rng rng(21);
  for (Op op : {Op::conv2d, Op::conv_transpose2d})
    for (const Case& c : cases) {
      INFO(describe(op, c));
      const Inputs in = inputs_of(op, c, rng);
      std::vector<Tensor> leaves = {in.x.detach().requires_grad_(),
                                    in.w.detach().requires_grad_()};
      if (c.bias) leaves.push_back(in.b.detach().requires_grad_());
      auto gradients = [&](bool create_graph) {
        Tensor y = conv_of(op, c, false)(leaves[0], leaves[1], c.bias ? leaves[2] : Tensor());
        std::vector<Tensor> g =
            ad::grad(ad::sum(y * in.seed), leaves, {.create_graph = create_graph});
        ad::tape().clear();
        return g;
      };
      const std::vector<Tensor> fused = gradients(false), ops = gradients(true);
      for (size_t i = 0; i < leaves.size(); ++i) {
        CAPTURE(names[i + 1]);
        CHECK(max_abs_diff(fused[i], ops[i]) <= 1e-12 * (1 + max_abs(ops[i])));
      }
    }
}

TEST_CASE("conv fast: only the gradients asked for are computed, and they are right") {
  // The first layer's images need no gradient; a frozen weight needs none either.
  ad::Rng rng(13);
  for (Op op : {Op::conv2d, Op::conv_transpose2d}) {
    const Case c{3, 2, 3, 6, 5, 3, 2, 1, 1, true};
    INFO(describe(op, c));
    const Inputs in = inputs_of(op, c, rng);
    const std::vector<Tensor> exact = run(conv_of(op, c, true), in, ad::f64);
    for (int wanted = 0; wanted < 3; ++wanted) {  // only x, only w, only b
      CAPTURE(wanted);
      std::vector<Tensor> leaves = {in.x.detach(), in.w.detach(), in.b.detach()};
      leaves[wanted].requires_grad_();
      Tensor y = conv_of(op, c, false)(leaves[0], leaves[1], leaves[2]);
      backward_with_seed(y, in.seed);
      for (int i = 0; i < 3; ++i) CHECK(leaves[i].grad().defined() == (i == wanted));
      CHECK(max_abs_diff(leaves[wanted].grad(), exact[wanted + 1]) < 1e-12);
    }
  }
}

TEST_CASE("conv fast: any number of threads gives the same bits") {
  ad::Rng rng(14);
  const int saved = omp_get_max_threads();
  for (Op op : {Op::conv2d, Op::conv_transpose2d}) {
    // Large enough for the batch to be cut into parts (image_parts in nn/conv_fast_batch.h).
    const Case c{9, 8, 16, 12, 11, 3, 1, 1, 0, true};
    INFO(describe(op, c));
    const Inputs in = inputs_of(op, c, rng);
    omp_set_num_threads(1);
    const std::vector<Tensor> one = run(conv_of(op, c, false), in, ad::f32);
    for (int threads : {2, 3}) {  // 3: an uneven split, even on a 2-core machine
      CAPTURE(threads);
      omp_set_num_threads(threads);
      const std::vector<Tensor> first = run(conv_of(op, c, false), in, ad::f32);
      const std::vector<Tensor> again = run(conv_of(op, c, false), in, ad::f32);
      for (int i = 0; i < 4; ++i) {
        CAPTURE(names[i]);
        CHECK(max_abs_diff(first[i], again[i]) == 0);
        // y and dx image by image, dW and db part by part: whichever thread runs a part
        CHECK(max_abs_diff(first[i], one[i]) == 0);
      }
    }
  }
  omp_set_num_threads(saved);
}

TEST_CASE("conv fast: gradcheck in double of conv2d and conv_transpose2d") {
  ad::Rng rng(15);
  check_gradcheck([](X x) { return nn::conv2d(x[0], x[1], x[2], 2, 1); },
                  {rng.normal({2, 2, 5, 4}, ad::f64), rng.normal({3, 2, 3, 3}, ad::f64),
                   rng.normal({3}, ad::f64)});
  check_gradcheck([](X x) { return nn::conv2d(x[0], x[1], Tensor(), 1, 2); },
                  {rng.normal({1, 3, 3, 4}, ad::f64), rng.normal({2, 3, 4, 4}, ad::f64)});
  check_gradcheck([](X x) { return nn::conv_transpose2d(x[0], x[1], x[2], 2, 1, 1); },
                  {rng.normal({2, 2, 3, 2}, ad::f64), rng.normal({2, 3, 3, 3}, ad::f64),
                   rng.normal({3}, ad::f64)});
  check_gradcheck([](X x) { return nn::conv_transpose2d(x[0], x[1], Tensor(), 3, 0, 2); },
                  {rng.normal({1, 3, 2, 3}, ad::f64), rng.normal({3, 2, 2, 2}, ad::f64)});
}

TEST_CASE("conv fast: conv_transpose2d is the adjoint of conv2d, <conv(x), y> = <x, convT(y)>") {
  ad::Rng rng(16);
  for (const Case& c : cases) {
    INFO(describe(Op::conv2d, c));
    // y is the small side, x the size that convT(y) makes (and conv2d maps back to y).
    Tensor y = rng.normal({c.n, c.c_out, c.h, c.w}, ad::f64);
    const int64_t xh =
        nn::conv_transpose2d_output_size(c.h, c.k, c.stride, c.padding, c.output_padding);
    const int64_t xw =
        nn::conv_transpose2d_output_size(c.w, c.k, c.stride, c.padding, c.output_padding);
    Tensor x = rng.normal({c.n, c.c_in, xh, xw}, ad::f64);
    Tensor w =
        rng.normal({c.c_out, c.c_in, c.k, c.k}, ad::f64);  // conv [out, in] = convT [in, out]
    Tensor conv_x = nn::conv2d(x, w, Tensor(), c.stride, c.padding);
    Tensor convt_y = nn::conv_transpose2d(y, w, Tensor(), c.stride, c.padding, c.output_padding);
    REQUIRE(conv_x.shape() == y.shape());
    REQUIRE(convt_y.shape() == x.shape());
    CHECK(ad::sum(conv_x * y).item() ==
          doctest::Approx(ad::sum(x * convt_y).item()).epsilon(1e-12));
  }
}

TEST_CASE("conv fast: one tape entry per op; AD_REFERENCE's path records the composition") {
  if (ad::active_isa() == ad::Isa::reference) {
    MESSAGE("AD_REFERENCE is set: the fast ops are switched off, nothing to compare");
    return;
  }
  ad::Rng rng(17);
  Tensor x = rng.normal({2, 3, 6, 6}, ad::f64).requires_grad_();
  Tensor w = rng.normal({4, 3, 3, 3}, ad::f64).requires_grad_();
  Tensor b = rng.normal({4}, ad::f64).requires_grad_();
  auto ops_recorded = [] {
    std::vector<std::string> ops;
    for (const ad::Entry& e : ad::tape().entries()) ops.push_back(e.op);
    return ops;
  };
  ad::tape().clear();
  Tensor fast = nn::conv2d(x, w, b, 2, 1);
  CHECK(ops_recorded() == std::vector<std::string>{"conv2d"});
  CHECK(test_helpers::contains(ad::tape().str(), "conv2d(v1, v2, v3, k=3, stride=2, padding=1)"));
  ad::tape().clear();
  Tensor up = nn::conv_transpose2d(x, rng.normal({3, 4, 3, 3}, ad::f64), Tensor(), 2, 1, 1);
  CHECK(ops_recorded() == std::vector<std::string>{"conv_transpose2d"});
  ad::tape().clear();
  {
    ad::ReferenceKernels plain;  // what AD_REFERENCE=1 switches for the whole program
    Tensor reference = nn::conv2d(x, w, b, 2, 1);
    const std::vector<std::string> ops = ops_recorded();
    CHECK(std::count(ops.begin(), ops.end(), "im2col") == 1);
    CHECK(std::count(ops.begin(), ops.end(), "matmul") == 1);
    CHECK(std::count(ops.begin(), ops.end(), "conv2d") == 0);
    CHECK(max_abs_diff(reference, fast) < 1e-12);
  }
  ad::tape().clear();
}

TEST_CASE("conv fast: wrong shapes are errors that name the op and both shapes") {
  using test_helpers::error_of;
  const Tensor x = Tensor::zeros({2, 3, 5, 5}), w = Tensor::zeros({4, 3, 3, 3});
  std::string e = error_of<ad::Error>([&] {
    nn::conv2d(x, Tensor::zeros({4, 2, 3, 3}), Tensor());
  });
  CHECK(test_helpers::contains(e, "conv2d"));
  CHECK(test_helpers::contains(e, "[2x3x5x5]"));
  CHECK(test_helpers::contains(e, "[4x2x3x3]"));
  e = error_of<ad::Error>([&] { nn::conv2d(x, Tensor::zeros({4, 3, 7, 7}), Tensor()); });
  CHECK(test_helpers::contains(e, "conv2d"));
  CHECK(test_helpers::contains(e, "does not fit"));
  CHECK(test_helpers::contains(e, "[4x3x7x7]"));
  CHECK(test_helpers::contains(e, "[2x3x5x5]"));
  e = error_of<ad::Error>([&] { nn::conv2d(x, w, Tensor::zeros({3})); });
  CHECK(test_helpers::contains(e, "bias has shape [3]"));
  CHECK(test_helpers::contains(e, "[4x3x3x3]"));
  e = error_of<ad::Error>([&] { nn::conv2d(x, w.to(ad::f64), Tensor()); });
  CHECK(test_helpers::contains(e, "conv2d: dtype mismatch"));
  e = error_of<ad::Error>([&] { nn::conv2d(Tensor::zeros({3, 5, 5}), w, Tensor()); });
  CHECK(test_helpers::contains(e, "expected [N, C, H, W]"));
  e = error_of<ad::Error>([&] { nn::conv2d(x, w, Tensor(), 0, 1); });
  CHECK(test_helpers::contains(e, "stride >= 1"));

  // conv_transpose2d's weight is [C_in, C_out, k, k]: x's 3 channels against dim 0.
  e = error_of<ad::Error>([&] { nn::conv_transpose2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor()); });
  CHECK(test_helpers::contains(e, "conv_transpose2d"));
  CHECK(test_helpers::contains(e, "[2x3x5x5]"));
  CHECK(test_helpers::contains(e, "[4x3x3x3]"));
  e = error_of<ad::Error>([&] {
    nn::conv_transpose2d(x, Tensor::zeros({3, 4, 3, 3}), Tensor::zeros({3}));
  });
  CHECK(test_helpers::contains(e, "conv_transpose2d: bias has shape [3]"));
  e = error_of<ad::Error>([&] {
    nn::conv_transpose2d(x, Tensor::zeros({3, 4, 3, 3}), Tensor(), 2, 1, 2);
  });
  CHECK(test_helpers::contains(e, "output_padding"));
  e = error_of<ad::Error>([&] {
    nn::conv_transpose2d(Tensor::zeros({1, 3, 1, 1}), Tensor::zeros({3, 4, 1, 1}), Tensor(), 1, 1);
  });
  CHECK(test_helpers::contains(e, "empty"));
  CHECK(test_helpers::contains(e, "[1x3x1x1]"));

  // conv2d_weight_grad's dy must have the size a conv2d of x gives: 3x3 here, not 2x2.
  e = error_of<ad::Error>([&] { nn::conv2d_weight_grad(x, Tensor::zeros({2, 4, 2, 2}), 3, 2, 1); });
  CHECK(test_helpers::contains(e, "conv2d_weight_grad"));
  CHECK(test_helpers::contains(e, "[2x3x5x5]"));
  CHECK(test_helpers::contains(e, "[2x4x2x2]"));
}

TEST_CASE("conv fast: the Keras VAE's layers have the Keras shapes (PyTorch-style padding)") {
  // keras-io examples/generative/vae.py with "same" padding, in our symmetric options
  // (nn/conv.h explains the one-pixel difference in alignment).
  ad::Rng rng(18);
  nn::Conv2d conv1(1, 32, 3, rng, {.stride = 2, .padding = 1});
  nn::Conv2d conv2(32, 64, 3, rng, {.stride = 2, .padding = 1});
  nn::ConvTranspose2d up1(64, 64, 3, rng, {.stride = 2, .padding = 1, .output_padding = 1});
  nn::ConvTranspose2d up2(64, 32, 3, rng, {.stride = 2, .padding = 1, .output_padding = 1});
  nn::ConvTranspose2d logits(32, 1, 3, rng, {.padding = 1});
  Tensor h = conv2(ad::relu(conv1(Tensor::zeros({2, 1, 28, 28}))));
  CHECK(h.shape() == ad::Shape{2, 64, 7, 7});
  Tensor y = logits(ad::relu(up2(ad::relu(up1(h)))));
  CHECK(y.shape() == ad::Shape{2, 1, 28, 28});
}
