// Tutorial 02: a softmax classifier is a network that parameterises a multinomial
// (note 003, Examples 1.1 and 1.4; catalogue L21).
//
// The network f_beta maps an image x^(i) to theta^(i) = softmax(logits) = (p_1, ..., p_K),
// the parameter of Y | X = x^(i) ~ Multinomial(theta^(i)) (one draw: a categorical).
// Training maximises the log-likelihood of the observed label, eq. (14) with y^(i) one-hot:
//   log p(y^(i) | x^(i)) = log p_theta^(i)(y^(i)) = sum_j y^(i)_j log theta^(i)_j,
// minus the cross-entropy. Eqs. (15)-(17) estimate the same number by sampling:
//   log p(y^(i) | x^(i)) = log E_{y ~ theta^(i)}[1{y^(i) = y}]
//                        ~ log { 1/K sum_k 1{y^(i) = y^(i,k)} },  y^(i,k) ~ Multinomial(theta^(i)),
// and the program measures the bias of that estimate as a function of K against exact
// binomial sums.
//
//   build/release/tutorials/02_softmax_classifier [--data DIR] [--epochs 15] [--batch 128]
//       [--lr 1e-3] [--repeats 20000] [--seed 42] [--out DIR] [--quick]
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "autodiff/autodiff.h"
#include "nn/dataset.h"
#include "nn/nn.h"
#include "nn/progress.h"
#include "tutorials/common/data.h"
#include "tutorials/common/plot.h"
#include "tutorials/common/training.h"
#include "tutorials/common/tutorial.h"
#include "vae/statistics.h"

using ad::Tensor;

