// Distributions on the tape: see distributions.h. Each function's formula is written
// above it in the notes' notation; the code is that formula, op by op.
#include "vae/distributions.h"

#include "autodiff/ops.h"
#include "autodiff/shape.h"
#include "autodiff/tape.h"

namespace vae {

namespace {

// A constant of the same dtype as `like`.
ad::Tensor constant_like(const ad::Tensor& like, const std::vector<double>& values,
                         const ad::Shape& shape) {
  return ad::Tensor::from(values, shape, like.dtype());
}

void require(bool ok, const char* message) {
  if (!ok) throw ad::Error(message);
}

}  // namespace

// ---------------------------------------------------------------- DiagGaussian

// excerpt: diag_rsample
// sigma = exp(logvar / 2): the log-variance form (notes 003, eq. 43).
ad::Tensor DiagGaussian::stddev() const {
  // EXERCISE E04.1: the reparameterized sample with log-variance
  return ad::exp(logvar * 0.5);
  // END EXERCISE E04.1
}

// z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) (eq. 43). eps is a constant on the tape;
// mu and logvar are not, so d z / d mu = 1 and d z / d logvar = sigma * eps / 2.
ad::Tensor DiagGaussian::rsample(ad::Rng& rng) const {
  return rsample_from(rng.normal(mu.shape(), mu.dtype()));
}

ad::Tensor DiagGaussian::rsample_from(const ad::Tensor& eps) const {
  // EXERCISE E04.1: the reparameterized sample with log-variance
  return mu + stddev() * eps;
  // END EXERCISE E04.1
}
// end excerpt: diag_rsample

// The same draw with nothing recorded: z is a constant.
ad::Tensor DiagGaussian::sample(ad::Rng& rng) const {
  ad::NoGrad no_grad;
  return rsample(rng);
}

// excerpt: diag_log_prob
// log q(z) = sum_i [ -1/2 log(2 pi) - 1/2 logvar_i - 1/2 (z_i - mu_i)^2 exp(-logvar_i) ]
ad::Tensor DiagGaussian::log_prob(const ad::Tensor& z) const {
  ad::Tensor d = z - mu;
  ad::Tensor per_dim = -0.5 * kLog2Pi - 0.5 * logvar - 0.5 * d * d * ad::exp(-logvar);
  return ad::sum(per_dim, -1);
}
// end excerpt: diag_log_prob

// H[q] = sum_i 1/2 (log(2 pi) + 1 + logvar_i)   (= sum_i 1/2 log(2 pi e sigma_i^2))
ad::Tensor DiagGaussian::entropy() const {
  return ad::sum(0.5 * (kLog2Pi + 1.0) + 0.5 * logvar, -1);
}

// ---------------------------------------------------------------- FullGaussian

// z = mu + L eps; for row vectors (one sample per row) z = mu + eps L^T.
ad::Tensor FullGaussian::rsample(ad::Rng& rng) const {
  require(L.rank() == 2 && L.dim(0) == L.dim(1), "FullGaussian: L must be [k, k]");
  const int64_t batch = mu.rank() == 2 ? mu.dim(0) : 1;
  return rsample_from(rng.normal({batch, L.dim(0)}, L.dtype()));
}

ad::Tensor FullGaussian::rsample_from(const ad::Tensor& eps) const {
  return mu + ad::matmul(eps, ad::transpose(L));
}

ad::Tensor FullGaussian::sample(ad::Rng& rng) const {
  ad::NoGrad no_grad;
  return rsample(rng);
}

// diag(L)_i = sum_j L_ij I_ij
ad::Tensor FullGaussian::diagonal() const {
  const int64_t k = L.dim(0);
  std::vector<double> identity(k * k, 0.0);
  for (int64_t i = 0; i < k; ++i) identity[i * k + i] = 1.0;
  return ad::sum(L * constant_like(L, identity, {k, k}), 1);
}

// log q(z) = -k/2 log(2 pi) - sum_i log L_ii - 1/2 |eps|^2,  eps = L^-1 (z - mu).
// The change of variables (notes 003, eq. 44): |det dz/deps| = |det L| = prod_i L_ii.
// eps is found by forward substitution, one column at a time:
//   eps_i = (d_i - sum_{j<i} L_ij eps_j) / L_ii,  d = z - mu.
ad::Tensor FullGaussian::log_prob(const ad::Tensor& z) const {
  require(z.rank() == 2, "FullGaussian::log_prob: z must be [batch, k]");
  const int64_t k = L.dim(0);
  ad::Tensor d = z - mu;
  std::vector<ad::Tensor> columns;
  for (int64_t i = 0; i < k; ++i) {
    ad::Tensor row = ad::slice(L, 0, i, i + 1);   // [1, k]
    ad::Tensor rest = ad::slice(d, 1, i, i + 1);  // [batch, 1]
    if (i > 0) {
      ad::Tensor known = ad::concat(columns, 1);  // eps_0 .. eps_{i-1}, [batch, i]
      rest = rest - ad::sum(known * ad::slice(row, 1, 0, i), 1, /*keepdim=*/true);
    }
    columns.push_back(rest / ad::slice(row, 1, i, i + 1));
  }
  ad::Tensor eps = ad::concat(columns, 1);
  ad::Tensor half_norm = 0.5 * ad::sum(eps * eps, 1);
  return (-0.5 * static_cast<double>(k) * kLog2Pi - ad::sum(ad::log(diagonal()))) - half_norm;
}

// H[q] = k/2 (log(2 pi) + 1) + 1/2 log |Sigma| = k/2 (log(2 pi) + 1) + sum_i log L_ii
ad::Tensor FullGaussian::entropy() const {
  const double k = static_cast<double>(L.dim(0));
  return 0.5 * k * (kLog2Pi + 1.0) + ad::sum(ad::log(diagonal()));
}

// ---------------------------------------------------------------- Bernoulli

// log p(x) = sum_i [ x_i log sigmoid(l_i) + (1 - x_i) log(1 - sigmoid(l_i)) ],
// with 1 - sigmoid(l) = sigmoid(-l); log_sigmoid never takes the log of 0.
ad::Tensor Bernoulli::log_prob(const ad::Tensor& x) const {
  // EXERCISE E04.3: the Bernoulli log-likelihood
  return ad::sum(x * ad::log_sigmoid(logits) + (1.0 - x) * ad::log_sigmoid(-logits), -1);
  // END EXERCISE E04.3
}

ad::Tensor Bernoulli::probs() const { return ad::sigmoid(logits); }

// x_i = 1 if u_i < p_i, u_i ~ Uniform(0, 1), so P(x_i = 1) = p_i.
ad::Tensor Bernoulli::sample(ad::Rng& rng) const {
  ad::NoGrad no_grad;
  ad::Tensor p = probs();
  ad::Tensor x = ad::Tensor::zeros(p.shape(), p.dtype());
  for (int64_t i = 0; i < p.numel(); ++i) x.set_flat(i, rng.uniform() < p.flat(i) ? 1.0 : 0.0);
  return x;
}

// H = -sum_i [ p_i log p_i + (1 - p_i) log(1 - p_i) ]
ad::Tensor Bernoulli::entropy() const {
  ad::Tensor p = probs();
  return -ad::sum(p * ad::log_sigmoid(logits) + (1.0 - p) * ad::log_sigmoid(-logits), -1);
}

// ---------------------------------------------------------------- Categorical

// log p(y) = log softmax(l)_y = l_y - logsumexp(l), picked with a one-hot mask per row.
ad::Tensor Categorical::log_prob(const std::vector<int64_t>& y) const {
  require(logits.rank() == 2, "Categorical: logits must be [batch, C]");
  const int64_t batch = logits.dim(0), classes = logits.dim(1);
  require(static_cast<int64_t>(y.size()) == batch, "Categorical::log_prob: one label per row");
  std::vector<double> one_hot(batch * classes, 0.0);
  for (int64_t r = 0; r < batch; ++r) {
    require(y[r] >= 0 && y[r] < classes, "Categorical::log_prob: label out of range");
    one_hot[r * classes + y[r]] = 1.0;
  }
  return ad::sum(ad::log_softmax(logits, -1) * constant_like(logits, one_hot, {batch, classes}),
                 -1);
}

ad::Tensor Categorical::probs() const { return ad::exp(ad::log_softmax(logits, -1)); }

// y = the first c with p_0 + ... + p_c > u, u ~ Uniform(0, 1) (inverse CDF).
std::vector<int64_t> Categorical::sample(ad::Rng& rng) const {
  ad::NoGrad no_grad;
  ad::Tensor p = probs();
  const int64_t batch = p.dim(0), classes = p.dim(1);
  std::vector<int64_t> y(batch);
  for (int64_t r = 0; r < batch; ++r) {
    const double u = rng.uniform();
    double cumulative = 0;
    y[r] = classes - 1;  // if rounding leaves the total just below u
    for (int64_t c = 0; c < classes; ++c) {
      cumulative += p.flat(r * classes + c);
      if (u < cumulative) {
        y[r] = c;
        break;
      }
    }
  }
  return y;
}

// H = -sum_c p_c log p_c
ad::Tensor Categorical::entropy() const {
  ad::Tensor log_p = ad::log_softmax(logits, -1);
  return -ad::sum(ad::exp(log_p) * log_p, -1);
}

}  // namespace vae
