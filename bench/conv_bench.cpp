// conv_bench: the convolutions of the Keras VAE demo, fast ops against the reference
// composition, measured side by side in one run.
//
//   conv_bench [--out DIR] [--threads N]
//
// The model is keras-io examples/generative/vae.py at batch 128, float32, 28x28 images,
// in the PyTorch form of its "same" padding (nn/conv.h explains the choice):
//   encoder  Conv2d(1 -> 32, 3, s2, p1)  28 -> 14    Conv2d(32 -> 64, 3, s2, p1)  14 -> 7
//   decoder  ConvTranspose2d(64 -> 64, 3, s2, p1, op1)  7 -> 14
//            ConvTranspose2d(64 -> 32, 3, s2, p1, op1)  14 -> 28
//            ConvTranspose2d(32 -> 1, 3, s1, p1)        28 -> 28
//
// For each layer it times the forward pass (recorded, as in training) and forward +
// backward (d input, d weight, d bias under a fixed random seed dY; the encoder's first
// layer reads the images, which need no gradient), for
//   fast       nn::conv2d / nn::conv_transpose2d, one recorded op each
//   reference  nn::conv2d_reference / nn::conv_transpose2d_reference: im2col, matmul,
//              transpose and a broadcast bias, each a recorded op (the gemm is the same)
// Each number is the median of 20 runs after 3 warm-ups; the fast and the reference run
// alternate, so that a noisy neighbour on the machine slows both alike. It prints a table
// with the ratios reference / fast and writes DIR/conv.csv (layer,threads,impl,pass,ms).
// --threads N sets the OpenMP threads (default: OMP_NUM_THREADS or every core).
#include <fmt/core.h>
#include <omp.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <ostream>
#include <string>
#include <vector>

#include "nn/atomic_file.h"
#include "autodiff/autodiff.h"
#include "nn/conv.h"
#include "tutorials/common/tutorial.h"

namespace {

constexpr int64_t kBatch = 128;
constexpr int kWarmups = 3, kRuns = 20;

struct Layer {
  std::string name;
  bool transpose;
  int64_t c_in, c_out, size;  // input [batch, c_in, size, size]
  int64_t stride, padding, output_padding;
  bool input_grad;  // does the input need a gradient (false for the images)
};

const std::vector<Layer> layers = {
    {"enc conv1 1->32 28->14", false, 1, 32, 28, 2, 1, 0, false},
    {"enc conv2 32->64 14->7", false, 32, 64, 14, 2, 1, 0, true},
    {"dec convT1 64->64 7->14", true, 64, 64, 7, 2, 1, 1, true},
    {"dec convT2 64->32 14->28", true, 64, 32, 14, 2, 1, 1, true},
    {"dec convT3 32->1 28->28", true, 32, 1, 28, 1, 1, 0, true},
};

struct Options {
  std::string out_dir;
  int threads = 0;  // 0: leave OpenMP's default
};

const char* const usage =
    "usage: conv_bench [--out DIR] [--threads N]\n"
    "  --out DIR    also write DIR/conv.csv\n"
    "  --threads N  OpenMP threads, 1 to 256 (default: OpenMP's choice)\n";

// A whole number in [lo, hi], all of `text` (atoi would take "4x" as 4 and overflow on
// "99999999999"); nothing when it is not.
std::optional<int> whole_number_in(const char* text, int lo, int hi) {
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || errno != 0 || value < lo || value > hi) return std::nullopt;
  return static_cast<int>(value);
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--out" && i + 1 < argc) {
      options.out_dir = argv[++i];
    } else if (arg == "--threads" && i + 1 < argc && whole_number_in(argv[i + 1], 1, 256)) {
      options.threads = *whole_number_in(argv[++i], 1, 256);
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(usage, stdout);
      std::exit(0);
    } else {
      std::fprintf(stderr, "conv_bench: unknown or incomplete option '%s'\n%s", arg.c_str(), usage);
      std::exit(2);
    }
  }
  return options;
}

// One layer's tensors: its input, parameters and the seed dY of its output.
struct Problem {
  ad::Tensor x, weight, bias, seed;
};

ad::Tensor forward(const Layer& l, const Problem& p, bool fast) {
  if (!l.transpose)
    return fast ? nn::conv2d(p.x, p.weight, p.bias, l.stride, l.padding)
                : nn::conv2d_reference(p.x, p.weight, p.bias, l.stride, l.padding);
  return fast ? nn::conv_transpose2d(p.x, p.weight, p.bias, l.stride, l.padding, l.output_padding)
              : nn::conv_transpose2d_reference(p.x, p.weight, p.bias, l.stride, l.padding,
                                               l.output_padding);
}