namespace {

constexpr double n_se = 4.0;  // Monte Carlo checks: within 4 standard errors at the fixed seed


// ---------------------------------------------------------------- the model
// f_beta: 784 -> 256 -> 128 -> 10 with ReLU; the output are the logits, theta = softmax.
struct Classifier : nn::Module {
  nn::Sequential net;
  Classifier(const std::vector<int64_t>& sizes, ad::Rng& rng) {
    for (size_t i = 0; i + 1 < sizes.size(); ++i) {
      if (i > 0) net.add<nn::ReLU>();
      net.add<nn::Linear>(sizes[i], sizes[i + 1], rng);
    }
    register_module("net", net);
  }
  Tensor logits(const Tensor& x) { return net(x); }
};

const std::vector<int64_t> kSizes = {784, 256, 128, 10};

// softmax of one row of logits, in double, max-shifted.
std::vector<double> softmax_row(const double* z, int64_t classes) {
  double m = z[0];
  for (int64_t j = 1; j < classes; ++j) m = std::max(m, z[j]);
  std::vector<double> p(classes);
  double total = 0;
  for (int64_t j = 0; j < classes; ++j) total += p[j] = std::exp(z[j] - m);
  for (double& v : p) v /= total;
  return p;
}

// theta^(i) of every image, row after row (double), without recording.
std::vector<std::vector<double>> predict(Classifier& model, const Tensor& images) {
  ad::NoGrad plain;
  std::vector<std::vector<double>> theta;
  for (int64_t start = 0; start < images.dim(0); start += 1000) {
    const int64_t end = std::min(images.dim(0), start + 1000);
    Tensor z = model.logits(ad::slice(images, 0, start, end));
    const std::vector<double> values = z.to_vector();
    for (int64_t i = 0; i < end - start; ++i)
      theta.push_back(softmax_row(values.data() + i * z.dim(1), z.dim(1)));
  }
  return theta;
}

struct Evaluation {
  double cross_entropy = 0, accuracy = 0;
};
Evaluation evaluate(const std::vector<std::vector<double>>& theta, const std::vector<int64_t>& labels) {
  Evaluation e;
  for (size_t i = 0; i < theta.size(); ++i) {
    e.cross_entropy -= std::log(theta[i][labels[i]]);
    const auto best = std::max_element(theta[i].begin(), theta[i].end()) - theta[i].begin();
    e.accuracy += best == labels[i];
  }
  e.cross_entropy /= static_cast<double>(theta.size());
  e.accuracy /= static_cast<double>(theta.size());
  return e;
}

// One draw y ~ Multinomial(theta) (a single categorical trial), by the inverse CDF.
int sample_class(const std::vector<double>& theta, ad::Rng& rng) {
  double u = rng.uniform(), cumulative = 0;
  for (size_t c = 0; c + 1 < theta.size(); ++c) {
    cumulative += theta[c];
    if (u < cumulative) return static_cast<int>(c);
  }
  return static_cast<int>(theta.size()) - 1;
}

// ---------------------------------------------------------------- eq. (14), three ways
void cross_entropy_three_ways(tut::Tutorial& t, const nn::Dataset& train) {
  t.section("L21", "Classification nets parameterise multinomials; cross-entropy (eq. 14)");
  t.note("Example 1.1: f_beta(x) = theta = (p_1, ..., p_K), Y | X = x ~ Multinomial(theta)");
  t.note("eq. (14): log p(y^(i) | x^(i)) = log p_theta(y^(i)) = sum_j y^(i)_j log theta^(i)_j,");
  t.note("y^(i) one-hot. (The notes print '= p_theta(y^(i))' without the log, and sum over i");
  t.note("with index j inside: the log and the sum over classes j are meant.)");

  ad::Rng rng(t.seed() + 1);
  Classifier model(kSizes, rng);
  const int64_t n = 64, classes = 10;
  Tensor x = ad::slice(train.images, 0, 0, n);
  std::vector<int64_t> labels(train.labels.begin(), train.labels.begin() + n);
  Tensor z = model.logits(x).detach().requires_grad_();  // a leaf, to look at d CE / d z
  const std::vector<double> zv = z.to_vector();

  // excerpt: cross_entropy_reference
  // Reference: a plain double loop, -1/n sum_i log softmax(z_i)[y_i].
  double reference = 0, theta_sum_error = 0;
  std::vector<std::vector<double>> theta(n);
  for (int64_t i = 0; i < n; ++i) {
    theta[i] = softmax_row(zv.data() + i * classes, classes);
    double total = 0;
    for (double p : theta[i]) total += p;
    theta_sum_error = std::max(theta_sum_error, std::abs(total - 1));
    reference -= std::log(theta[i][labels[i]]) / n;
  }
  // end excerpt: cross_entropy_reference
  t.check_close("L21", "theta = softmax(logits) is a distribution: max_i |sum_j theta_j - 1|",
                theta_sum_error, 0.0, 0.0, 1e-12);

  std::vector<double> one_hot(n * classes, 0.0);
  for (int64_t i = 0; i < n; ++i) one_hot[i * classes + labels[i]] = 1.0;
  Tensor y = Tensor::from(one_hot, {n, classes});
  {
    ad::NoGrad plain;
    // excerpt: cross_entropy_eq14
    // (a) eq. (14) literally: log theta = z - logsumexp(z), times the one-hot y, summed.
    Tensor log_theta = z - ad::logsumexp(z, 1, true);
    const double by_one_hot = -ad::sum(y * log_theta).item() / n;
    t.check_close("L21", "CE: -1/n sum_i sum_j y_ij log theta_ij (one-hot) vs a double loop",
                  by_one_hot, reference, 1e-6);
    // end excerpt: cross_entropy_eq14
    // (b) -log softmax picked by gather at (i, y_i).
    std::vector<int64_t> picked(n);
    for (int64_t i = 0; i < n; ++i) picked[i] = i * classes + labels[i];
    const double by_gather =
        -ad::mean(ad::gather(ad::reshape(ad::log_softmax(z, 1), {-1}), 0, picked)).item();
    t.check_close("L21", "CE: -log_softmax picked by gather vs a double loop", by_gather, reference,
                  1e-6);
  }
  // (c) the library's loss from logits, and its gradient softmax - one-hot.
  Tensor ce = nn::cross_entropy(z, labels, nn::Reduction::mean);
  t.check_close("L21", "CE: nn::cross_entropy(logits, labels, mean) vs a double loop", ce.item(),
                reference, 1e-6);
  ad::backward(ce);
  double worst = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < classes; ++j)
      worst = std::max(worst, std::abs(z.grad().flat(i * classes + j) -
                                       (theta[i][j] - one_hot[i * classes + j]) / n));
  t.check_close("L21", "d CE / d logits from the tape vs (theta - y) / n: max |diff|", worst, 0.0,
                0.0, 1e-7);
}

