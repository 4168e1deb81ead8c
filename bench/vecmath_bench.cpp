// vecmath_bench: the elementwise kernels of autodiff/runtime/vecmath.h and the fused Adam step of
// nn/optim_kernels.h, the reference against each SIMD ISA this CPU supports.
//
//   vecmath_bench [--out DIR] [--quick] [--help]
//
// Speed: each kernel runs on n = 128 * 784 floats (one batch of Fashion-MNIST images,
// 392 KB per array, so the arrays stay in L2); a sample is a batch of calls taking at
// least 20 ms of CPU time (5 ms with --quick), after one warm-up call, and the number
// reported is the median of 11 samples (3) in ns per element. The speed-up is the
// reference's time over the ISA's, both measured in this run. One thread: the kernels
// use no OpenMP.
//
// Accuracy: for the functions vecmath.h approximates, the worst ulp_distance to the
// correctly rounded result (double precision rounded to float) over every 4093rd bit
// pattern of all 2^32 floats (~1 million inputs; the tests sweep 4 times more densely).
//
// Writes DIR/vecmath.csv (kernel,isa,ns_per_element,speedup,worst_ulps) with --out.
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "nn/atomic_file.h"
#include "autodiff/runtime/vecmath.h"
#include "nn/loss_kernels.h"
#include "nn/optim.h"
#include "nn/optim_kernels.h"
#include "tutorials/common/tutorial.h"

namespace {

constexpr int64_t kN = 128 * 784;

const char* const kUsage =
    "usage: vecmath_bench [--out DIR] [--quick] [--help]\n"
    "  --out DIR  also write DIR/vecmath.csv\n"
    "  --quick    shorter samples (for a smoke run; the numbers are noisier)\n";

struct Options {
  std::string out_dir;
  bool quick = false;
};

// --help prints the usage and exits 0; anything not understood is an error: the usage on
// stderr and exit status 2 (the caller gets an exit code through `exit_code`).
std::optional<Options> parse_options(int argc, char** argv, int& exit_code) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      exit_code = 0;
      return std::nullopt;
    } else if (arg == "--out" && i + 1 < argc) {
      options.out_dir = argv[++i];
    } else if (arg == "--quick") {
      options.quick = true;
    } else {
      std::fprintf(stderr, "vecmath_bench: unknown or incomplete argument '%s'\n%s", arg.c_str(),
                   kUsage);
      exit_code = 2;
      return std::nullopt;
    }
  }
  return options;
}

// ---- inputs -----------------------------------------------------------------------

// Deterministic values in [lo, hi) (a 64-bit LCG); the speed does not depend on them
// beyond their range.
std::vector<float> uniform(int64_t n, double lo, double hi, uint64_t seed) {
  std::vector<float> v(n);
  for (float& x : v) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    x = static_cast<float>(lo + (hi - lo) * (double(seed >> 11) / double(uint64_t(1) << 53)));
  }
  return v;
}

struct Inputs {
  std::vector<float> x = uniform(kN, -10, 10, 1);       // most functions' arguments
  std::vector<float> positive = uniform(kN, 0, 10, 2);  // log, log1p
  std::vector<float> g = uniform(kN, -1, 1, 4);         // incoming gradients
  std::vector<float> t = uniform(kN, 0, 1, 5);          // targets, rounded to 0 / 1 below
  std::vector<float> y = std::vector<float>(kN);        // outputs
  std::vector<float> w = uniform(kN, -0.1, 0.1, 6), m = std::vector<float>(kN),
                     v = std::vector<float>(kN);  // Adam state
  Inputs() {
    for (float& ti : t) ti = std::round(ti);  // binarised images, as the VAE sees them
  }
};

// ---- measuring --------------------------------------------------------------------

struct Budget {
  double sample_seconds;
  int samples;
};

// This thread's CPU time in seconds. On a shared machine the wall clock also counts the
// time other processes hold the core, which can double a number at random; CPU time does
// not (what they leave in the caches still shows, hence the median below).
double cpu_seconds() {
  timespec now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return double(now.tv_sec) + 1e-9 * double(now.tv_nsec);
}

double seconds_of(const std::function<void()>& run, int64_t calls) {
  const double start = cpu_seconds();
  for (int64_t i = 0; i < calls; ++i) run();
  return cpu_seconds() - start;
}

