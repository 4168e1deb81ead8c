// gemm_bench: our float gemm against the reference kernel and OpenBLAS.
//
//   gemm_bench [--out DIR] [--quick]
//
// For each shape M x K x N (C = A B, row-major, no transposes) it measures GFLOP/s of
//   reference        the triple loop, 1 thread
//   ours             ad::gemm (best ISA), 1 and 2 threads
//   openblas         cblas_sgemm with the kernels OpenBLAS picks itself, 1 and 2 threads
//   openblas-avx512  the same with OPENBLAS_CORETYPE=SkylakeX (its AVX-512 kernels)
// prints a table with the ratios ours / OpenBLAS and the fraction of the machine's FMA
// peak that each reaches (bench/peak.h: measured at the start and the end, the higher
// figure; on n threads, n cores' peak), and writes DIR/gemm.csv
// (m,k,n,impl,threads,gflops,fraction_of_peak).
//
// OpenBLAS reads OPENBLAS_CORETYPE once, when the library loads, and Debian's
// DYNAMIC_ARCH build picks its Haswell (AVX2) kernels on AMD Zen 4/5. So the AVX-512
// numbers come from a child process: this program run again with the variable set
// and the hidden flag --openblas-child, which prints its CSV rows on stdout.
//
// Each number is the median of 15 samples (5 with --quick), each sample a batch of
// calls long enough (>= 30 ms) for the clock; one warm-up call comes first (page
// faults, thread start-up, packing buffers). Ours and OpenBLAS take their samples in
// turn, shape by shape, so that both see the same moments of a shared machine. The
// whole run takes about half a minute.
#include <cblas.h>
#include <fmt/core.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "nn/atomic_file.h"
#include "autodiff/runtime/gemm.h"
#include "bench/peak.h"
#include "tutorials/common/tutorial.h"

namespace {

struct Shape {
  int64_t m, k, n;
  double flops() const { return 2.0 * double(m) * double(k) * double(n); }
};

const std::vector<Shape> shapes = {{128, 784, 400},   {128, 400, 784}, {128, 400, 20},
                                   {128, 20, 400},    {256, 256, 256}, {512, 512, 512},
                                   {1024, 1024, 1024}};

// The triple loop needs seconds per call at this size; its speed is clear from 512^3.
bool reference_too_slow(const Shape& s) { return s.flops() > 1e9; }

struct Options {
  std::string out_dir;
  bool quick = false;
  bool openblas_child = false;
};

const char* const kUsage =
    "usage: gemm_bench [--out DIR] [--quick] [--help]\n"
    "  --out DIR  also write DIR/gemm.csv\n"
    "  --quick    shorter samples (for a smoke run; the numbers are noisier)\n";

// --help prints the usage and exits 0; anything not understood prints it and exits 2.
Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--out" && i + 1 < argc) {
      options.out_dir = argv[++i];
    } else if (arg == "--quick") {
      options.quick = true;
    } else if (arg == "--openblas-child") {
      options.openblas_child = true;
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      std::fprintf(stderr, "gemm_bench: unknown or incomplete argument '%s'\n%s", arg.c_str(),
                   kUsage);
      std::exit(2);
    }
  }
  return options;
}

// ---- measuring ------------------------------------------------------------------

struct Budget {
  double sample_seconds;  // each sample runs a batch of calls at least this long
  int samples;
};

double seconds_of(const std::function<void()>& run, int64_t calls) {
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < calls; ++i) run();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Median GFLOP/s of each run over the samples. With several runs the samples are taken
// in turn, in an order reversed every round (A B, B A, A B, ...), so that a slow spell
// of a shared machine, or the threads of the run before still spinning, hits them alike.
std::vector<double> measure_gflops(const Shape& shape,
                                   const std::vector<std::function<void()>>& runs, Budget budget) {
  std::vector<int64_t> calls;
  for (const auto& run : runs) {
    const double one_call = seconds_of(run, 1);  // also the warm-up
    calls.push_back(
        std::max<int64_t>(1, std::llround(std::ceil(budget.sample_seconds / one_call))));
  }
  std::vector<std::vector<double>> per_call(runs.size());
  for (int s = 0; s < budget.samples; ++s)
    for (size_t turn = 0; turn < runs.size(); ++turn) {
      const size_t r = s % 2 == 0 ? turn : runs.size() - 1 - turn;
      per_call[r].push_back(seconds_of(runs[r], calls[r]) / double(calls[r]));
    }
  std::vector<double> gflops;
  for (std::vector<double>& times : per_call) {
    std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
    gflops.push_back(shape.flops() / times[times.size() / 2] * 1e-9);
  }
  return gflops;
}