// ---------------------------------------------------------------- training
// The learning rate of epoch e (from 0): constant for the first third of the run, then a
// cosine decay to 1/50 of it at the last epoch. Without the decay the accuracy jumps by
// +-1% from one epoch to the next and the last epoch is a lottery.
double learning_rate(int epoch, int epochs, double lr) {
  const int flat = epochs / 3;
  if (epoch < flat || epochs - flat <= 1) return lr;
  const double progress = double(epoch - flat) / (epochs - flat - 1);
  const double low = lr / 50;
  return low + 0.5 * (lr - low) * (1 + std::cos(std::numbers::pi * progress));
}

struct History {
  std::vector<double> epochs, train_loss, validation_loss, validation_accuracy;
  double seconds_per_epoch = 0;
};

History train_model(Classifier& model, nn::Adam& adam, const nn::Dataset& train,
                    const nn::Dataset& validation, const tut::EpochOptions& options) {
  const double base_lr = adam.options.lr;
  History h;
  auto step = [&](const nn::Batch& batch) {
    return nn::cross_entropy(model.logits(batch.x), batch.y, nn::Reduction::mean);
  };
  auto set_learning_rate = [&](int epoch) {
    adam.options.lr = learning_rate(epoch, options.epochs, base_lr);
  };
  auto after_epoch = [&](int epoch) {
    const Evaluation v = evaluate(predict(model, validation.images), validation.labels);
    h.validation_loss.push_back(v.cross_entropy);
    h.validation_accuracy.push_back(v.accuracy);
    h.epochs.push_back(epoch + 1);
    return fmt::format("validation CE {:.4f}, accuracy {:.2f}%", v.cross_entropy, 100 * v.accuracy);
  };
  const tut::TrainingLog log =
      tut::train_epochs(adam, train, options, step, after_epoch, set_learning_rate);
  h.train_loss = log.train_loss;
  h.seconds_per_epoch = log.seconds_per_epoch;
  return h;
}

// ---------------------------------------------------------------- eqs. (15)-(17)
// The exact distribution of the estimate (17): the number of hits H among K draws is
// Binomial(K, p) with p = theta_y, and (17) is log(H / K), -inf when H = 0.
double binomial_log_pmf(int k, int h, double p) {
  return std::lgamma(k + 1.0) - std::lgamma(h + 1.0) - std::lgamma(k - h + 1.0) + h * std::log(p) +
         (k - h) * std::log1p(-p);
}
double prob_no_hit(int k, double p) { return std::exp(k * std::log1p(-p)); }  // (1 - p)^K
// E[log(H / K) | H >= 1]: what the estimate averages to over the draws where it is finite.
double conditional_mean(int k, double p) {
  double total = 0;
  for (int h = 1; h <= k; ++h)
    total += std::exp(binomial_log_pmf(k, h, p)) * std::log(double(h) / k);
  return total / (1 - prob_no_hit(k, p));
}

struct KResult {
  int k = 0;
  long no_hit = 0;          // repetitions with H = 0 (estimate -inf)
  vae::RunningMean finite;  // the estimate over the other repetitions
  vae::RunningMean inner;   // the mean of the indicators, 1/K sum_k 1{...}, over all repetitions
};

// The K values of the experiment, 1 to 1024 in powers of 2.
const std::vector<int> kKs = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

void explain_sampled_estimate(tut::Tutorial& t) {
  t.section("L21", "The sampled estimate of log p(y|x), eqs. (15)-(17), against the exact value");
  t.note("(15) log p(y^(i) | x^(i)) = log E_{{y ~ theta^(i)}}[1{{y^(i) = y}}]");
  t.note(
      "(17)                      ~ log {{ 1/K sum_{{k=1}}^K 1{{y^(i) = y^(i,k)}} }},  y^(i,k) ~ "
      "Multinomial(theta^(i))");
  t.note("With p = theta_y, the number of hits H is Binomial(K, p): the mean of the indicators");
  t.note("is unbiased for p, but its log is not. P(H = 0) = (1 - p)^K > 0 for every K, and then");
  t.note("(17) is log 0 = -inf: E[(17)] = -inf for every finite K (Jensen's E[log] <= log E at");
  t.note("its most extreme). Given H >= 1 the mean is the binomial sum");
  t.note(
      "E[log(H/K) | H >= 1] = sum_{{h>=1}} Bin(h; K, p) log(h/K) / (1 - (1-p)^K), and for large K");
  t.note(
      "the delta method predicts E[log(H/K)] - log p ~ -Var(H/K) / (2 p^2) = -(1 - p) / (2 K p).");
}

