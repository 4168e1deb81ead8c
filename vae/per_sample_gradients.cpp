// Score-function and reparameterization gradient estimators: see per_sample_gradients.h.
#include "vae/per_sample_gradients.h"

#include <algorithm>
#include <cmath>

#include "autodiff/ops.h"
#include "autodiff/shape.h"
#include "autodiff/tape.h"
#include "vae/distributions.h"

namespace vae {

// ---------------------------------------------------------------- families

Family diag_gaussian_family() {
  Family q;
  q.name = "N(mu, diag(exp(logvar)))";
  q.sample = [](const std::vector<ad::Tensor>& phi, ad::Rng& rng) {
    return DiagGaussian{phi.at(0), phi.at(1)}.sample(rng);
  };
  q.log_prob = [](const std::vector<ad::Tensor>& phi, const ad::Tensor& z) {
    return DiagGaussian{phi.at(0), phi.at(1)}.log_prob(z);
  };
  q.rsample = [](const std::vector<ad::Tensor>& phi, ad::Rng& rng) {
    return DiagGaussian{phi.at(0), phi.at(1)}.rsample(rng);
  };
  return q;
}

Family gaussian_location_family(double stddev) {
  Family q;
  q.name = "N(phi, " + std::to_string(stddev * stddev) + " I)";
  // logvar is a constant here: only the mean is a parameter.
  auto make = [stddev](const ad::Tensor& mu) {
    return DiagGaussian{mu, ad::Tensor::full(mu.shape(), 2.0 * std::log(stddev), mu.dtype())};
  };
  q.sample = [make](const std::vector<ad::Tensor>& phi, ad::Rng& rng) {
    return make(phi.at(0)).sample(rng);
  };
  q.log_prob = [make](const std::vector<ad::Tensor>& phi, const ad::Tensor& z) {
    return make(phi.at(0)).log_prob(z);
  };
  q.rsample = [make](const std::vector<ad::Tensor>& phi, ad::Rng& rng) {
    return make(phi.at(0)).rsample(rng);
  };
  return q;
}

Integrand of_z(std::function<ad::Tensor(const ad::Tensor& z)> f) {
  return [f = std::move(f)](const ad::Tensor& z, const std::vector<ad::Tensor>&) { return f(z); };
}

// ---------------------------------------------------------------- per-sample gradients

std::vector<double> GradientSamples::column(int64_t j) const {
  std::vector<double> c(n);
  for (int64_t r = 0; r < n; ++r) c[r] = at(r, j);
  return c;
}

std::vector<double> GradientSamples::mean() const {
  std::vector<double> m(p, 0.0);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < p; ++j) m[j] += at(r, j);
  for (double& v : m) v /= static_cast<double>(n);
  return m;
}

std::vector<ad::Tensor> per_sample_leaves(const std::vector<ad::Tensor>& phi, int64_t n) {
  std::vector<ad::Tensor> rows;
  for (const ad::Tensor& p : phi) {
    if (!(p.rank() == 1 || (p.rank() == 2 && p.dim(0) == 1)))
      throw ad::Error("per_sample_leaves: each parameter must be [k] or [1, k]");
    const int64_t k = p.numel();
    std::vector<double> values(n * k);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c) values[r * k + c] = p.flat(c);
    ad::Tensor leaf = ad::Tensor::from(values, {n, k}, p.dtype());
    leaf.requires_grad_();
    rows.push_back(leaf);
  }
  return rows;
}

namespace {

// Backward from sum_r surrogate_r, then read each parameter's per-row gradient.
GradientSamples collect(const ad::Tensor& surrogate, const std::vector<ad::Tensor>& rows,
                        std::vector<double> f_values) {
  GradientSamples g;
  g.n = rows.at(0).dim(0);
  for (const ad::Tensor& r : rows) g.p += r.dim(1);
  g.values.assign(g.n * g.p, 0.0);
  g.f_values = std::move(f_values);
  ad::backward(ad::sum(surrogate));
  int64_t offset = 0;
  for (const ad::Tensor& r : rows) {
    const int64_t k = r.dim(1);
    ad::Tensor grad = r.grad();
    if (grad.defined())  // a parameter the integrand never reached has gradient 0
      for (int64_t i = 0; i < g.n; ++i)
        for (int64_t c = 0; c < k; ++c) g.values[i * g.p + offset + c] = grad.flat(i * k + c);
    offset += k;
  }
  return g;
}

}  // namespace