// Deterministic operands in [-1, 1) (a 64-bit LCG); the values do not affect the speed.
std::vector<float> filled(int64_t count, uint64_t seed) {
  std::vector<float> v(count);
  for (float& x : v) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    x = float(seed >> 40) / float(1 << 23) - 1.0f;
  }
  return v;
}

struct Operands {
  std::vector<float> a, b, c;
  explicit Operands(const Shape& s)
      : a(filled(s.m * s.k, 1)), b(filled(s.k * s.n, 2)), c(s.m * s.n, 0.0f) {}
};

void run_ours(const Shape& s, Operands& x) {
  ad::gemm(false, false, s.m, s.n, s.k, 1.0f, x.a.data(), s.k, x.b.data(), s.n, 0.0f, x.c.data(),
           s.n);
}

void run_reference(const Shape& s, Operands& x) {
  ad::gemm_with(ad::Isa::reference, false, false, s.m, s.n, s.k, 1.0f, x.a.data(), s.k,
                x.b.data(), s.n, 0.0f, x.c.data(), s.n);
}

void run_openblas(const Shape& s, Operands& x) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(s.m), int(s.n), int(s.k), 1.0f,
              x.a.data(), int(s.k), x.b.data(), int(s.n), 0.0f, x.c.data(), int(s.n));
}

// ---- results --------------------------------------------------------------------

struct Row {
  Shape shape;
  std::string impl;
  int threads;
  double gflops;
};

// The fraction of peak column is empty in the OpenBLAS child's lines (the parent has the peak).
std::string csv_line(const Row& r, const bench::Peak* peak = nullptr) {
  const std::string fraction =
      peak ? fmt::format("{:.3f}", bench::fraction_of_peak(r.gflops, *peak, r.threads)) : "";
  return fmt::format("{},{},{},{},{},{:.2f},{}\n", r.shape.m, r.shape.k, r.shape.n, r.impl,
                     r.threads, r.gflops, fraction);
}

Row parse_csv_line(const std::string& line) {
  Row r;
  char impl[64] = {};
  if (std::sscanf(line.c_str(), "%ld,%ld,%ld,%63[^,],%d,%lf,", &r.shape.m, &r.shape.k,
                  &r.shape.n, impl, &r.threads, &r.gflops) != 6)
    throw std::runtime_error("gemm_bench: bad line from the OpenBLAS child: " + line);
  r.impl = impl;
  return r;
}

// OpenBLAS on 1 and 2 threads for every shape, under the name `impl`.
std::vector<Row> measure_openblas(const std::string& impl, Budget budget) {
  std::vector<Row> rows;
  for (int threads : {1, 2}) {
    openblas_set_num_threads(threads);
    for (const Shape& s : shapes) {
      Operands x(s);
      rows.push_back({s, impl, threads,
                      measure_gflops(s, {[&] { run_openblas(s, x); }}, budget).front()});
    }
  }
  return rows;
}

// The reference kernel, then ours and OpenBLAS's default kernels, interleaved.
std::vector<Row> measure_ours_openblas_and_reference(Budget budget) {
  std::vector<Row> rows;
  for (const Shape& s : shapes) {
    if (reference_too_slow(s)) continue;
    Operands x(s);
    rows.push_back(
        {s, "reference", 1, measure_gflops(s, {[&] { run_reference(s, x); }}, {0, 3}).front()});
  }
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    for (const Shape& s : shapes) {
      Operands ours(s), theirs(s);
      const std::vector<double> gflops = measure_gflops(
          s, {[&] { run_ours(s, ours); }, [&] { run_openblas(s, theirs); }}, budget);
      rows.push_back({s, "ours", threads, gflops[0]});
      rows.push_back({s, "openblas", threads, gflops[1]});
    }
  }
  return rows;
}