// The test images whose exact p(y|x) is nearest each target.
std::vector<size_t> images_near(const std::vector<std::vector<double>>& theta,
                                const std::vector<int64_t>& labels,
                                const std::vector<double>& targets) {
  std::vector<size_t> chosen;
  for (double target : targets) {
    size_t best = 0;
    for (size_t i = 0; i < theta.size(); ++i)
      if (std::abs(theta[i][labels[i]] - target) < std::abs(theta[best][labels[best]] - target))
        best = i;
    chosen.push_back(best);
  }
  return chosen;
}

// `repeats` repetitions of K_max draws from theta_i; the estimate with the first K draws
// of each repetition, for every K of kKs.
std::vector<KResult> simulate_estimates(const std::vector<double>& theta_i, int64_t y, int repeats,
                                        ad::Rng& rng) {
  std::vector<KResult> results;
  for (int k : kKs) {
    results.emplace_back();
    results.back().k = k;
  }
  for (int r = 0; r < repeats; ++r) {
    int hits = 0;
    size_t next = 0;
    for (int k = 1; k <= kKs.back(); ++k) {
      hits += sample_class(theta_i, rng) == y;
      if (k == results[next].k) {  // the estimate with the first k draws of this repetition
        KResult& res = results[next++];
        res.inner.add(double(hits) / k);
        if (hits == 0)
          ++res.no_hit;
        else
          res.finite.add(std::log(double(hits) / k));
      }
    }
  }
  return results;
}

// The three figures of the experiment and its CSV, filled image by image.
struct EstimateFigures {
  tut::Plot bias{"sampled_estimate_bias",
                 "Bias of eq. (17) given a hit: E[log(H/K) | H ≥ 1] − log p\n"
                 "lines exact, dots sampled"};
  tut::Plot scaled{"sampled_estimate_bias_times_k",
                   "K × bias of eq. (17) given a hit\n"
                   "lines exact, dots sampled, dashed the delta method's −(1−p)/(2p)"};
  tut::Plot minus_inf{"sampled_estimate_minus_inf",
                      "P(eq. (17) = −∞) = P(no hit in K draws) = (1−p)^K\n"
                      "lines exact, dots sampled"};
  std::string csv =
      "image,class,p,K,P_minus_inf_exact,P_minus_inf_mc,cond_mean_exact,cond_mean_mc,cond_mean_se,"
      "bias_exact,delta_method_bias\n";

  EstimateFigures() {
    bias.xlabel("K (samples)").ylabel("bias (nats)").log_x().x_range(1, kKs.back());
    scaled.xlabel("K (samples)").ylabel("K × bias (nats)").log_x().x_range(1, kKs.back());
    minus_inf.xlabel("K (samples)").ylabel("probability").log_x().log_y();
    minus_inf.x_range(1, kKs.back()).y_range(1e-5, 1.5);  // (1-p)^K below 1e-5: never seen
  }

  void add_image(size_t i, int64_t y, double p, const std::vector<KResult>& results, int repeats) {
    std::vector<double> kx, bias_exact, bias_mc, scaled_exact, scaled_mc, delta_scaled, kx_mc_inf,
        inf_exact, inf_mc;
    for (const KResult& res : results) {
      const double p_inf = prob_no_hit(res.k, p);
      const double cond = conditional_mean(res.k, p);
      const double delta = -(1 - p) / (2.0 * res.k * p);
      const double p_inf_mc = double(res.no_hit) / repeats;
      csv += fmt::format("{},{},{:.8g},{},{:.8g},{:.8g},{:.8g},{:.8g},{:.4g},{:.8g},{:.8g}\n", i, y,
                         p, res.k, p_inf, p_inf_mc, cond, res.finite.mean(), res.finite.se(),
                         cond - std::log(p), delta);
      kx.push_back(res.k);
      bias_exact.push_back(cond - std::log(p));
      bias_mc.push_back(res.finite.mean() - std::log(p));
      scaled_exact.push_back(res.k * (cond - std::log(p)));
      scaled_mc.push_back(res.k * (res.finite.mean() - std::log(p)));
      delta_scaled.push_back(-(1 - p) / (2 * p));
      inf_exact.push_back(p_inf);
      if (res.no_hit > 0) {
        kx_mc_inf.push_back(res.k);
        inf_mc.push_back(p_inf_mc);
      }
    }
    const std::string tag = fmt::format("p = {:.2f}", p);
    bias.line(tag, kx, bias_exact).check_points(kx, bias_mc);
    scaled.line(tag, kx, scaled_exact).check_points(kx, scaled_mc).companion_line(kx, delta_scaled);
    minus_inf.line(tag, kx, inf_exact);
    if (!kx_mc_inf.empty()) minus_inf.check_points(kx_mc_inf, inf_mc);
  }
};

