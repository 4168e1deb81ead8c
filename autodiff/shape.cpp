#include "autodiff/shape.h"

#include <fmt/format.h>

#include <cctype>

namespace ad {

const char* to_string(DType dtype) { return dtype == DType::f32 ? "float32" : "float64"; }

std::string to_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "x" : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// "E01.6 not done yet: the backward of logsumexp, see docs/exercises.md#e016 (d/da
// logsumexp(a) = ...)": the anchor is the ID in lower case without the dot, as the page's
// headings.
void exercise_not_done(const char* id, const char* title, const char* equation) {
  std::string anchor;
  for (const char* c = id; *c != '\0'; ++c)
    if (*c != '.') anchor += static_cast<char>(std::tolower(static_cast<unsigned char>(*c)));
  throw ExerciseNotDone(id, fmt::format("{} not done yet: {}, see docs/exercises.md#{} ({})", id,
                                        title, anchor, equation));
}

int normalize_axis(const char* op, int axis, int rank) {
  int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    throw Error(fmt::format("{}: axis {} is out of range for a tensor of rank {} (valid: {} to {})",
                            op, axis, rank, -rank, rank - 1));
  return a;
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Walk from the right: dimension i of the output pairs a's and b's i-th from last.
    int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
    int64_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
    if (da != db && da != 1 && db != 1)
      throw Error(
          fmt::format("{}: shapes {} and {} cannot be broadcast (dimension {} from the "
                      "right: {} vs {})",
                      op, to_string(a), to_string(b), i + 1, da, db));
    out[rank - 1 - i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace ad
