// Shapes, dtypes and the one exception type of the autodiff core.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace ad {

// A shape lists the size of each dimension, outermost first (row-major).
// Rank 0 ({}) is a scalar. The project supports up to 4 dimensions.
using Shape = std::vector<int64_t>;
constexpr int kMaxRank = 4;

enum class DType { f32, f64 };
constexpr DType f32 = DType::f32;
constexpr DType f64 = DType::f64;

const char* to_string(DType dtype);
std::string to_string(const Shape& shape);  // "[128x400]", "[]" for a scalar
int64_t numel(const Shape& shape);

// Everything the core rejects (shape mismatch, bad axis, dtype mixing, ...) throws
// ad::Error, whose message names the op and the shapes involved.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The exercise track (docs/exercises.md): in a copy made by `make student` each exercise's
// code is replaced by a call of exercise_not_done, which throws this error naming the
// exercise (id() is "E03.2"), the page to read and the equation to implement.
class ExerciseNotDone : public Error {
 public:
  ExerciseNotDone(std::string id, const std::string& message)
      : Error(message), id_(std::move(id)) {}
  const std::string& id() const { return id_; }

 private:
  std::string id_;
};
[[noreturn]] void exercise_not_done(const char* id, const char* title, const char* equation);

// Normalises a possibly negative axis (-1 = last) against a rank; throws naming `op`.
int normalize_axis(const char* op, int axis, int rank);

// NumPy broadcasting: align shapes on the right; each pair of sizes must be equal or 1.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

}  // namespace ad