// grad_phi E_q[f] = E_q[(f(z) - b) grad_phi log q_phi(z)] (+ E_q[grad_phi f_phi(z)]).
// Written as the gradient of a surrogate whose value we do not need:
//   s_r = (f(z_r) - b) log q_phi(z_r) + f_phi(z_r),  with (f(z_r) - b) held constant.
GradientSamples score_function_gradients(const Family& q, const std::vector<ad::Tensor>& phi,
                                         int64_t n, const Integrand& f, ad::Rng& rng,
                                         double baseline) {
  return score_function_gradients_rows(q, per_sample_leaves(phi, n), f, rng, baseline);
}

// excerpt: score_function
GradientSamples score_function_gradients_rows(const Family& q, const std::vector<ad::Tensor>& rows,
                                              const Integrand& f, ad::Rng& rng, double baseline) {
  const int64_t n = rows.at(0).dim(0);
  ad::Tensor z = q.sample(rows, rng);  // a constant: no path from phi to z
  ad::Tensor f_z = f(z, rows);
  std::vector<double> f_values = f_z.to_vector();
  std::vector<double> weights = f_values;
  for (double& w : weights) w -= baseline;
  ad::Tensor weight = ad::Tensor::from(weights, {n}, f_z.dtype());
  ad::Tensor surrogate = weight * q.log_prob(rows, z);
  if (f_z.requires_grad()) surrogate = surrogate + f_z;  // f depends on phi itself
  return collect(surrogate, rows, std::move(f_values));
}
// end excerpt: score_function

// grad_phi E_p(eps)[f(g_phi(eps))] = E_p(eps)[grad_phi f(g_phi(eps))].
GradientSamples reparameterization_gradients(const Family& q, const std::vector<ad::Tensor>& phi,
                                             int64_t n, const Integrand& f, ad::Rng& rng) {
  return reparameterization_gradients_rows(q, per_sample_leaves(phi, n), f, rng);
}

// excerpt: reparameterization
GradientSamples reparameterization_gradients_rows(const Family& q,
                                                  const std::vector<ad::Tensor>& rows,
                                                  const Integrand& f, ad::Rng& rng) {
  const int64_t n = rows.at(0).dim(0);
  ad::Tensor z = q.rsample(rows, rng);  // recorded: z depends on phi
  ad::Tensor f_z = f(z, rows);
  if (!f_z.requires_grad()) {  // f ignores z and phi: every gradient is 0
    ad::tape().clear();
    GradientSamples g;
    g.n = n;
    for (const ad::Tensor& r : rows) g.p += r.dim(1);
    g.values.assign(g.n * g.p, 0.0);
    g.f_values = f_z.to_vector();
    return g;
  }
  return collect(f_z, rows, f_z.to_vector());
}
// end excerpt: reparameterization

// ---------------------------------------------------------------- statistics

std::vector<double> repeated_estimates(const std::function<GradientSamples(int64_t n)>& draw,
                                       int64_t N, int64_t repeats, int64_t j, int64_t max_rows) {
  std::vector<double> estimates;
  estimates.reserve(repeats);
  if (N <= max_rows) {
    // Several whole estimates per draw.
    const int64_t per_draw = std::max<int64_t>(1, max_rows / N);
    while (static_cast<int64_t>(estimates.size()) < repeats) {
      const int64_t count = std::min(per_draw, repeats - static_cast<int64_t>(estimates.size()));
      for (double m : group_means(draw(count * N).column(j), N)) estimates.push_back(m);
    }
  } else {
    // One estimate over several draws.
    for (int64_t r = 0; r < repeats; ++r) {
      double sum = 0;
      for (int64_t done = 0; done < N;) {
        const int64_t count = std::min(max_rows, N - done);
        for (double v : draw(count).column(j)) sum += v;
        done += count;
      }
      estimates.push_back(sum / static_cast<double>(N));
    }
  }
  return estimates;
}

}  // namespace vae