Problem make_problem(const Layer& l, ad::Rng& rng) {
  Problem p;
  p.x = rng.normal({kBatch, l.c_in, l.size, l.size});
  if (l.input_grad) p.x.requires_grad_();
  const ad::Shape w =
      l.transpose ? ad::Shape{l.c_in, l.c_out, 3, 3} : ad::Shape{l.c_out, l.c_in, 3, 3};
  p.weight = rng.normal(w, ad::f32, 0, 0.1).requires_grad_();
  p.bias = rng.normal({l.c_out}, ad::f32, 0, 0.1).requires_grad_();
  p.seed = rng.normal(forward(l, p, true).shape());
  ad::tape().clear();
  return p;
}

void forward_only(const Layer& l, Problem& p, bool fast) {
  forward(l, p, fast);
  ad::tape().clear();
}

void forward_backward(const Layer& l, Problem& p, bool fast) {
  for (ad::Tensor* t : {&p.x, &p.weight, &p.bias}) t->zero_grad();
  ad::BackwardOptions options;
  options.seed = p.seed;
  ad::backward(forward(l, p, fast), options);
}

double milliseconds(const std::function<void()>& run) {
  const auto start = std::chrono::steady_clock::now();
  run();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

struct Timing {
  double fast, reference;  // median ms
};

// Warm-ups, then the two implementations in turn, kRuns times each.
Timing side_by_side(const std::function<void(bool fast)>& run) {
  for (int i = 0; i < kWarmups; ++i) run(true), run(false);
  std::vector<double> fast, reference;
  for (int i = 0; i < kRuns; ++i) {
    fast.push_back(milliseconds([&] { run(true); }));
    reference.push_back(milliseconds([&] { run(false); }));
  }
  return {median(fast), median(reference)};
}

struct Row {
  const Layer* layer;
  Timing forward, forward_backward;
};

void print_table(const std::vector<Row>& rows, int threads) {
  fmt::print("\nbatch {}, float32, {} thread(s); median ms of {} runs; ratio = reference / fast\n",
             kBatch, threads, kRuns);
  fmt::print("| layer | fwd fast | fwd ref | ratio | fwd+bwd fast | fwd+bwd ref | ratio |\n");
  fmt::print("|---|---|---|---|---|---|---|\n");
  Timing total_f{0, 0}, total_fb{0, 0};
  auto line = [](const std::string& name, Timing f, Timing fb) {
    fmt::print("| {} | {:.2f} | {:.2f} | {:.2f}x | {:.2f} | {:.2f} | {:.2f}x |\n", name, f.fast,
               f.reference, f.reference / f.fast, fb.fast, fb.reference, fb.reference / fb.fast);
  };
  for (const Row& r : rows) {
    line(r.layer->name, r.forward, r.forward_backward);
    total_f.fast += r.forward.fast, total_f.reference += r.forward.reference;
    total_fb.fast += r.forward_backward.fast, total_fb.reference += r.forward_backward.reference;
  }
  line("all five layers", total_f, total_fb);
}

std::string csv(const std::vector<Row>& rows, int threads) {
  std::string out = "layer,threads,impl,pass,ms\n";
  for (const Row& r : rows)
    for (auto [pass, t] :
         {std::pair{"forward", r.forward}, {"forward_backward", r.forward_backward}})
      out += fmt::format("{},{},fast,{},{:.4f}\n{},{},reference,{},{:.4f}\n", r.layer->name,
                         threads, pass, t.fast, r.layer->name, threads, pass, t.reference);
  return out;
}

}  // namespace

static int run(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  if (!options.out_dir.empty())  // before the measurements, not after
    if (auto problem = tut::output_folder_problem(options.out_dir)) throw std::runtime_error(*problem);
  if (options.threads > 0) omp_set_num_threads(options.threads);
  const int threads = omp_get_max_threads();
  fmt::print("conv_bench: the Keras VAE demo's convolutions, gemm on {}\n",
             ad::to_string(ad::active_isa()));

  ad::Rng rng(1);
  std::vector<Row> rows;
  for (const Layer& l : layers) {
    Problem p = make_problem(l, rng);
    Row r{&l, side_by_side([&](bool fast) { forward_only(l, p, fast); }),
          side_by_side([&](bool fast) { forward_backward(l, p, fast); })};
    fmt::print("  {:<26} fwd+bwd {:7.2f} ms fast, {:7.2f} ms reference\n", l.name,
               r.forward_backward.fast, r.forward_backward.reference);
    rows.push_back(r);
  }
  print_table(rows, threads);

  if (!options.out_dir.empty()) {
    const std::filesystem::path path = std::filesystem::path(options.out_dir) / "conv.csv";
    ad::write_file_atomic(path, csv(rows, threads));
    fmt::print("wrote {}\n", path.string());
  }
  return 0;
}

int main(int argc, char** argv) {
  return tut::report_errors("conv_bench", [&] { return run(argc, argv); });
}
