// Tutorial: the frame every numbered tutorial program shares.
//
// A tutorial follows the lecture notes section by section. Each equation it uses is
// checked numerically, computed two independent ways, and printed on one line with the
// notes' catalogue ID, both numbers and the verdict:
//
//   [L05] KL(q||p), closed form vs quadrature:   0.3068528 vs 0.3068528
//         (|diff| 2.1e-11, tol 1e-06 rel)   ok            (on one line when printed)
//
// The program exits non-zero when any check failed, so `make tutorials` doubles as a
// test of the whole project.
//
// Example:
//   int main(int argc, char** argv) {
//       tut::Tutorial t("05_kl_divergence", "KL divergence between Gaussians");
//       int samples = 100000;
//       t.flags().add_option("--samples", samples, "Monte Carlo samples");
//       if (auto exit_code = t.parse(argc, argv)) return *exit_code;
//
//       t.section("L05", "KL between two Gaussians");
//       t.check_close("L05", "closed form vs quadrature", closed_form, quadrature, 1e-6);
//       t.check_within_se("L05", "Monte Carlo estimate", mean, standard_error, closed_form);
//       t.note("used {} samples", samples);
//       return t.finish();
//   }
#pragma once
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tut {

class Plot;
class ImageFigure;

// Exit code for a command line that could not be parsed (as for shell built-ins).
inline constexpr int usage_exit_code = 2;

// A command line whose values do not fit the data (e.g. a --batch larger than the training
// set): report_errors prints its message and exits with usage_exit_code.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs a program's work and turns any error that escapes it into one line on `err`,
// "<program>: error: <what was wrong>", and exit status 1: never an uncaught exception
// (terminate, abort, exit 134). The messages of the project's errors say which file or
// value was wrong; the line adds what to do where the kind of error tells.
//
//   static int run(int argc, char** argv) { ... parse, train, check ...; return t.finish(); }
//   int main(int argc, char** argv) {
//     return tut::report_errors("08_vae", [&] { return run(argc, argv); });
//   }
int report_errors(std::string_view program, const std::function<int()>& body,
                  std::ostream& err = std::cerr);

// A CLI11 check for a seed: only the digits of a whole number >= 0. (CLI::NonNegativeNumber
// would print the largest double in its message, and "-1" must not wrap to 2^64 - 1.)
const CLI::Validator& seed_check();

// CLI11 checks for floating-point flags. CLI::PositiveNumber and CLI::Range let "inf"
// (and Range "nan") through; these do not, and say the allowed range in --help.
CLI::Validator finite_number();                       // any finite number
CLI::Validator finite_positive();                     // finite and > 0
CLI::Validator finite_in(double low, double high);    // finite, low <= x <= high

// Creates `folder` if it does not exist and tries to create a file in it. Returns what is
// wrong ("cannot write in the output folder 'x': ...; choose another with --out DIR"), or
// nothing: a program checks before its work rather than failing at its first figure.
std::optional<std::string> output_folder_problem(const std::filesystem::path& folder);

class Tutorial {
 public:
  // name: the program's name, e.g. "00_autodiff_tape"; it is also the default
  // output folder out/<name>. Output goes to `out`, error messages to `err`.
  Tutorial(std::string name, std::string description, std::ostream& out = std::cout,
           std::ostream& err = std::cerr);

  // ---- command line ----
  // Add tutorial-specific flags here before parse().
  CLI::App& flags() { return cli_; }

  // Parses the standard flags (--seed, --out, --quick) and the added ones, creates
  // the output folder and prints a header. Returns an exit code when the program
  // should stop right away: 0 after --help, usage_exit_code after a bad flag
  // (the usage is printed), 1 if the output folder cannot be created or written.
  //   if (auto exit_code = t.parse(argc, argv)) return *exit_code;
  std::optional<int> parse(int argc, const char* const* argv);

  const std::string& name() const { return name_; }
  // Whether `flag` ("--epochs") was on the command line. --quick shrinks only the sizes
  // whose flags were not given: an explicit flag wins.
  bool given(const std::string& flag) const { return cli_.count(flag) > 0; }
  std::uint64_t seed() const { return seed_; }
  bool quick() const { return quick_; }
  std::filesystem::path out_dir() const { return out_dir_; }
  std::filesystem::path out_path(std::string_view file_name) const { return out_dir() / file_name; }
  // out_path(file_name) for a file this run is about to write. Throws ad::Error naming the
  // file when the run has already written one of that name, so that two figures or data
  // files never silently overwrite each other. save_figure and save_text call it; a
  // tutorial that writes a file itself (an image, a checkpoint) calls it once per file.
  std::filesystem::path new_file(std::string_view file_name);

  // ---- printing ----
  // A heading for the part of the notes with catalogue ID `id`.
  void section(std::string_view id, std::string_view title);

  // Free text under the current section, formatted like fmt::format:
  //   t.note("trained {} steps in {:.1f} s", steps, seconds);
  template <typename... Args>
  void note(fmt::format_string<Args...> format, Args&&... args) {
    print_note(fmt::format(format, std::forward<Args>(args)...));
  }

  // ---- checks: each prints one line and returns whether it passed ----
  // |got - expected| <= abs_tol + rel_tol * |expected|
  bool check_close(std::string_view id, std::string_view what, double got, double expected,
                   double rel_tol, double abs_tol = 0.0);

  // A Monte Carlo estimate against the exact value:
  // |estimate - exact| <= n_se * standard_error. With n_se = 3 a correct estimator
  // fails about 0.3% of the time (normal approximation), so pick a fixed seed.
  bool check_within_se(std::string_view id, std::string_view what, double estimate,
                       double standard_error, double exact, double n_se = 3.0);

  // A property that holds or not; `detail` says what was seen.
  bool check_true(std::string_view id, std::string_view what, bool holds,
                  std::string_view detail = {});

  // a < b, and a <= b (e.g. ELBO <= log p(x), which is tight when q is the posterior).
  bool check_less(std::string_view id, std::string_view what, double a, double b);
  bool check_less_equal(std::string_view id, std::string_view what, double a, double b);

  int checks_run() const { return checks_run_; }
  int checks_failed() const { return static_cast<int>(failures_.size()); }

  // ---- output files ----
  // Saves the plot into out_dir() and prints where; returns the PNG if one was made.
  // Like every file of a run, its name.csv, name.gp and name.png must be new (new_file).
  std::optional<std::filesystem::path> save_figure(const Plot& plot);
  std::optional<std::filesystem::path> save_figure(const ImageFigure& figure);
  // Writes a data file (e.g. CSV text) into out_dir() atomically and prints where.
  std::filesystem::path save_text(std::string_view file_name, std::string_view contents);

  // Prints "<name>: N checks, N ok, 0 FAILED" (and lists any failures);
  // returns the program's exit code: 0 if and only if no check failed.
  int finish();

 private:
  bool record(std::string_view id, std::string_view what, std::string_view numbers,
              std::string_view how, bool passed);
  void print_note(const std::string& text);
  std::optional<std::filesystem::path> announce_figure(const std::string& name,
                                                       std::optional<std::filesystem::path> png);

  std::string name_;
  std::ostream& out_;
  std::ostream& err_;
  CLI::App cli_;

  std::uint64_t seed_ = 42;
  std::string out_dir_;
  bool quick_ = false;

  int checks_run_ = 0;
  std::vector<std::string> failures_;  // "[id] what" of each failed check
  std::set<std::string> files_written_;  // names given to new_file in this run
};

}  // namespace tut
