// train_step: how long one training step of the VAEs takes, and how much memory an
// epoch of training needs.
//
//   train_step [--out DIR] [--models mlp_vae,conv_vae] [--threads 1,2] [--steps 200]
//              [--warmup 20] [--no-rss] [--loaded]
//
// The models (float32, batch 128, Adam with lr 1e-3, Fashion-MNIST training images as
// grey intensities in [0, 1], batches from nn::BatchIterator):
//   mlp_vae   vae::Vae 784 -> 400 -> (20 mu, 20 logvar), 20 -> 400 -> 784 logits: the VAE
//             of pytorch/examples (its fc21 and fc22 are our encoder's last Linear, side
//             by side); Bernoulli decoder, BCE summed over pixels + analytic KL, L = 1
//   conv_vae  vae::ConvVae with a 2-D latent (the Keras demo's layers, vae/conv_vae.h)
//
// A step is what a training loop does per batch: zero_grad, the forward pass (-ELBO, which
// draws the noise), backward and the Adam update; drawing the batch is not counted.
// For each model and thread count (omp_set_num_threads) it takes --warmup steps, then
// times --steps steps one by one and reports the median, the 10th and 90th percentiles
// (linear interpolation between order statistics) and examples/s = 128 / median.
//
// peak_rss_mb is the peak resident memory (getrusage's ru_maxrss) of a separate process
// that loads the data and trains one full epoch of the model on 1 thread: this program
// run again with the hidden flag --epoch-rss MODEL, which prints one line
// "epoch_rss,MODEL,MB,SECONDS" for the parent to read. --no-rss skips it.
//
// --loaded repeats every measurement while two busy-looping child processes compete for
// the cores (as on a shared machine), in a second table and DIR/train_step_loaded.csv.
//
// Against the hardware: the step's floating-point work, counted from the model's layer
// shapes (step_flops below), over the median time, as a fraction of the FMA peak of the
// cores used (bench/peak.h, measured at the start and after the steps, the higher figure:
// one core's peak for 1 thread, two cores' for 2).
//
// Output: a table, and DIR/train_step.csv with the columns
//   model,impl,threads,median_ms,p10_ms,p90_ms,examples_per_s,peak_rss_mb,
//   gflop_per_step,peak_gflops,fraction_of_peak                             (impl "ours")
#include <fmt/core.h>
#include <omp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "nn/atomic_file.h"
#include "autodiff/autodiff.h"
#include "autodiff/runtime/isa.h"
#include "bench/peak.h"
#include "nn/conv.h"
#include "nn/dataset.h"
#include "nn/nn.h"
#include "vae/conv_vae.h"
#include "tutorials/common/tutorial.h"
#include "vae/mlp_vae.h"

