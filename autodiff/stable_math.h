// Scalar forms of the functions that overflow when written naively.
// Each one branches or factors so that exp() is only taken of a non-positive number:
// no inf and no NaN even at |x| = 1000.
#pragma once
#include <cmath>

namespace ad::stable {

// 1 / (1 + e^-x); for x < 0 rewritten as e^x / (1 + e^x).
template <class T>
T sigmoid(T x) {
  if (x >= 0) return T(1) / (T(1) + std::exp(-x));
  T e = std::exp(x);
  return e / (T(1) + e);
}

// log(1 + e^x) = max(x, 0) + log(1 + e^-|x|).
template <class T>
T softplus(T x) {
  return std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x)));
}

// log sigmoid(x) = -softplus(-x) = min(x, 0) - log(1 + e^-|x|).
template <class T>
T log_sigmoid(T x) {
  return std::min(x, T(0)) - std::log1p(std::exp(-std::abs(x)));
}

}  // namespace ad::stable
