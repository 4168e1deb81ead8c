// Every differentiable operation of the core. Each one computes its output and, when an
// input requires grad, records an entry on the tape whose backward function sits right
// next to the forward code (see the ops_*.cpp files).
//
// Elementwise binary ops broadcast with NumPy rules ([3,1] + [1,4] -> [3,4],
// [2,3,4] + [4] -> [2,3,4]); their backward reduces the gradient back to each input's
// shape with sum_to. Axes may be negative (-1 = last).
#pragma once
#include <vector>

#include "autodiff/tensor.h"

namespace ad {

// ---- elementwise, broadcasting ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);

// ---- elementwise, one input ----
Tensor neg(const Tensor& a);
Tensor pow(const Tensor& a, double exponent);  // a^p for a scalar p
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor abs(const Tensor& a);
Tensor relu(const Tensor& a);
Tensor sigmoid(const Tensor& a);  // stable: never exp of a large positive number
Tensor tanh(const Tensor& a);
Tensor sin(const Tensor& a);
Tensor cos(const Tensor& a);
Tensor softplus(const Tensor& a);                     // log(1 + e^a), stable at large |a|
Tensor log_sigmoid(const Tensor& a);                  // log(sigmoid(a)) = -softplus(-a), stable
Tensor clamp(const Tensor& a, double lo, double hi);  // gradient 0 where clamped

// ---- reductions (keepdim keeps the reduced axis with size 1) ----
Tensor sum(const Tensor& a);  // over everything: a scalar (shape [])
Tensor sum(const Tensor& a, int axis, bool keepdim = false);
Tensor mean(const Tensor& a);
Tensor mean(const Tensor& a, int axis, bool keepdim = false);
Tensor max(const Tensor& a);  // gradient goes to the first maximal element
Tensor max(const Tensor& a, int axis, bool keepdim = false);
Tensor logsumexp(const Tensor& a, int axis, bool keepdim = false);  // max-shifted, stable
Tensor log_softmax(const Tensor& a, int axis = -1);

// ---- broadcasting, explicitly ----
Tensor broadcast_to(const Tensor& a, const Shape& shape);
// Sums a over the axes that broadcasting added or stretched so the result has `shape`:
// the backward of every broadcasting op.
Tensor sum_to(const Tensor& a, const Shape& shape);

// ---- shape ----
Tensor reshape(const Tensor& a, const Shape& shape);  // one dimension may be -1
Tensor transpose(const Tensor& a, int axis0 = -2, int axis1 = -1);
Tensor concat(const std::vector<Tensor>& tensors, int axis);
Tensor slice(const Tensor& a, int axis, int64_t start, int64_t end);          // [start, end)
Tensor gather(const Tensor& a, int axis, const std::vector<int64_t>& index);  // index select
// The adjoint of gather (and its backward): slot k of src along `axis` is added into slot
// index[k] of a zero tensor whose axis has `size` slots (an index given twice collects both).
Tensor scatter_add(const Tensor& src, int axis, const std::vector<int64_t>& index, int64_t size);

// ---- linear algebra ----
// [m,k] x [k,n] -> [m,n]; batched [b,m,k] x [b,k,n] -> [b,m,n];
// [b,m,k] x [k,n] -> [b,m,n] (the matrix is shared by every batch).
Tensor matmul(const Tensor& a, const Tensor& b);
// x W + b in one op: x [N, in] (or [B, N, in]), W [in, out], b [out] -> [N, out] (or
// [B, N, out]). The same numbers as matmul(x, w) + b, without a second pass over the
// output: gemm adds onto rows that already hold b, and backward sums g's rows for db.
Tensor affine(const Tensor& x, const Tensor& w, const Tensor& b);

// ---- operators (a scalar operand takes the tensor's dtype) ----
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);

}  // namespace ad