// Runs this program again with OPENBLAS_CORETYPE=SkylakeX; returns its rows and the
// kernel name OpenBLAS reported there.
std::vector<Row> measure_openblas_avx512(bool quick, std::string& corename) {
  // Let our OpenMP and OpenBLAS worker threads finish spinning before the child runs.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::string self = std::filesystem::read_symlink("/proc/self/exe");
  setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);  // inherited by the child only: ours is loaded
  const std::string command = "'" + self + "' --openblas-child" + (quick ? " --quick" : "");
  FILE* child = popen(command.c_str(), "r");
  if (!child) throw std::runtime_error("gemm_bench: cannot start " + command);
  std::vector<Row> rows;
  char line[256];
  while (std::fgets(line, sizeof line, child)) {
    if (std::strncmp(line, "corename,", 9) == 0)
      corename = std::string(line + 9, std::strcspn(line + 9, "\n"));
    else
      rows.push_back(parse_csv_line(line));
  }
  if (pclose(child) != 0) throw std::runtime_error("gemm_bench: the OpenBLAS child failed");
  return rows;
}

// ---- report ---------------------------------------------------------------------

using Key = std::tuple<int64_t, int64_t, int64_t, std::string, int>;

std::string cell(const std::map<Key, double>& g, const Shape& s, const std::string& impl,
                 int threads) {
  const auto it = g.find({s.m, s.k, s.n, impl, threads});
  return it == g.end() ? "-" : fmt::format("{:.1f}", it->second);
}

// GFLOP/s of `impl` as a percentage of `threads` cores' FMA peak.
std::string percent_of_peak(const std::map<Key, double>& g, const Shape& s,
                            const std::string& impl, int threads, const bench::Peak& peak) {
  const auto it = g.find({s.m, s.k, s.n, impl, threads});
  if (it == g.end()) return "-";
  return fmt::format("{:.0f}%", 100 * bench::fraction_of_peak(it->second, peak, threads));
}

std::string ratio(const std::map<Key, double>& g, const Shape& s, const std::string& other,
                  int threads) {
  const auto ours = g.find({s.m, s.k, s.n, "ours", threads});
  const auto theirs = g.find({s.m, s.k, s.n, other, threads});
  if (ours == g.end() || theirs == g.end()) return "-";
  return fmt::format("{:.2f}x", ours->second / theirs->second);
}

void print_table(const std::vector<Row>& rows, const bench::Peak& peak) {
  std::map<Key, double> g;
  for (const Row& r : rows) g[{r.shape.m, r.shape.k, r.shape.n, r.impl, r.threads}] = r.gflops;

  fmt::print(
      "\nGFLOP/s (float, median); 1t / 2t = threads; ob = OpenBLAS default kernels, "
      "ob512 = OPENBLAS_CORETYPE=SkylakeX\n");
  const char* const format =
      "{:>15} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} | {:>8} {:>8} {:>8} {:>8} | {:>6} {:>6} "
      "{:>6} {:>6}\n";
  fmt::print(fmt::runtime(format), "M x K x N", "ref", "ours1t", "ours2t", "ob1t", "ob2t",
             "ob512-1", "ob512-2", "/ob 1t", "/ob512 1t", "/ob 2t", "/ob512 2t", "pk1t", "pk2t",
             "ob-pk1", "ob-pk2");
  for (const Shape& s : shapes) {
    fmt::print(fmt::runtime(format), fmt::format("{}x{}x{}", s.m, s.k, s.n),
               cell(g, s, "reference", 1), cell(g, s, "ours", 1), cell(g, s, "ours", 2),
               cell(g, s, "openblas", 1), cell(g, s, "openblas", 2),
               cell(g, s, "openblas-avx512", 1), cell(g, s, "openblas-avx512", 2),
               ratio(g, s, "openblas", 1), ratio(g, s, "openblas-avx512", 1),
               ratio(g, s, "openblas", 2), ratio(g, s, "openblas-avx512", 2),
               percent_of_peak(g, s, "ours", 1, peak), percent_of_peak(g, s, "ours", 2, peak),
               percent_of_peak(g, s, "openblas", 1, peak),
               percent_of_peak(g, s, "openblas", 2, peak));
  }
  fmt::print(
      "ref '-': the triple loop is skipped above 1 GFLOP per call (seconds per call).\n"
      "ratios are ours / OpenBLAS at the same thread count (> 1: ours is faster).\n"
      "pk1t, pk2t: ours as a fraction of the FMA peak of 1 core and of 2 cores ({:.1f} and\n"
      "{:.1f} GFLOP/s); ob-pk1, ob-pk2: the same for OpenBLAS's default kernels.\n",
      peak.gflops_per_core, 2 * peak.gflops_per_core);
}

