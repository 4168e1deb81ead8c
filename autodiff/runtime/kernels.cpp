#include "autodiff/runtime/kernels.h"

namespace ad::kernels {

Dims4 pad4(const Shape& shape) {
  Dims4 d{1, 1, 1, 1};
  const size_t offset = 4 - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) d[offset + i] = shape[i];
  return d;
}

Dims4 broadcast_strides(const Shape& in, const Shape& out) {
  // Row-major strides of `in`, right-aligned with `out`; 0 where `in` has size 1 (or is
  // missing) so that the same element is read along the whole stretched axis.
  Dims4 in_dims = pad4(in), out_dims = pad4(out), strides{0, 0, 0, 0};
  int64_t stride = 1;
  for (int i = 3; i >= 0; --i) {
    strides[i] = (in_dims[i] == 1 && out_dims[i] != 1) ? 0 : stride;
    stride *= in_dims[i];
  }
  return strides;
}

AxisView axis_view(const Shape& shape, int axis) {
  AxisView v;
  for (int i = 0; i < static_cast<int>(shape.size()); ++i) {
    if (i < axis)
      v.outer *= shape[i];
    else if (i == axis)
      v.n = shape[i];
    else
      v.inner *= shape[i];
  }
  return v;
}

}  // namespace ad::kernels