namespace {

constexpr int64_t kBatch = 128;
constexpr double kLearningRate = 1e-3;

// ---- the two models behind one interface ----------------------------------------------

struct Model {
  virtual ~Model() = default;
  virtual nn::Module& module() = 0;
  virtual nn::Sequential& encoder() = 0;  // x -> (mu, logvar) side by side
  virtual nn::Sequential& decoder() = 0;  // z -> logits
  virtual vae::ElboTerms negative_elbo(const ad::Tensor& x, ad::Rng& rng) = 0;
  virtual nn::ImageLayout layout() const = 0;
};

struct MlpVae : Model {
  vae::Vae vae;
  explicit MlpVae(ad::Rng& rng) : vae({.input_dim = 784, .hidden = {400}, .latent_dim = 20}, rng) {}
  nn::Module& module() override { return vae; }
  nn::Sequential& encoder() override { return vae.encoder; }
  nn::Sequential& decoder() override { return vae.decoder; }
  vae::ElboTerms negative_elbo(const ad::Tensor& x, ad::Rng& rng) override {
    return vae::negative_elbo(vae, x, rng);
  }
  nn::ImageLayout layout() const override { return nn::ImageLayout::flat; }
};

struct ConvVae : Model {
  vae::ConvVae vae;
  explicit ConvVae(ad::Rng& rng) : vae({.latent_dim = 2}, rng) {}
  nn::Module& module() override { return vae; }
  nn::Sequential& encoder() override { return vae.encoder; }
  nn::Sequential& decoder() override { return vae.decoder; }
  vae::ElboTerms negative_elbo(const ad::Tensor& x, ad::Rng& rng) override {
    return vae::negative_elbo(vae, x, rng);
  }
  nn::ImageLayout layout() const override { return nn::ImageLayout::nchw; }
};

const std::vector<std::string> kModels = {"mlp_vae", "conv_vae"};

std::unique_ptr<Model> make_model(const std::string& name, ad::Rng& rng) {
  if (name == "mlp_vae") return std::make_unique<MlpVae>(rng);
  if (name == "conv_vae") return std::make_unique<ConvVae>(rng);
  throw std::invalid_argument("unknown model '" + name + "'");
}

// One training step; returns the loss.
double step(Model& model, nn::Adam& adam, const ad::Tensor& x, ad::Rng& rng) {
  adam.zero_grad();
  vae::ElboTerms terms = model.negative_elbo(x, rng);
  ad::backward(terms.loss);
  adam.step();
  return terms.loss.item();
}

// ---- the work of a step, from the layer shapes ----------------------------------------

// Flops of the products in one forward pass of `net` on a zero input of shape `input`
// (run layer by layer, untaped, to learn each layer's input and output shapes). Each
// weight layer is one gemm C[m x n] = A[m x k] B[k x n] of 2 m n k flops:
//   Linear           m = rows of x, k = in_features, n = out_features
//   Conv2d           m = N x output pixels, k = C_in x kernel^2, n = C_out
//   ConvTranspose2d  m = N x input pixels,  k = C_in, n = C_out x kernel^2 (before col2im)
// Biases, activations and the loss are left out: they are O(m n), not O(m n k).
double forward_flops(nn::Sequential& net, const ad::Shape& input, ad::Shape& output) {
  ad::NoGrad no_grad;
  ad::Tensor x = ad::Tensor::zeros(input);
  double flops = 0;
  for (size_t i = 0; i < net.size(); ++i) {
    nn::Layer& layer = net[i];
    ad::Tensor y = layer(x);
    const double in_numel = double(x.numel()), out_numel = double(y.numel());
    if (auto* linear = dynamic_cast<nn::Linear*>(&layer))  // m n = out_numel
      flops += 2 * out_numel * double(linear->in_features);
    else if (auto* conv = dynamic_cast<nn::Conv2d*>(&layer))  // m n = out_numel
      flops += 2 * out_numel * double(conv->in_channels * conv->kernel_size * conv->kernel_size);
    else if (auto* conv = dynamic_cast<nn::ConvTranspose2d*>(&layer))  // m k = in_numel
      flops += 2 * in_numel * double(conv->out_channels * conv->kernel_size * conv->kernel_size);
    x = y;
  }
  output = x.shape();
  return flops;
}

// Flops of a training step on a batch of shape `input`. Backward costs twice the forward
// for every weight layer (the gradient of the input, G B^T, and of the weights, A^T G,
// each a gemm of the same size as the forward's), so a step is 3 x forward: the usual
// count (llm.c's MFU, PaLM's model FLOPs). It includes the input gradient of the first
// layer, which nothing needs; Adam's O(parameters) update is left out.
double step_flops(Model& model, const ad::Shape& input) {
  ad::Shape moments, logits;  // encoder output: mu and logvar side by side, [N, 2 latent]
  const double encoder = forward_flops(model.encoder(), input, moments);
  const double decoder = forward_flops(model.decoder(), {input[0], moments.back() / 2}, logits);
  return 3 * (encoder + decoder);
}

ad::Shape batch_shape(nn::ImageLayout layout) {
  if (layout == nn::ImageLayout::nchw) return {kBatch, 1, 28, 28};
  return {kBatch, 784};
}

// ---- measuring ------------------------------------------------------------------------

struct Row {
  std::string model;
  int threads = 1;
  double median_ms = 0, p10_ms = 0, p90_ms = 0;
  double peak_rss_mb = -1;  // < 0: not measured
  double gflop_per_step = 0;
  double peak_gflops = 0;  // the FMA peak of `threads` cores
  double examples_per_s() const { return kBatch / (median_ms * 1e-3); }
  double gflops() const { return gflop_per_step / (median_ms * 1e-3); }
  double fraction_of_peak() const { return gflops() / peak_gflops; }
};

// The q-quantile (0..1) of sorted values, interpolating linearly between order
// statistics (numpy.percentile's default, so PyTorch's numbers are computed the same way).
double quantile(const std::vector<double>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

Row measure_steps(const std::string& name, const nn::Dataset& train, int threads, int steps,
                  int warmup) {
  omp_set_num_threads(threads);
  ad::Rng rng(42);
  std::unique_ptr<Model> model = make_model(name, rng);
  nn::Adam adam(model->module(), {.lr = kLearningRate});
  // Full batches only, so that every timed step has 128 examples.
  nn::BatchIterator batches(
      train, {.batch_size = kBatch, .drop_last = true, .layout = model->layout(), .seed = 1});
  nn::Batch batch;
  auto next_batch = [&] {
    if (!batches.next(batch)) batches.next(batch);  // the epoch ended: start the next
  };
  std::vector<double> ms;
  double loss = 0;
  for (int i = 0; i < warmup + steps; ++i) {
    next_batch();
    const auto start = std::chrono::steady_clock::now();
    loss = step(*model, adam, batch.x, rng);
    const auto end = std::chrono::steady_clock::now();
    if (i >= warmup) ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
  }
  if (!std::isfinite(loss))
    throw std::runtime_error(fmt::format("{} diverged (loss {})", name, loss));
  std::sort(ms.begin(), ms.end());
  return {name, threads, quantile(ms, 0.5), quantile(ms, 0.1), quantile(ms, 0.9)};
}

// The hidden child mode: one epoch on 1 thread, then the peak resident memory.
int run_epoch_rss(const std::string& name) {
  omp_set_num_threads(1);
  const auto start = std::chrono::steady_clock::now();
  // The pixels as the files' bytes (47 MB rather than 188 MB of floats): the
  // BatchIterator turns each batch into the same floats in [0, 1].
  const nn::Dataset train =
      nn::load_fashion_mnist(nn::Split::train, {}, nn::PixelStorage::bytes);
  ad::Rng rng(42);
  std::unique_ptr<Model> model = make_model(name, rng);
  nn::Adam adam(model->module(), {.lr = kLearningRate});
  nn::BatchIterator batches(train, {.batch_size = kBatch, .layout = model->layout(), .seed = 1});
  double loss = 0;
  for (nn::Batch batch; batches.next(batch);) loss = step(*model, adam, batch.x, rng);
  if (!std::isfinite(loss)) throw std::runtime_error("the epoch diverged");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  fmt::print("epoch_rss,{},{:.1f},{:.2f}\n", name, usage.ru_maxrss / 1024.0, seconds);
  return 0;
}

// Runs this program again in --epoch-rss mode and reads its line.
double epoch_rss_mb(const std::string& name) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe");
  const std::string command = "'" + self + "' --epoch-rss " + name;
  FILE* child = popen(command.c_str(), "r");
  if (!child) throw std::runtime_error("cannot start " + command);
  double mb = -1, seconds = 0;
  char line[256];
  while (std::fgets(line, sizeof line, child)) {
    char model[64] = {};
    if (std::sscanf(line, "epoch_rss,%63[^,],%lf,%lf", model, &mb, &seconds) == 3) break;
  }
  if (pclose(child) != 0 || mb < 0)
    throw std::runtime_error("the --epoch-rss " + name + " child failed");
  fmt::print("  one epoch of {} on 1 thread: {:.1f} s, peak RSS {:.0f} MB\n", name, seconds, mb);
  return mb;
}

// Two processes that do nothing but spin, killed when this object goes away (and with
// this program if it dies first: PR_SET_PDEATHSIG).
class BusyLoops {
 public:
  explicit BusyLoops(int count) {
    for (int i = 0; i < count; ++i) {
      const pid_t pid = fork();
      if (pid < 0) throw std::runtime_error("fork failed");
      if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        volatile unsigned long spin = 0;
        for (;;) spin = spin + 1;
      }
      pids_.push_back(pid);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let them get going
  }
  ~BusyLoops() {
    for (pid_t pid : pids_) kill(pid, SIGKILL);
    for (pid_t pid : pids_) waitpid(pid, nullptr, 0);
  }
  BusyLoops(const BusyLoops&) = delete;
  BusyLoops& operator=(const BusyLoops&) = delete;