// ours and OpenBLAS must agree before their speeds are worth comparing.
void check_against_openblas(const Shape& s) {
  Operands ours(s), theirs(s);
  run_ours(s, ours);
  run_openblas(s, theirs);
  double worst = 0;
  for (size_t i = 0; i < ours.c.size(); ++i)
    worst = std::max(worst, double(std::fabs(ours.c[i] - theirs.c[i])));
  // Entries are sums of k products of values in [-1, 1): allow k * eps * k.
  const double tolerance = double(s.k) * s.k * 1.2e-7;
  if (!(worst <= tolerance))
    throw std::runtime_error(fmt::format("gemm_bench: ours differs from OpenBLAS by {} on {}x{}x{}",
                                         worst, s.m, s.k, s.n));
}

}  // namespace

static int run(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  if (!options.out_dir.empty())  // before the measurements, not after
    if (auto problem = tut::output_folder_problem(options.out_dir)) throw std::runtime_error(*problem);
  const Budget budget = options.quick ? Budget{0.005, 5} : Budget{0.03, 15};

  if (options.openblas_child) {
    std::string out = fmt::format("corename,{}\n", openblas_get_corename());
    for (const Row& r : measure_openblas("openblas-avx512", budget)) out += csv_line(r);
    fmt::print("{}", out);
    return 0;
  }

  fmt::print("gemm_bench: ours = {}, OpenBLAS default kernels = {}, {} hardware threads{}\n",
             ad::to_string(ad::best_isa()), openblas_get_corename(),
             std::thread::hardware_concurrency(), options.quick ? " (--quick)" : "");
  for (const Shape& s : shapes) check_against_openblas(s);
  const bench::Peak first_peak = bench::measure_fma_peak();

  std::vector<Row> rows = measure_ours_openblas_and_reference(budget);
  if (ad::isa_supported(ad::Isa::avx512)) {
    std::string corename = "?";
    const std::vector<Row> avx512 = measure_openblas_avx512(options.quick, corename);
    rows.insert(rows.end(), avx512.begin(), avx512.end());
    fmt::print("OpenBLAS with OPENBLAS_CORETYPE=SkylakeX uses: {}\n", corename);
  } else {
    fmt::print("no AVX-512 on this CPU: openblas-avx512 not measured\n");
  }

  const bench::Peak peak = bench::higher_peak(first_peak, bench::measure_fma_peak());
  fmt::print("FMA peak of one core, measured at the start and the end ({}): {:.1f} GFLOP/s\n",
             peak.how, peak.gflops_per_core);
  print_table(rows, peak);

  if (!options.out_dir.empty()) {
    const std::filesystem::path path = std::filesystem::path(options.out_dir) / "gemm.csv";
    ad::write_file_atomic(path, [&](std::ostream& os) {
      os << "m,k,n,impl,threads,gflops,fraction_of_peak\n";
      for (const Row& r : rows) os << csv_line(r, &peak);
    });
    fmt::print("wrote {}\n", path.string());
  }
  return 0;
}

int main(int argc, char** argv) {
  return tut::report_errors("gemm_bench", [&] { return run(argc, argv); });
}
