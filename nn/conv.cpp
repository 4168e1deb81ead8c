// The convolutions: first their definitions, one screen; then the ops, whose backward
// passes are the same ops again (the trilinear form T of nn/conv.h). The fast products
// are in nn/conv_fast.cpp, the argument checks in nn/conv_checks.cpp, im2col / col2im in
// nn/conv_im2col.cpp and the layers in nn/conv_layers.cpp.
#include "nn/conv.h"

#include <fmt/format.h>

#include "autodiff/ops.h"
#include "autodiff/runtime/isa.h"
#include "autodiff/tape.h"
#include "nn/conv_checks.h"
#include "nn/conv_fast.h"

namespace nn {

using ad::Tensor;

int64_t conv2d_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding) {
  return (in + 2 * padding - kernel) / stride + 1;
}

int64_t conv_transpose2d_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding,
                                     int64_t output_padding) {
  return (in - 1) * stride - 2 * padding + kernel + output_padding;
}

namespace {

// y [N, C, H, W] + b [C], broadcast over the batch and the pixels.
Tensor add_channel_bias(const Tensor& y, const Tensor& b) {
  return b.defined() ? y + ad::reshape(b, {b.dim(0), 1, 1}) : y;
}

// excerpt: conv_definition
// conv2d: the patches of x, one per row of cols, times the weight as a matrix
// W [C_out, C_in k k]; the product [N, P, C_out] turned channels-first is the image.
Tensor conv2d_definition(const Tensor& x, const Tensor& weight, const Tensor& b, int64_t stride,
                         int64_t padding) {
  const int64_t n = x.dim(0), c_out = weight.dim(0), k = weight.dim(2);
  Tensor cols = im2col(x, k, stride, padding);                         // [N, P, C_in k k]
  Tensor w = ad::transpose(ad::reshape(weight, {c_out, -1}));          // [C_in k k, C_out]
  Tensor y = ad::transpose(ad::matmul(cols, w), 1, 2);                 // [N, C_out, P]
  y = ad::reshape(y, {n, c_out, conv2d_output_size(x.dim(2), k, stride, padding),
                      conv2d_output_size(x.dim(3), k, stride, padding)});
  return add_channel_bias(y, b);
}

// conv_transpose2d: each input pixel, a row of C_in values, times W [C_in, C_out k k] is
// the k x k patch it paints onto the output; col2im adds the overlapping patches up.
Tensor conv_transpose2d_definition(const Tensor& x, const Tensor& weight, const Tensor& b,
                                   int64_t stride, int64_t padding, int64_t out_h, int64_t out_w) {
  const int64_t n = x.dim(0), c_in = weight.dim(0), c_out = weight.dim(1), k = weight.dim(2);
  Tensor rows = ad::transpose(ad::reshape(x, {n, c_in, -1}), 1, 2);   // [N, H W, C_in]
  Tensor cols = ad::matmul(rows, ad::reshape(weight, {c_in, -1}));     // [N, H W, C_out k k]
  return add_channel_bias(col2im(cols, c_out, out_h, out_w, k, stride, padding), b);
}

// conv2d_weight_grad: dy_n [C_out, P] times image n's patches [P, C_in k k], summed over n.
Tensor conv2d_weight_grad_definition(const Tensor& x, const Tensor& dy, int64_t k, int64_t stride,
                                     int64_t padding) {
  const int64_t n = x.dim(0), c_out = dy.dim(1);
  Tensor products = ad::matmul(ad::reshape(dy, {n, c_out, -1}), im2col(x, k, stride, padding));
  return ad::reshape(ad::sum(products, 0), {c_out, x.dim(1), k, k});  // [C_out, C_in, k, k]
}
// end excerpt: conv_definition

// ---- the ops: the fast products forward, the trilinear form T backward ----
// (as recorded ops under create_graph; otherwise conv2d's and conv_transpose2d's backward
// compute the same gradients fused, in one pass over the batch: nn/conv_fast_backward.cpp)

bool wants_grad(const Tensor& t) { return t.defined() && t.requires_grad(); }

// db = dY summed over the batch and the pixels, per channel: [N, C, H W] -> [N, C] -> [C].
Tensor channel_sums(const Tensor& dy) {
  return ad::sum(ad::sum(ad::reshape(dy, {dy.dim(0), dy.dim(1), -1}), 2), 0);
}

// The op's inputs as the tape sees them, and one gradient per input in that order: without
// a bias, only two.
std::vector<Tensor> conv_inputs(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (bias.defined()) return {x, weight, bias};
  return {x, weight};
}
ad::Grads conv_grads(const Tensor& bias, Tensor dx, Tensor dw, Tensor db) {
  if (bias.defined()) return {dx, dw, db};
  return {dx, dw};
}
ad::Grads conv_grads(const Tensor& bias, const conv_fast::Gradients& g) {
  return conv_grads(bias, g.x, g.weight, g.bias);
}

// Which of the op's gradients the tape asks for.
conv_fast::Wanted wanted_of(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  return {wants_grad(x), wants_grad(weight), wants_grad(bias)};
}

std::string conv_attrs(int64_t k, int64_t stride, int64_t padding) {
  return fmt::format("k={}, stride={}, padding={}", k, stride, padding);
}

// conv_transpose2d onto an out_h x out_w output (conv2d's backward needs its input's size
// back, which one output_padding for both axes cannot always name).
Tensor transposed_conv(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride,
                       int64_t padding, int64_t out_h, int64_t out_w) {
  if (ad::active_isa() == ad::Isa::reference)
    return conv_transpose2d_definition(x, weight, bias, stride, padding, out_h, out_w);
  Tensor y = conv_fast::conv_transpose2d(x, weight, bias, stride, padding, out_h, out_w);
  ad::tape().record(
      "conv_transpose2d", conv_inputs(x, weight, bias), y,
      [x, weight, bias, stride, padding](const Tensor& dy) -> ad::Grads {  // T(dY, W, x)
        if (!ad::differentiable_backward())  // the same gradients in one pass over the batch
          return conv_grads(bias, conv_fast::conv_transpose2d_backward(
                                      x, weight, dy, stride, padding, wanted_of(x, weight, bias)));
        const int64_t k = weight.dim(2);
        return conv_grads(
            bias, wants_grad(x) ? conv2d(dy, weight, Tensor(), stride, padding) : Tensor(),
            wants_grad(weight) ? conv2d_weight_grad(dy, x, k, stride, padding) : Tensor(),
            wants_grad(bias) ? channel_sums(dy) : Tensor());
      },
      fmt::format("{}, output={}x{}", conv_attrs(weight.dim(2), stride, padding), out_h, out_w));
  return y;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride,
              int64_t padding) {
  check_conv2d(x, weight, bias, stride, padding);
  if (ad::active_isa() == ad::Isa::reference)
    return conv2d_definition(x, weight, bias, stride, padding);
  Tensor y = conv_fast::conv2d(x, weight, bias, stride, padding);
  ad::tape().record(
      "conv2d", conv_inputs(x, weight, bias), y,
      [x, weight, bias, stride, padding](const Tensor& dy) -> ad::Grads {  // T(x, W, dY)
        if (!ad::differentiable_backward())  // the same gradients in one pass over the batch
          return conv_grads(bias, conv_fast::conv2d_backward(x, weight, dy, stride, padding,
                                                             wanted_of(x, weight, bias)));
        const int64_t k = weight.dim(2), h = x.dim(2), w = x.dim(3);
        return conv_grads(
            bias,
            wants_grad(x) ? transposed_conv(dy, weight, Tensor(), stride, padding, h, w) : Tensor(),
            wants_grad(weight) ? conv2d_weight_grad(x, dy, k, stride, padding) : Tensor(),
            wants_grad(bias) ? channel_sums(dy) : Tensor());
      },
      conv_attrs(weight.dim(2), stride, padding));
  return y;
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride,
                        int64_t padding, int64_t output_padding) {
  check_conv_transpose2d(x, weight, bias, stride, padding, output_padding);
  const int64_t k = weight.dim(2);
  return transposed_conv(x, weight, bias, stride, padding,
                         conv_transpose2d_output_size(x.dim(2), k, stride, padding, output_padding),
                         conv_transpose2d_output_size(x.dim(3), k, stride, padding, output_padding));
}

Tensor conv2d_weight_grad(const Tensor& x, const Tensor& dy, int64_t kernel, int64_t stride,
                          int64_t padding) {
  check_conv2d_weight_grad(x, dy, kernel, stride, padding);
  if (ad::active_isa() == ad::Isa::reference)
    return conv2d_weight_grad_definition(x, dy, kernel, stride, padding);
  Tensor dw = conv_fast::conv2d_weight_grad(x, dy, kernel, stride, padding);
  ad::tape().record(
      "conv2d_weight_grad", {x, dy}, dw,
      [x, dy, stride, padding](const Tensor& dg) -> ad::Grads {  // T(x, dG, dY)
        const int64_t h = x.dim(2), w = x.dim(3);
        return {wants_grad(x) ? transposed_conv(dy, dg, Tensor(), stride, padding, h, w) : Tensor(),
                wants_grad(dy) ? conv2d(x, dg, Tensor(), stride, padding) : Tensor()};
      },
      conv_attrs(kernel, stride, padding));
  return dw;
}

// ---- the definitions as public functions, with the ops' argument checks ----

Tensor conv2d_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride,
                        int64_t padding) {
  check_conv2d(x, weight, bias, stride, padding);
  return conv2d_definition(x, weight, bias, stride, padding);
}

Tensor conv_transpose2d_reference(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                  int64_t stride, int64_t padding, int64_t output_padding) {
  check_conv_transpose2d(x, weight, bias, stride, padding, output_padding);
  const int64_t k = weight.dim(2);
  return conv_transpose2d_definition(
      x, weight, bias, stride, padding,
      conv_transpose2d_output_size(x.dim(2), k, stride, padding, output_padding),
      conv_transpose2d_output_size(x.dim(3), k, stride, padding, output_padding));
}

Tensor conv2d_weight_grad_reference(const Tensor& x, const Tensor& dy, int64_t kernel,
                                    int64_t stride, int64_t padding) {
  check_conv2d_weight_grad(x, dy, kernel, stride, padding);
  return conv2d_weight_grad_definition(x, dy, kernel, stride, padding);
}

}  // namespace nn