// The checks of eqs. (15)-(17) for one image with exact p = theta_y.
void check_estimates(tut::Tutorial& t, const std::vector<KResult>& results, double p,
                     int repeats) {
  const int k_max = kKs.back();
  const KResult& k4 = results[2];
  const KResult& k16 = results[4];
  const KResult& kmax = results.back();
  t.check_within_se("L21",
                    fmt::format("p = {:.2f}: 1/K sum_k 1{{...}} at K = 4 is unbiased for p (15)", p),
                    k4.inner.mean(), k4.inner.se(), p, n_se);
  const double p_inf4 = prob_no_hit(4, p);
  t.check_within_se("L21", fmt::format("p = {:.2f}: fraction of -inf at K = 4 vs (1 - p)^4", p),
                    double(k4.no_hit) / repeats,
                    std::sqrt(std::max(p_inf4 * (1 - p_inf4), 1e-300) / repeats), p_inf4, n_se);
  t.check_within_se(
      "L21", fmt::format("p = {:.2f}: mean of (17) given H >= 1, K = 16, vs binomial sum", p),
      k16.finite.mean(), k16.finite.se(), conditional_mean(16, p), n_se);
  t.check_within_se(
      "L21", fmt::format("p = {:.2f}: mean of (17) given H >= 1, K = {}, vs binomial sum", p, k_max),
      kmax.finite.mean(), kmax.finite.se(), conditional_mean(k_max, p), n_se);
  // Exact against the asymptotic theory: the next term of the expansion is O(1/(K p))
  // relative to the first (about 1/(K p) here), so 5% is ample at K = 1024.
  t.check_close(
      "L21", fmt::format("p = {:.2f}: K * bias at K = {} (binomial sum) vs -(1-p)/(2p)", p, k_max),
      k_max * (conditional_mean(k_max, p) - std::log(p)), -(1 - p) / (2 * p), 0.05);
  t.check_less(
      "L21",
      fmt::format("p = {:.2f}: |bias| shrinks: |bias(K = {})| < |bias(K = 16)| (exact)", p, k_max),
      std::abs(conditional_mean(k_max, p) - std::log(p)),
      std::abs(conditional_mean(16, p) - std::log(p)));
}

// The whole test set: eq. (17) for every image with its own K draws.
void test_set_estimate(tut::Tutorial& t, const std::vector<std::vector<double>>& theta,
                       const std::vector<int64_t>& labels, tut::Plot& minus_inf, ad::Rng& rng) {
  const size_t n = theta.size();
  const int k_max = kKs.back();
  std::vector<long> no_hit(kKs.size(), 0);
  std::vector<double> exact_fraction(kKs.size(), 0), exact_variance(kKs.size(), 0);
  double exact_mean_log_p = 0;
  for (size_t i = 0; i < n; ++i) {
    const double p = theta[i][labels[i]];
    exact_mean_log_p += std::log(p) / n;
    int hits = 0;
    size_t next = 0;
    for (int k = 1; k <= k_max; ++k) {
      hits += sample_class(theta[i], rng) == labels[i];
      if (k == kKs[next]) {
        no_hit[next] += hits == 0;
        const double q = prob_no_hit(k, p);
        exact_fraction[next] += q / n;
        exact_variance[next] += q * (1 - q) / (double(n) * n);
        ++next;
      }
    }
  }
  std::vector<double> kx, kx_mc, fraction_mc, fraction_exact;
  for (size_t j = 0; j < kKs.size(); ++j) {
    kx.push_back(kKs[j]);
    fraction_exact.push_back(exact_fraction[j]);
    if (no_hit[j] > 0) {  // 0 cannot go on a log axis
      kx_mc.push_back(kKs[j]);
      fraction_mc.push_back(double(no_hit[j]) / n);
    }
  }
  minus_inf.line("test set: mean of (1-p_i)^K", kx, fraction_exact, tut::LineStyle::dashed);
  if (!kx_mc.empty()) minus_inf.points("test set: fraction sampled", kx_mc, fraction_mc);
  const size_t last = kKs.size() - 1;
  t.note("test set ({} images): exact mean log p(y|x) = {:.4f} (minus the test cross-entropy);", n,
         exact_mean_log_p);
  t.note("images whose (17) is -inf: K = 1: {}, K = 32: {}, K = {}: {}. The test-set average of",
         no_hit[0], no_hit[5], k_max, no_hit[last]);
  t.note("(17) is -inf while any image has no hit: the sampled estimate is useless for the hard");
  t.note("images (small p) that matter most; eq. (14) gives the exact value at no cost.");
  t.check_within_se(
      "L21",
      fmt::format("test set: fraction of -inf estimates at K = {} vs mean (1 - p_i)^K", kKs[5]),
      double(no_hit[5]) / n, std::sqrt(std::max(exact_variance[5], 1e-300)), exact_fraction[5],
      n_se);
}

