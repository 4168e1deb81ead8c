// Small dense linear algebra in double, for closed-form checks: Gaussian KL with full
// covariances, the linear-Gaussian (PPCA) model's evidence and posterior, Cholesky
// factors. Plain loops over k x k matrices with k of at most a few dozen; nothing here
// is recorded on the tape (use ad:: ops for anything that needs gradients).
//
//   vae::Matrix S = vae::random_spd(3, rng);  // symmetric positive definite
//   vae::Matrix L = vae::cholesky(S);         // S = L L^T, L lower triangular
//   double logdet = vae::log_det_spd(S);      // = 2 sum log L_ii
#pragma once
#include <string>
#include <vector>

#include "autodiff/rng.h"

namespace vae {

struct Matrix {
  int rows = 0, cols = 0;
  std::vector<double> values;  // row-major

  Matrix() = default;
  Matrix(int rows, int cols, double fill = 0.0);
  static Matrix identity(int n);
  static Matrix column(const std::vector<double>& v);  // n x 1
  double& operator()(int i, int j) { return values[i * cols + j]; }
  double operator()(int i, int j) const { return values[i * cols + j]; }
  std::string str() const;
};

Matrix operator+(const Matrix& a, const Matrix& b);
Matrix operator-(const Matrix& a, const Matrix& b);
Matrix operator*(const Matrix& a, const Matrix& b);  // matrix product
Matrix operator*(double s, const Matrix& a);
Matrix transpose(const Matrix& a);
double trace(const Matrix& a);
double dot(const std::vector<double>& a, const std::vector<double>& b);
std::vector<double> matvec(const Matrix& a, const std::vector<double>& x);

// S = L L^T for a symmetric positive definite S; throws ad::Error otherwise.
Matrix cholesky(const Matrix& s);
double log_det_spd(const Matrix& s);                                           // log |S|
Matrix inverse_spd(const Matrix& s);                                           // S^-1
std::vector<double> solve_spd(const Matrix& s, const std::vector<double>& b);  // S^-1 b

// A random symmetric positive definite matrix A A^T / n + jitter I (A standard normal).
Matrix random_spd(int n, ad::Rng& rng, double jitter = 0.5);

}  // namespace vae
