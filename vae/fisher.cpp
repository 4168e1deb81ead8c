#include "vae/fisher.h"

#include <fmt/format.h>

#include <cmath>
#include <string>

#include "autodiff/ops.h"
#include "autodiff/shape.h"
#include "autodiff/tape.h"
#include "nn/linear.h"

namespace vae {

namespace {

// The scores with respect to several variables from one backward pass.
std::vector<ad::Tensor> scores(const ad::Tensor& log_density, const std::vector<ad::Tensor>& wrt) {
  return ad::grad(ad::sum(log_density), wrt, {.create_graph = true});
}

}  // namespace

ad::Tensor score(const ad::Tensor& log_density, const ad::Tensor& wrt) {
  return scores(log_density, {wrt})[0];
}

namespace {

void check_inputs(const Vae& model, const ad::Tensor& x, const ad::Tensor& eps) {
  const VaeConfig& c = model.config();
  if (c.likelihood != Likelihood::gaussian)
    throw ad::Error(
        "fisher_scores: the Fisher AE needs a Gaussian decoder (Likelihood::gaussian); a "
        "Bernoulli decoder's x is binary and has no score grad_x log p(x|z)");
  if (x.rank() != 2 || x.dim(1) != c.input_dim)
    throw ad::Error(fmt::format("fisher_scores: x has shape {}; expected [batch x {}]",
                                ad::to_string(x.shape()), c.input_dim));
  if (eps.rank() != 2 || eps.dim(0) != x.dim(0) || eps.dim(1) != c.latent_dim)
    throw ad::Error(fmt::format("fisher_scores: eps has shape {}; expected [{}x{}]",
                                ad::to_string(eps.shape()), x.dim(0), c.latent_dim));
}

// log N(z; 0, I) of each row, [batch].
ad::Tensor log_standard_normal(const ad::Tensor& z) {
  const ad::Tensor zero = ad::Tensor::zeros(z.shape(), z.dtype());
  return DiagGaussian{zero, zero}.log_prob(z);
}

// 1/2 |v_i|^2 of each row, [batch].
ad::Tensor half_squared_norm(const ad::Tensor& v) { return 0.5 * ad::sum(v * v, -1); }

}  // namespace

// excerpt: fisher_scores
FisherScores fisher_scores(Vae& model, const ad::Tensor& x, const ad::Tensor& eps) {
  check_inputs(model, x, eps);
  ad::EnableGrad recording;  // scores are gradients: record even under NoGrad
  FisherScores s;
  // The draw: z = mu_phi(x) + sigma_phi(x) eps from the data itself (reparameterised, so
  // gradients reach phi through z as in the VAE).
  s.z = model.encode(x).rsample_from(eps);
  if (!s.z.requires_grad()) s.z = s.z.detach().requires_grad_();
  // The densities, evaluated at a copy of x that z does not depend on: d/dx_at is the
  // derivative at fixed z that the Fisher divergence needs.
  s.x_at = x.detach().requires_grad_();
  const DiagGaussian q = model.encode(s.x_at);
  const ad::Tensor log_q = q.log_prob(s.z);
  const ad::Tensor log_prior = log_standard_normal(s.z);
  const ad::Tensor log_likelihood = -model.negative_log_likelihood(model.decode(s.z), s.x_at);

  const std::vector<ad::Tensor> q_scores = scores(log_q, {s.z, s.x_at});
  s.encoder_z = q_scores[0];
  s.encoder_x = q_scores[1];
  s.prior_z = score(log_prior, s.z);
  const std::vector<ad::Tensor> decoder_scores = scores(log_likelihood, {s.z, s.x_at});
  s.decoder_z = decoder_scores[0];
  s.decoder_x = decoder_scores[1];
  return s;
}
// end excerpt: fisher_scores

std::vector<double> numerical_score(const LogDensity& log_density, const ad::Tensor& point,
                                    double h) {
  ad::NoGrad plain;
  ad::Tensor p = point.detach();
  std::vector<double> g(p.numel());
  for (int64_t j = 0; j < p.numel(); ++j) {
    const double v = p.flat(j);
    p.set_flat(j, v + h);
    const double up = ad::sum(log_density(p)).item();
    p.set_flat(j, v - h);
    const double down = ad::sum(log_density(p)).item();
    p.set_flat(j, v);
    g[j] = (up - down) / (2 * h);
  }
  return g;
}

double decoder_laplacian(const Vae& model) {
  const VaeConfig& c = model.config();
  return -static_cast<double>(c.input_dim) / (c.sigma * c.sigma);
}

// excerpt: fisher_terms
ad::Tensor reconstruction_term(const FisherScores& s) { return half_squared_norm(s.decoder_x); }

ad::Tensor stability_term(const FisherScores& s) { return half_squared_norm(s.encoder_x); }

ad::Tensor latent_term(const FisherScores& s) {
  // grad_z log q(z|x) - grad_z log p_theta(x, z): the posterior's score mismatch
  return half_squared_norm(s.encoder_z - s.prior_z - s.decoder_z);
}

FisherTerms fisher_terms(const FisherScores& s, double laplacian) {
  ad::EnableGrad recording;
  FisherTerms t;
  t.reconstruction = reconstruction_term(s);
  t.stability = stability_term(s);
  t.latent = latent_term(s);
  t.laplacian = laplacian;
  t.loss = ad::mean(t.reconstruction + t.stability + t.latent) + laplacian;
  return t;
// end excerpt: fisher_terms
}

FisherTerms fisher_objective(Vae& model, const ad::Tensor& x, const ad::Tensor& eps) {
  return fisher_terms(fisher_scores(model, x, eps), decoder_laplacian(model));
}

FisherTerms fisher_objective(Vae& model, const ad::Tensor& x, ad::Rng& rng) {
  return fisher_objective(model, x, rng.normal({x.dim(0), model.config().latent_dim}, x.dtype()));
}

VaeConfig small_check_config() {
  return {.input_dim = 4,
          .hidden = {3},
          .latent_dim = 2,
          .likelihood = Likelihood::gaussian,
          .sigma = 0.7,
          .dtype = ad::f64};
}

ad::GradcheckResult check_objective_gradient(Vae& model, const ad::Tensor& x, const ad::Tensor& eps,
                                             const ad::GradcheckOptions& options) {
  std::vector<nn::Linear*> layers;
  for (nn::Sequential* net : {&model.encoder, &model.decoder})
    for (size_t i = 0; i < net->size(); ++i)
      if (auto* linear = dynamic_cast<nn::Linear*>(&(*net)[i])) layers.push_back(linear);
  std::vector<ad::Tensor> original, values;
  for (nn::Linear* layer : layers) {
    original.insert(original.end(), {layer->weight, layer->bias});
    values.insert(values.end(), {layer->weight.detach(), layer->bias.detach()});
  }
  auto point_layers_at = [&](const std::vector<ad::Tensor>& p) {
    for (size_t i = 0; i < layers.size(); ++i) {
      layers[i]->weight = p[2 * i];
      layers[i]->bias = p[2 * i + 1];
    }
  };
  ad::GradcheckResult result;
  try {
    result = ad::gradcheck(
        [&](const std::vector<ad::Tensor>& p) {
          point_layers_at(p);  // gradcheck's own copies, perturbed one element at a time
          return fisher_objective(model, x, eps).loss;
        },
        values, options);
  } catch (...) {
    point_layers_at(original);
    throw;
  }
  point_layers_at(original);
  return result;
}

// ---------------------------------------------------------------- closed form
namespace {

Matrix diagonal_matrix(const std::vector<double>& d) {
  Matrix m(static_cast<int>(d.size()), static_cast<int>(d.size()));
  for (size_t i = 0; i < d.size(); ++i) m(static_cast<int>(i), static_cast<int>(i)) = d[i];
  return m;
}

// Writes `block` into `m` with its top-left corner at (row, col).
void put(Matrix& m, int row, int col, const Matrix& block) {
  for (int i = 0; i < block.rows; ++i)
    for (int j = 0; j < block.cols; ++j) m(row + i, col + j) = block(i, j);
}

std::vector<double> add(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> r(a.size());
  for (size_t i = 0; i < a.size(); ++i) r[i] = a[i] + b[i];
  return r;
}

std::vector<double> scaled(double s, const std::vector<double>& a) {
  std::vector<double> r(a.size());
  for (size_t i = 0; i < a.size(); ++i) r[i] = s * a[i];
  return r;
}

}  // namespace

double fisher_divergence(const LinearGaussian& model, const Gaussian& data,
                         const LinearEncoder& encoder) {
  const int d = model.data_dim(), k = model.latent_dim();
  if (data.dim() != d || encoder.a.rows != k || encoder.a.cols != d ||
      static_cast<int>(encoder.c.size()) != k || static_cast<int>(encoder.stddev.size()) != k)
    throw ad::Error(fmt::format(
        "fisher_divergence: the model has d = {}, k = {}; the data have dimension {} and the "
        "encoder A is {} x {} with {} offsets and {} standard deviations",
        d, k, data.dim(), encoder.a.rows, encoder.a.cols, encoder.c.size(), encoder.stddev.size()));
  const Matrix& A = encoder.a;
  const Matrix& W = model.w;
  std::vector<double> precision(k);  // D^-1 = diag(1 / stddev^2)
  for (int j = 0; j < k; ++j) precision[j] = 1.0 / (encoder.stddev[j] * encoder.stddev[j]);
  const Matrix Dinv = diagonal_matrix(precision);
  const Matrix Sinv = inverse_spd(data.cov);
  const double s2 = model.sigma * model.sigma;
  const Matrix Id = Matrix::identity(d), Ik = Matrix::identity(k);

  // grad log(p_d q) - grad log p_theta = M u + v, u = (x, z):
  //   x-rows: -S^-1 (x - m_d) + A^T D^-1 (z - A x - c) + (x - W z - b) / sigma^2
  //   z-rows: -D^-1 (z - A x - c) + z - W^T (x - W z - b) / sigma^2
  Matrix M(d + k, d + k);
  put(M, 0, 0, (-1.0) * Sinv - transpose(A) * Dinv * A + (1.0 / s2) * Id);
  put(M, 0, d, transpose(A) * Dinv - (1.0 / s2) * W);
  put(M, d, 0, Dinv * A - (1.0 / s2) * transpose(W));
  put(M, d, d, Ik - Dinv + (1.0 / s2) * transpose(W) * W);
  std::vector<double> v =
      add(matvec(Sinv, data.mean),
          add(scaled(-1.0, matvec(transpose(A) * Dinv, encoder.c)), scaled(-1.0 / s2, model.b)));
  const std::vector<double> vz =
      add(matvec(Dinv, encoder.c), scaled(1.0 / s2, matvec(transpose(W), model.b)));
  v.insert(v.end(), vz.begin(), vz.end());

  // u ~ p_d q: x ~ N(m_d, S), z = A x + c + stddev * eps
  std::vector<double> mean = data.mean;
  const std::vector<double> mz = add(matvec(A, data.mean), encoder.c);
  mean.insert(mean.end(), mz.begin(), mz.end());
  Matrix cov(d + k, d + k);
  put(cov, 0, 0, data.cov);
  put(cov, 0, d, data.cov * transpose(A));
  put(cov, d, 0, A * data.cov);
  std::vector<double> var(k);
  for (int j = 0; j < k; ++j) var[j] = encoder.stddev[j] * encoder.stddev[j];
  put(cov, d, d, A * data.cov * transpose(A) + diagonal_matrix(var));

  const std::vector<double> mean_difference = add(matvec(M, mean), v);
  return 0.5 * (trace(M * cov * transpose(M)) + dot(mean_difference, mean_difference));
}

double fisher_divergence(const Gaussian& p, const Gaussian& m) {
  if (p.dim() != m.dim())
    throw ad::Error(fmt::format("fisher_divergence: the Gaussians have dimensions {} and {}",
                                p.dim(), m.dim()));
  const Matrix difference = inverse_spd(m.cov) - inverse_spd(p.cov);  // Q - P
  std::vector<double> shift(p.mean.size());
  for (size_t i = 0; i < shift.size(); ++i) shift[i] = p.mean[i] - m.mean[i];
  const std::vector<double> q_shift = matvec(inverse_spd(m.cov), shift);
  return 0.5 * (trace(difference * p.cov * difference) + dot(q_shift, q_shift));
}

double data_score_constant(const Gaussian& data) { return 0.5 * trace(inverse_spd(data.cov)); }

LinearFisherExample exact_posterior_example() {
  LinearFisherExample e;
  e.model.w = Matrix(3, 2);
  e.model.w(0, 0) = 1.2;  // column 0: (1.2, -0.4, 0)
  e.model.w(1, 0) = -0.4;
  e.model.w(0, 1) = 0.2;  // column 1: (0.2, 0.6, 0.8), orthogonal to column 0
  e.model.w(1, 1) = 0.6;
  e.model.w(2, 1) = 0.8;
  e.model.b = {0.3, -0.2, 0.5};
  e.model.sigma = 0.8;
  e.data = e.model.marginal();
  const double s2 = e.model.sigma * e.model.sigma;
  const Matrix Minv =
      inverse_spd(Matrix::identity(2) + (1.0 / s2) * (transpose(e.model.w) * e.model.w));
  e.encoder.a = (1.0 / s2) * (Minv * transpose(e.model.w));
  const std::vector<double> ab = matvec(e.encoder.a, e.model.b);
  e.encoder.c = {-ab[0], -ab[1]};
  e.encoder.stddev = {std::sqrt(Minv(0, 0)), std::sqrt(Minv(1, 1))};
  return e;
}

VaeConfig LinearFisherExample::vae_config() const {
  return {.input_dim = model.data_dim(),
          .hidden = {},
          .latent_dim = model.latent_dim(),
          .likelihood = Likelihood::gaussian,
          .sigma = model.sigma,
          .dtype = ad::f64};
}

ad::Tensor sample_rows(const Gaussian& g, int n, ad::Rng& rng) {
  std::vector<double> values;
  for (int i = 0; i < n; ++i) {
    const std::vector<double> x = sample(g, rng);
    values.insert(values.end(), x.begin(), x.end());
  }
  return ad::Tensor::from(values, {n, g.dim()}, ad::f64);
}

void set_linear_gaussian(Vae& vae, const LinearGaussian& model, const LinearEncoder& encoder) {
  const VaeConfig& c = vae.config();
  const int d = model.data_dim(), k = model.latent_dim();
  if (!c.hidden.empty() || c.input_dim != d || c.latent_dim != k ||
      c.likelihood != Likelihood::gaussian || c.sigma != model.sigma || encoder.a.rows != k ||
      encoder.a.cols != d)
    throw ad::Error(fmt::format(
        "set_linear_gaussian: need a Vae with no hidden layer, input_dim {}, latent_dim {}, a "
        "Gaussian decoder with sigma {} and a {} x {} encoder matrix; got {} hidden layers, "
        "input_dim {}, latent_dim {}, sigma {}, encoder {} x {}",
        d, k, model.sigma, k, d, c.hidden.size(), c.input_dim, c.latent_dim, c.sigma,
        encoder.a.rows, encoder.a.cols));
  auto& enc = dynamic_cast<nn::Linear&>(vae.encoder[0]);
  auto& dec = dynamic_cast<nn::Linear&>(vae.decoder[0]);
  // nn::Linear computes x W + b with W [in, out]
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < 2 * k; ++j) enc.weight.set_flat(i * 2 * k + j, j < k ? encoder.a(j, i) : 0);
  for (int j = 0; j < k; ++j) {
    enc.bias.set_flat(j, encoder.c[j]);
    enc.bias.set_flat(k + j, 2 * std::log(encoder.stddev[j]));  // logvar
  }
  for (int j = 0; j < k; ++j)
    for (int i = 0; i < d; ++i) dec.weight.set_flat(j * d + i, model.w(i, j));
  for (int i = 0; i < d; ++i) dec.bias.set_flat(i, model.b[i]);
}

}  // namespace vae