// Median ns per element over the samples.
double ns_per_element(const std::function<void()>& run, Budget budget) {
  const double one_call = std::max(seconds_of(run, 1), 1e-9);  // also the warm-up
  const int64_t calls =
      std::max<int64_t>(1, std::llround(std::ceil(budget.sample_seconds / one_call)));
  std::vector<double> per_call;
  for (int s = 0; s < budget.samples; ++s)
    per_call.push_back(seconds_of(run, calls) / double(calls));
  std::nth_element(per_call.begin(), per_call.begin() + per_call.size() / 2, per_call.end());
  return per_call[per_call.size() / 2] / double(kN) * 1e9;
}

// One call of a kernel on the shared inputs, for the given ISA.
struct Bench {
  std::string name;
  std::function<void(ad::Isa, Inputs&)> run;
};

std::vector<Bench> benches() {
  using K = ad::vec::Kernels;
  auto unary = [](const char* name, void (*K::*kernel)(const float*, float*, int64_t),
                  bool positive) {
    return Bench{name, [kernel, positive](ad::Isa isa, Inputs& in) {
                   const float* x = positive ? in.positive.data() : in.x.data();
                   (ad::vec::kernels(isa).*kernel)(x, in.y.data(), kN);
                 }};
  };
  return {
      unary("exp", &K::exp, false),
      unary("log", &K::log, true),
      unary("log1p", &K::log1p, true),
      unary("sigmoid", &K::sigmoid, false),
      unary("softplus", &K::softplus, false),
      unary("log_sigmoid", &K::log_sigmoid, false),
      unary("tanh", &K::tanh, false),
      unary("relu", &K::relu, false),
      {"relu_backward",
       [](ad::Isa isa, Inputs& in) {
         ad::vec::kernels(isa).relu_backward(in.g.data(), in.x.data(), in.y.data(), kN);
       }},
      {"bce_with_logits",
       [](ad::Isa isa, Inputs& in) {
         nn::loss_kernels(isa).bce_with_logits(in.x.data(), in.t.data(), in.y.data(), kN);
       }},
      {"bce_with_logits_backward",
       [](ad::Isa isa, Inputs& in) {
         nn::loss_kernels(isa).bce_with_logits_backward(in.g.data(), in.x.data(), in.t.data(),
                                                       in.y.data(), kN);
       }},
      {"bce_with_logits_row_sum",  // 128 rows of 784: one loss per image
       [](ad::Isa isa, Inputs& in) {
         nn::loss_kernels(isa).bce_with_logits_row_sum(in.x.data(), in.t.data(), in.y.data(), 128,
                                                      784);
       }},
      {"adam_update",
       [](ad::Isa isa, Inputs& in) {
         const nn::AdamStep s = nn::adam_step(1, {.lr = 1e-3});
         nn::adam_update(isa, in.w.data(), in.m.data(), in.v.data(), in.g.data(), kN, s);
       }},
  };
}

// ---- accuracy ---------------------------------------------------------------------

// The functions vecmath.h approximates, with their oracles and stated bounds (ulps).
struct Approximated {
  const char* name;
  void (*ad::vec::Kernels::*kernel)(const float*, float*, int64_t);
  double (*exact)(double);
  int bound;
};

const std::vector<Approximated>& approximated() {
  static const std::vector<Approximated> list = {
      {"exp", &ad::vec::Kernels::exp, [](double x) { return std::exp(x); }, 2},
      {"log", &ad::vec::Kernels::log, [](double x) { return std::log(x); }, 2},
      {"log1p", &ad::vec::Kernels::log1p, [](double x) { return std::log1p(x); }, 2},
      {"sigmoid", &ad::vec::Kernels::sigmoid,
       [](double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); },
       3},
      {"softplus", &ad::vec::Kernels::softplus,
       [](double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); }, 3},
      {"log_sigmoid", &ad::vec::Kernels::log_sigmoid,
       [](double x) { return std::min(x, 0.0) - std::log1p(std::exp(-std::fabs(x))); }, 3},
      {"tanh", &ad::vec::Kernels::tanh, [](double x) { return std::tanh(x); }, 3},
  };
  return list;
}

// Worst ulps of each approximated function, by ISA: worst[name][isa].
std::map<std::string, std::map<ad::Isa, int64_t>> measure_accuracy() {
  std::vector<float> x;
  for (uint64_t bits = 7; bits < (uint64_t(1) << 32); bits += 4093) {
    const uint32_t b = static_cast<uint32_t>(bits);
    float f;
    std::memcpy(&f, &b, sizeof f);
    x.push_back(f);
  }
  std::vector<float> expected(x.size()), got(x.size());
  std::map<std::string, std::map<ad::Isa, int64_t>> worst;
  for (const Approximated& a : approximated()) {
    for (size_t i = 0; i < x.size(); ++i) expected[i] = static_cast<float>(a.exact(x[i]));
    for (ad::Isa isa : ad::supported_isas()) {
      (ad::vec::kernels(isa).*a.kernel)(x.data(), got.data(), int64_t(x.size()));
      int64_t w = 0;
      for (size_t i = 0; i < x.size(); ++i)
        w = std::max(w, ad::vec::ulp_distance(got[i], expected[i]));
      worst[a.name][isa] = w;
    }
  }
  return worst;
}