 private:
  std::vector<pid_t> pids_;
};

// ---- report ---------------------------------------------------------------------------

std::string rss_text(double mb) { return mb < 0 ? "" : fmt::format("{:.1f}", mb); }

void print_table(const std::string& title, const std::vector<Row>& rows) {
  fmt::print("\n{}\n", title);
  fmt::print("{:<9} {:<5} {:>7} {:>10} {:>8} {:>8} {:>11} {:>12} {:>10} {:>8} {:>7}\n", "model",
             "impl", "threads", "median ms", "p10 ms", "p90 ms", "examples/s", "peak RSS MB",
             "GFLOP/step", "GFLOP/s", "% peak");
  for (const Row& r : rows)
    fmt::print("{:<9} {:<5} {:>7} {:>10.2f} {:>8.2f} {:>8.2f} {:>11.0f} {:>12} {:>10.3f} {:>8.1f} "
               "{:>6.1f}%\n",
               r.model, "ours", r.threads, r.median_ms, r.p10_ms, r.p90_ms, r.examples_per_s(),
               r.peak_rss_mb < 0 ? "-" : rss_text(r.peak_rss_mb), r.gflop_per_step, r.gflops(),
               100 * r.fraction_of_peak());
  fmt::print("% peak: GFLOP/step / median time over the FMA peak of the cores used (threads x "
             "one core's {:.1f} GFLOP/s)\n",
             rows.empty() ? 0.0 : rows.front().peak_gflops / rows.front().threads);
}

void write_csv(const std::filesystem::path& path, const std::vector<Row>& rows) {
  ad::write_file_atomic(path, [&](std::ostream& os) {
    os << "model,impl,threads,median_ms,p10_ms,p90_ms,examples_per_s,peak_rss_mb,"
          "gflop_per_step,peak_gflops,fraction_of_peak\n";
    for (const Row& r : rows)
      os << fmt::format("{},ours,{},{:.4f},{:.4f},{:.4f},{:.1f},{},{:.4f},{:.1f},{:.4f}\n",
                        r.model, r.threads, r.median_ms, r.p10_ms, r.p90_ms, r.examples_per_s(),
                        rss_text(r.peak_rss_mb), r.gflop_per_step, r.peak_gflops,
                        r.fraction_of_peak());
  });
  fmt::print("wrote {}\n", path.string());
}

// Under load, the rate of each thread count as a fraction of the idle rate.
void print_load_effect(const std::vector<Row>& idle, const std::vector<Row>& loaded) {
  fmt::print("\nunder load / idle (examples/s):\n");
  for (size_t i = 0; i < idle.size() && i < loaded.size(); ++i)
    fmt::print("  {:<9} {} thread{}: {:.2f}\n", idle[i].model, idle[i].threads,
               idle[i].threads == 1 ? " " : "s",
               loaded[i].examples_per_s() / idle[i].examples_per_s());
}

}  // namespace