void sampled_estimate(tut::Tutorial& t, const std::vector<std::vector<double>>& theta,
                      const std::vector<int64_t>& labels, const std::vector<std::string>& class_names,
                      int repeats) {
  explain_sampled_estimate(t);
  ad::Rng rng(t.seed() + 11);
  EstimateFigures figures;
  // Three test images whose exact p(y|x) is near 0.9, 0.5 and 0.1.
  for (const size_t i : images_near(theta, labels, {0.9, 0.5, 0.1})) {
    const int64_t y = labels[i];
    const double p = theta[i][y];
    const std::string name = class_names.empty() ? fmt::format("class {}", y) : class_names[y];
    t.note(
        "test image {} ({}): exact log p(y|x) = log {:.4f} = {:.4f}; {} repetitions of K = 1..{}",
        i, name, p, std::log(p), repeats, kKs.back());
    const std::vector<KResult> results = simulate_estimates(theta[i], y, repeats, rng);
    figures.add_image(i, y, p, results, repeats);
    check_estimates(t, results, p, repeats);
  }
  t.note("At K = 1 the estimate given a hit is log 1 = 0 > log p: conditioning on a hit makes");
  t.note(
      "the small-K bias positive; at large K it is negative, -(1 - p)/(2 K p), the delta method.");
  test_set_estimate(t, theta, labels, figures.minus_inf, rng);
  t.save_figure(figures.bias);
  t.save_figure(figures.scaled);
  t.save_figure(figures.minus_inf);
  t.save_text("sampled_estimate.csv", figures.csv);
}

// ---------------------------------------------------------------- training, eq. (14)
void plot_training(tut::Tutorial& t, const History& h, double test_accuracy) {
  tut::Plot curves("loss_curves", "Cross-entropy per epoch (nats per image)");
  curves.xlabel("epoch").ylabel("-1/n sum_i log p(y^(i) | x^(i))");
  curves.line("train (mean over the epoch)", h.epochs, h.train_loss);
  curves.line("validation", h.epochs, h.validation_loss, tut::LineStyle::dashed);
  t.save_figure(curves);
  tut::Plot accuracy("accuracy", "Validation accuracy per epoch, and the test accuracy at the end");
  accuracy.xlabel("epoch").ylabel("accuracy").legend(tut::LegendPlace::bottom_right);
  accuracy.line("validation", h.epochs, h.validation_accuracy);
  accuracy.points("test (after training)", std::vector<double>{h.epochs.back()},
                  std::vector<double>{test_accuracy});
  accuracy.line("88% target", std::vector<double>{h.epochs.front(), h.epochs.back()},
                std::vector<double>{0.88, 0.88}, tut::LineStyle::dashed);
  t.save_figure(accuracy);
}

