#include "vae/linalg.h"

#include <fmt/format.h>

#include <cmath>

#include "autodiff/shape.h"

namespace vae {

namespace {
void require_same_shape(const char* op, const Matrix& a, const Matrix& b) {
  if (a.rows != b.rows || a.cols != b.cols)
    throw ad::Error(
        fmt::format("{}: shapes [{}x{}] and [{}x{}] differ", op, a.rows, a.cols, b.rows, b.cols));
}
void require_square(const char* op, const Matrix& a) {
  if (a.rows != a.cols)
    throw ad::Error(
        fmt::format("{}: needs a square matrix, got [{}x{}]", op, a.rows, a.cols));
}
}  // namespace

Matrix::Matrix(int r, int c, double fill) : rows(r), cols(c), values(size_t(r) * c, fill) {}

Matrix Matrix::identity(int n) {
  Matrix m(n, n);
  for (int i = 0; i < n; ++i) m(i, i) = 1.0;
  return m;
}

Matrix Matrix::column(const std::vector<double>& v) {
  Matrix m(static_cast<int>(v.size()), 1);
  m.values = v;
  return m;
}

std::string Matrix::str() const {
  std::string s;
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) s += fmt::format("{:10.4f}", (*this)(i, j));
    s += "\n";
  }
  return s;
}

Matrix operator+(const Matrix& a, const Matrix& b) {
  require_same_shape("matrix +", a, b);
  Matrix c = a;
  for (size_t i = 0; i < c.values.size(); ++i) c.values[i] += b.values[i];
  return c;
}

Matrix operator-(const Matrix& a, const Matrix& b) {
  require_same_shape("matrix -", a, b);
  Matrix c = a;
  for (size_t i = 0; i < c.values.size(); ++i) c.values[i] -= b.values[i];
  return c;
}

Matrix operator*(const Matrix& a, const Matrix& b) {
  if (a.cols != b.rows)
    throw ad::Error(fmt::format("matrix *: [{}x{}] times [{}x{}]: inner sizes differ",
                                         a.rows, a.cols, b.rows, b.cols));
  Matrix c(a.rows, b.cols);
  for (int i = 0; i < a.rows; ++i)
    for (int k = 0; k < a.cols; ++k)
      for (int j = 0; j < b.cols; ++j) c(i, j) += a(i, k) * b(k, j);
  return c;
}

Matrix operator*(double s, const Matrix& a) {
  Matrix c = a;
  for (double& v : c.values) v *= s;
  return c;
}

Matrix transpose(const Matrix& a) {
  Matrix t(a.cols, a.rows);
  for (int i = 0; i < a.rows; ++i)
    for (int j = 0; j < a.cols; ++j) t(j, i) = a(i, j);
  return t;
}

double trace(const Matrix& a) {
  require_square("trace", a);
  double t = 0;
  for (int i = 0; i < a.rows; ++i) t += a(i, i);
  return t;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size())
    throw ad::Error(fmt::format("dot: lengths {} and {} differ", a.size(), b.size()));
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

std::vector<double> matvec(const Matrix& a, const std::vector<double>& x) {
  return (a * Matrix::column(x)).values;
}

Matrix cholesky(const Matrix& s) {
  require_square("cholesky", s);
  const int n = s.rows;
  Matrix l(n, n);
  // Cholesky-Banachiewicz: row by row, L_ij = (S_ij - sum_k<j L_ik L_jk) / L_jj.
  for (int i = 0; i < n; ++i)
    for (int j = 0; j <= i; ++j) {
      double sum = s(i, j);
      for (int k = 0; k < j; ++k) sum -= l(i, k) * l(j, k);
      if (i == j) {
        if (!(sum > 0))
          throw ad::Error(fmt::format(
              "cholesky: the matrix is not positive definite (pivot {} is {:.3g})", i, sum));
        l(i, i) = std::sqrt(sum);
      } else {
        l(i, j) = sum / l(j, j);
      }
    }
  return l;
}

double log_det_spd(const Matrix& s) {
  Matrix l = cholesky(s);
  double log_det = 0;
  for (int i = 0; i < l.rows; ++i) log_det += 2 * std::log(l(i, i));  // |S| = prod L_ii^2
  return log_det;
}

std::vector<double> solve_spd(const Matrix& s, const std::vector<double>& b) {
  Matrix l = cholesky(s);
  const int n = l.rows;
  if (static_cast<int>(b.size()) != n)
    throw ad::Error(
        fmt::format("solve_spd: [{}x{}] matrix, vector of {}", n, n, b.size()));
  // Forward substitution L y = b, then back substitution L^T x = y.
  std::vector<double> y(n), x(n);
  for (int i = 0; i < n; ++i) {
    double sum = b[i];
    for (int k = 0; k < i; ++k) sum -= l(i, k) * y[k];
    y[i] = sum / l(i, i);
  }
  for (int i = n - 1; i >= 0; --i) {
    double sum = y[i];
    for (int k = i + 1; k < n; ++k) sum -= l(k, i) * x[k];
    x[i] = sum / l(i, i);
  }
  return x;
}

Matrix inverse_spd(const Matrix& s) {
  const int n = s.rows;
  Matrix inv(n, n);
  for (int j = 0; j < n; ++j) {
    std::vector<double> e(n, 0.0);
    e[j] = 1.0;
    std::vector<double> col = solve_spd(s, e);
    for (int i = 0; i < n; ++i) inv(i, j) = col[i];
  }
  return inv;
}

Matrix random_spd(int n, ad::Rng& rng, double jitter) {
  Matrix a(n, n);
  for (double& v : a.values) v = rng.normal();
  return (1.0 / n) * (a * transpose(a)) + jitter * Matrix::identity(n);
}

}  // namespace vae