// ---- report -----------------------------------------------------------------------

struct Row {
  std::string kernel;
  ad::Isa isa;
  double ns, speedup;
  std::optional<int64_t> worst_ulps;
};

void print_speed(const std::vector<Row>& rows, const std::vector<ad::Isa>& isas) {
  fmt::print("\nspeed: ns per element (speed-up over the reference, measured in this run)\n");
  fmt::print("{:<26}", "kernel");
  for (ad::Isa isa : isas) fmt::print(" {:>16}", ad::to_string(isa));
  fmt::print("\n");
  for (size_t r = 0; r < rows.size(); r += isas.size()) {
    fmt::print("{:<26}", rows[r].kernel);
    for (size_t k = 0; k < isas.size(); ++k) {
      const Row& row = rows[r + k];
      fmt::print(" {:>16}", row.isa == ad::Isa::reference
                                ? fmt::format("{:.3f}", row.ns)
                                : fmt::format("{:.3f} ({:.1f}x)", row.ns, row.speedup));
    }
    fmt::print("\n");
  }
}

void print_accuracy(const std::vector<Row>& rows, const std::vector<ad::Isa>& isas) {
  fmt::print(
      "\naccuracy: worst ulps against the correctly rounded result, over every 4093rd float\n"
      "bit pattern (the bound is the one vecmath.h states and the tests check)\n");
  fmt::print("{:<26} {:>6}", "function", "bound");
  for (ad::Isa isa : isas) fmt::print(" {:>10}", ad::to_string(isa));
  fmt::print("\n");
  for (const Approximated& a : approximated()) {
    fmt::print("{:<26} {:>6}", a.name, a.bound);
    for (ad::Isa isa : isas)
      for (const Row& r : rows)
        if (r.kernel == a.name && r.isa == isa) fmt::print(" {:>10}", *r.worst_ulps);
    fmt::print("\n");
  }
}

std::string csv_line(const Row& r) {
  return fmt::format("{},{},{:.4f},{:.2f},{}\n", r.kernel, ad::to_string(r.isa), r.ns, r.speedup,
                     r.worst_ulps ? std::to_string(*r.worst_ulps) : "");
}

}  // namespace

static int run(int argc, char** argv) {
  int exit_code = 0;
  const std::optional<Options> options = parse_options(argc, argv, exit_code);
  if (!options) return exit_code;
  if (!options->out_dir.empty())  // before the measurements, not after
    if (auto problem = tut::output_folder_problem(options->out_dir)) throw std::runtime_error(*problem);
  const Budget budget = options->quick ? Budget{0.005, 3} : Budget{0.02, 11};
  const std::vector<ad::Isa> isas = ad::supported_isas();
  fmt::print("vecmath_bench: n = {} floats, ISAs:", kN);
  for (ad::Isa isa : isas) fmt::print(" {}", ad::to_string(isa));
  fmt::print("{}\n", options->quick ? " (--quick)" : "");

  const auto worst = measure_accuracy();
  Inputs inputs;
  std::vector<Row> rows;
  for (const Bench& b : benches()) {
    double reference_ns = 0;
    for (ad::Isa isa : isas) {
      const double ns = ns_per_element([&] { b.run(isa, inputs); }, budget);
      if (isa == ad::Isa::reference) reference_ns = ns;
      std::optional<int64_t> ulps;
      if (auto it = worst.find(b.name); it != worst.end()) ulps = it->second.at(isa);
      rows.push_back({b.name, isa, ns, reference_ns / ns, ulps});
    }
  }
  print_speed(rows, isas);
  print_accuracy(rows, isas);

  if (!options->out_dir.empty()) {
    const std::filesystem::path path = std::filesystem::path(options->out_dir) / "vecmath.csv";
    ad::write_file_atomic(path, [&](std::ostream& os) {
      os << "kernel,isa,ns_per_element,speedup,worst_ulps\n";
      for (const Row& r : rows) os << csv_line(r);
    });
    fmt::print("wrote {}\n", path.string());
  }
  return 0;
}

int main(int argc, char** argv) {
  return tut::report_errors("vecmath_bench", [&] { return run(argc, argv); });
}