static int run(int argc, char** argv) {
  CLI::App cli("The training step of the VAEs: time per step and peak memory of an epoch",
               "train_step");
  std::string out_dir;
  std::vector<std::string> models = kModels;
  std::vector<int> threads = {1, 2};
  int steps = 200, warmup = 20;
  bool no_rss = false, loaded = false;
  std::string epoch_rss;
  cli.add_option("--out", out_dir, "folder for train_step.csv (none: only the table)");
  cli.add_option("--models", models, "models to measure, comma-separated")
      ->delimiter(',')
      ->check(CLI::IsMember(kModels))
      ->capture_default_str();
  cli.add_option("--threads", threads, "thread counts, comma-separated")
      ->delimiter(',')
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cli.add_option("--steps", steps, "timed steps per measurement")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cli.add_option("--warmup", warmup, "untimed steps first")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  cli.add_flag("--no-rss", no_rss, "skip the one-epoch peak-memory runs");
  cli.add_flag("--loaded", loaded, "measure again with two busy processes competing for the cores");
  cli.add_option("--epoch-rss", epoch_rss, "(internal) train one epoch, print the peak RSS")
      ->check(CLI::IsMember(kModels))
      ->group("");
  cli.failure_message(CLI::FailureMessage::help);
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e) == 0 ? 0 : 2;
  }

  if (!epoch_rss.empty()) return run_epoch_rss(epoch_rss);
  if (!out_dir.empty())  // before the measurements, not after
    if (auto problem = tut::output_folder_problem(out_dir)) throw std::runtime_error(*problem);

  fmt::print(
      "train_step: float32, batch {}, Adam lr {}, Fashion-MNIST training images (grey), "
      "{} timed steps after {} warm-up; gemm {}, {} hardware threads\n",
      kBatch, kLearningRate, steps, warmup, ad::to_string(ad::best_isa()),
      std::thread::hardware_concurrency());
  const nn::Dataset train =
      nn::load_fashion_mnist(nn::Split::train, {}, nn::PixelStorage::bytes);
  bench::Peak peak = bench::measure_fma_peak();

  // The work per step of every row's model; the peak of the cores used is filled in once
  // the peak has been measured again after the steps (bench/peak.h: the higher figure).
  std::vector<double> gflop_per_step;
  auto with_work = [&](Row row) {
    const size_t model = std::find(models.begin(), models.end(), row.model) - models.begin();
    row.gflop_per_step = gflop_per_step.at(model);
    return row;
  };
  auto remeasure_peak = [&](std::vector<Row>& rows) {
    peak = bench::higher_peak(peak, bench::measure_fma_peak());
    for (Row& row : rows) row.peak_gflops = peak.gflops_per_core * row.threads;
  };
  std::vector<Row> idle;
  for (const std::string& name : models) {
    ad::Rng rng(42);
    const std::unique_ptr<Model> model = make_model(name, rng);
    gflop_per_step.push_back(step_flops(*model, batch_shape(model->layout())) * 1e-9);
    fmt::print("  {}: {} parameters, {:.3f} GFLOP per step (3 x the forward gemms)\n", name,
               model->module().parameter_count(), gflop_per_step.back());
    const double rss = no_rss ? -1 : epoch_rss_mb(name);
    for (int t : threads) {
      idle.push_back(with_work(measure_steps(name, train, t, steps, warmup)));
      idle.back().peak_rss_mb = rss;
    }
  }
  remeasure_peak(idle);
  fmt::print("  FMA peak of one core, measured at the start and after the steps ({}): {:.1f} "
             "GFLOP/s\n",
             peak.how, peak.gflops_per_core);
  print_table("idle machine:", idle);
  if (!out_dir.empty()) write_csv(std::filesystem::path(out_dir) / "train_step.csv", idle);

  if (loaded) {
    std::vector<Row> busy;
    {
      BusyLoops load(2);
      for (const Row& r : idle) {
        busy.push_back(with_work(measure_steps(r.model, train, r.threads, steps, warmup)));
        busy.back().peak_rss_mb = r.peak_rss_mb;  // memory does not depend on the load
      }
    }
    remeasure_peak(busy);  // (after BusyLoops has stopped)
    print_table("with two busy-looping processes competing for the cores:", busy);
    print_load_effect(idle, busy);
    if (!out_dir.empty()) write_csv(std::filesystem::path(out_dir) / "train_step_loaded.csv", busy);
  }
  return 0;
}

int main(int argc, char** argv) {
  return tut::report_errors("train_step", [&] { return run(argc, argv); });
}