// Trains the classifier and returns theta^(i) = softmax(f_beta(x^(i))) of every test image.
std::vector<std::vector<double>> train_classifier(tut::Tutorial& t, const tut::ImageSplits& data,
                                                  const tut::TrainingFlags& training) {
  const nn::Dataset &train = data.train, &validation = data.validation, &test = data.test;
  t.section("L21", "Training: maximise sum_i log p(y^(i) | x^(i)) (minimise the cross-entropy)");
  t.note("data: {}", data.description);
  ad::Rng rng(t.seed());
  Classifier model(kSizes, rng);
  nn::Adam adam(model, {.lr = training.lr});
  t.note(
      "MLP 784-256-128-10, ReLU, {} parameters; Adam lr {} (cosine decay to 1/50 after the first "
      "third), batch {}, {} epochs",
      model.parameter_count(), training.lr, training.batch, training.epochs);
  if (t.quick()) t.note("--quick: 10000 training images, 1 epoch; the full run uses 50000 and 15");
  const double initial_loss =
      evaluate(predict(model, validation.images), validation.labels).cross_entropy;
  const History h = train_model(
      model, adam, train, validation,
      {.epochs = training.epochs, .batch_size = training.batch, .seed = t.seed() + 7});
  t.note("epoch time {:.2f} s ({} images per epoch)", h.seconds_per_epoch, train.size());

  std::vector<std::vector<double>> theta = predict(model, test.images);
  const Evaluation test_eval = evaluate(theta, test.labels);
  t.note("test: cross-entropy {:.4f} nats, accuracy {:.2f}% ({} images)", test_eval.cross_entropy,
         100 * test_eval.accuracy, test.size());
  t.check_less("L21",
               "validation cross-entropy: after training < before (log 10 = 2.303 at chance)",
               h.validation_loss.back(), initial_loss);
  if (t.quick()) {
    t.note("(--quick: 1 short epoch; the 88% target is checked on the full run)");
    t.check_less("L21", "quick run: test accuracy well above chance (> 50%, chance 10%)", 0.5,
                 test_eval.accuracy);
  } else {
    t.check_less_equal("L21", "test accuracy >= 88% (Fashion-MNIST README: MLP 256-128-100, 88.3%)",
                       0.88, test_eval.accuracy);
  }
  plot_training(t, h, test_eval.accuracy);
  return theta;
}

// ---------------------------------------------------------------- Example 1.4
// The network's output as a multinomial: sampling predictions from it.
void sample_predictions(tut::Tutorial& t, const std::vector<double>& theta_i, int64_t label,
                        const std::vector<std::string>& class_names) {
  t.section("L21", "Example 1.4: y^(i) ~ Multinomial(theta^(i)) for one test image");
  const size_t i = 0;
  ad::Rng sample_rng(t.seed() + 9);
  const int draws = t.quick() ? 20000 : 200000;
  std::vector<long> counts(theta_i.size(), 0);
  for (int d = 0; d < draws; ++d) ++counts[sample_class(theta_i, sample_rng)];
  t.note("test image {} (label {}), {} draws:", i, label, draws);
  for (size_t c = 0; c < counts.size(); ++c)
    if (theta_i[c] > 1e-3 || counts[c] > 0)
      t.note("  class {:<12} theta {:.4f}  sampled frequency {:.4f}",
             class_names.empty() ? std::to_string(c) : class_names[c], theta_i[c],
             double(counts[c]) / draws);
  const double p = theta_i[label];
  const double freq = double(counts[label]) / draws;
  t.check_within_se("L21", "frequency of the true class among the draws vs theta_y", freq,
                    std::sqrt(p * (1 - p) / draws), p, n_se);
}

}  // namespace

static int run(int argc, char** argv) {
  tut::Tutorial t("02_softmax_classifier",
                  "A softmax classifier parameterises a multinomial; the sampled log-likelihood");
  std::string data_dir;
  tut::TrainingFlags training{.epochs = 15, .batch = 128, .lr = 1e-3};
  int repeats = 20000;
  tut::add_data_flag(t, data_dir);
  tut::add_training_flags(t, training);
  t.flags()
      .add_option("--repeats", repeats,
                  "repetitions of the K-sample estimate per image (--quick: 2000)")
      ->check(CLI::Range(2, 10000000));
  if (auto exit_code = t.parse(argc, argv)) return *exit_code;
  if (t.quick() && !t.given("--epochs")) training.epochs = 1;
  if (t.quick() && !t.given("--repeats")) repeats = 2000;

  const auto data = tut::load_image_splits(t, data_dir);
  if (!data) return 1;
  const nn::Dataset& test = data->test;
  cross_entropy_three_ways(t, data->train);
  const std::vector<std::vector<double>> theta = train_classifier(t, *data, training);
  sample_predictions(t, theta[0], test.labels[0], test.class_names);
  sampled_estimate(t, theta, test.labels, test.class_names, repeats);
  return t.finish();
}

// Any error after the flags are read ends the program with one line and exit status 1.
int main(int argc, char** argv) {
  return tut::report_errors("02_softmax_classifier", [&] { return run(argc, argv); });
}
