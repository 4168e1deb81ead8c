#include "tutorials/common/tutorial.h"

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <new>
#include <utility>

#include "autodiff/anomaly.h"
#include "nn/atomic_file.h"
#include "autodiff/shape.h"
#include "nn/checkpoint.h"
#include "nn/idx.h"
#include "tutorials/common/plot.h"

namespace tut {
namespace fs = std::filesystem;

namespace {

// Column layout of a check line: "[id] what:" is padded to what_width, and the
// verdict starts at verdict_column, so ok/FAILED line up down the page.
constexpr int what_width = 38;
constexpr int verdict_column = 106;
constexpr int default_digits = 7;

std::string number(double x, int digits = default_digits) {
  return fmt::format("{:.{}g}", x, digits);
}

// Tolerances, differences, standard errors: two digits say enough.
std::string small(double x) { return fmt::format("{:.2g}", x); }

// Formats two numbers that were compared. A failed comparison gets as many digits as
// it takes for the printed numbers to differ, so the reader sees the disagreement.
std::pair<std::string, std::string> compared_numbers(double a, double b, bool passed) {
  int digits = default_digits;
  std::string sa = number(a, digits), sb = number(b, digits);
  while (!passed && sa == sb && a != b && digits < 17) {
    ++digits;
    sa = number(a, digits);
    sb = number(b, digits);
  }
  return {sa, sb};
}

// Characters on screen, counting a UTF-8 sequence (e.g. "σ") as one.
size_t display_width(std::string_view text) {
  size_t width = 0;
  for (unsigned char c : text) width += (c & 0xC0) != 0x80;
  return width;
}

std::string describe_tolerance(double rel_tol, double abs_tol) {
  if (abs_tol == 0) return "tol " + small(rel_tol) + " rel";
  if (rel_tol == 0) return "tol " + small(abs_tol) + " abs";
  return "tol " + small(rel_tol) + " rel + " + small(abs_tol) + " abs";
}

}  // namespace

Tutorial::Tutorial(std::string name, std::string description, std::ostream& out, std::ostream& err)
    : name_(std::move(name)),
      out_(out),
      err_(err),
      cli_(std::move(description), name_),
      out_dir_("out/" + name_) {
  cli_.add_option("--seed", seed_, "seed of the random number generator (same seed, same numbers)")
      ->check(seed_check())
      ->capture_default_str();
  cli_.add_option("--out", out_dir_, "folder for figures (PNG + CSV + gnuplot script) and data")
      ->capture_default_str();
  cli_.add_flag("--quick", quick_,
                "small problem sizes for a fast run (a size given by its own flag is kept)");
  // On a bad flag, show the whole usage rather than only "run with --help".
  cli_.failure_message(CLI::FailureMessage::help);
}

const CLI::Validator& seed_check() {
  static const CLI::Validator check(
      [](std::string& text) -> std::string {
        const bool digits = !text.empty() && text.size() <= 19 &&
                            text.find_first_not_of("0123456789") == std::string::npos;
        return digits ? "" : "must be a whole number from 0 to 10^19 - 1, got '" + text + "'";
      },
      "INT >= 0");
  return check;
}

namespace {
CLI::Validator finite_check(std::function<bool(double)> allowed, const std::string& what,
                            const std::string& description) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(text, value) || !std::isfinite(value) || !allowed(value))
          return fmt::format("must be {}, got {}", what, text);
        return {};
      },
      description);
}
}  // namespace

CLI::Validator finite_number() {
  return finite_check([](double) { return true; }, "a finite number", "FLOAT");
}
CLI::Validator finite_positive() {
  return finite_check([](double x) { return x > 0; }, "a finite number > 0", "FLOAT > 0");
}
CLI::Validator finite_in(double low, double high) {
  return finite_check([=](double x) { return x >= low && x <= high; },
                      fmt::format("a number from {} to {}", low, high),
                      fmt::format("FLOAT in [{}, {}]", low, high));
}

int report_errors(std::string_view program, const std::function<int()>& body, std::ostream& err) {
  auto fail = [&](std::string_view what, std::string_view advice) {
    err << fmt::format("{}: error: {}{}\n", program, what, advice) << std::flush;
    return 1;
  };
  try {
    return body();
  } catch (const UsageError& e) {  // values that do not fit the data: as a bad flag
    err << fmt::format("{}: error: {}\n", program, e.what()) << std::flush;
    return usage_exit_code;
  } catch (const nn::DataError& e) {
    return fail(e.what(), "");  // (its message names the file and says what was expected)
  } catch (const nn::CheckpointError& e) {
    return fail(e.what(), "");
  } catch (const ad::ExerciseNotDone& e) {  // a student copy (docs/exercises.md)
    return fail(e.what(), fmt::format("; this tutorial needs it: make grade E={}", e.id()));
  } catch (const ad::AnomalyError& e) {
    return fail(e.what(), " (see docs/anomaly_mode.md)");
  } catch (const std::bad_alloc&) {
    return fail("out of memory", "; try --quick, or smaller sizes (e.g. --batch)");
  } catch (const std::exception& e) {
    return fail(e.what(), "");
  } catch (...) {
    return fail("an unknown error", "");
  }
}

std::optional<std::string> output_folder_problem(const fs::path& folder) {
  std::error_code error;
  std::string why;
  if (fs::exists(folder, error) && !fs::is_directory(folder, error))
    why = fmt::format("the output folder '{}' exists and is not a folder", folder.string());
  else if (fs::create_directories(folder, error); error)
    why = fmt::format("cannot create the output folder '{}': {}", folder.string(), error.message());
  // A folder that exists may still be read-only (or on a read-only file system): try.
  else if (const fs::path probe = folder / fmt::format(".write_test_{}", ::getpid());
           !std::ofstream(probe))
    why = fmt::format("cannot write in the output folder '{}': files cannot be created in it",
                      folder.string());
  else
    fs::remove(probe, error);
  if (why.empty()) return std::nullopt;
  return why + "; choose another with --out DIR";
}

std::optional<int> Tutorial::parse(int argc, const char* const* argv) {
  try {
    cli_.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is reported as a "parse error" with exit code 0; CLI11 prints the
    // help, or the error followed by the usage.
    int cli_exit_code = cli_.exit(e, out_, err_);
    return cli_exit_code == 0 ? 0 : usage_exit_code;
  }

  if (auto problem = output_folder_problem(out_dir_)) {
    err_ << fmt::format("{}: error: {}\n", name_, *problem);
    return 1;
  }

  out_ << fmt::format("== {}: {}\n", name_, cli_.get_description());
  out_ << fmt::format("   seed {}, output in {}{}\n", seed_, out_dir_,
                      quick_ ? ", quick run (small sizes)" : "")
       << std::flush;
  return std::nullopt;
}

void Tutorial::section(std::string_view id, std::string_view title) {
  std::string heading = fmt::format("[{}] {}", id, title);
  out_ << '\n' << heading << '\n' << std::string(display_width(heading), '-') << '\n' << std::flush;
}

void Tutorial::print_note(const std::string& text) {
  // Indent every line of the note to sit under the section heading.
  std::string indented = "  ";
  for (char c : text) {
    indented += c;
    if (c == '\n') indented += "  ";
  }
  out_ << indented << '\n' << std::flush;
}

bool Tutorial::record(std::string_view id, std::string_view what, std::string_view numbers,
                      std::string_view how, bool passed) {
  ++checks_run_;
  std::string label = fmt::format("[{}] {}{}", id, what, numbers.empty() ? "" : ":");
  std::string line = fmt::format("  {:<{}} {}", label, what_width, numbers);
  if (!how.empty()) line += fmt::format("  ({})", how);
  size_t width = display_width(line);
  if (width < verdict_column) line.append(verdict_column - width, ' ');
  out_ << line << "  " << (passed ? "ok" : "FAILED") << '\n' << std::flush;
  if (!passed) failures_.push_back(fmt::format("[{}] {}", id, what));
  return passed;
}

bool Tutorial::check_close(std::string_view id, std::string_view what, double got, double expected,
                           double rel_tol, double abs_tol) {
  double difference = std::abs(got - expected);
  // got == expected also covers two equal infinities, whose difference is NaN.
  // A NaN anywhere fails: every comparison with NaN is false.
  bool passed = got == expected || difference <= abs_tol + rel_tol * std::abs(expected);
  auto [got_text, expected_text] = compared_numbers(got, expected, passed);
  return record(
      id, what, fmt::format("{:>12} vs {:<12}", got_text, expected_text),
      fmt::format("|diff| {}, {}", small(difference), describe_tolerance(rel_tol, abs_tol)),
      passed);
}

bool Tutorial::check_within_se(std::string_view id, std::string_view what, double estimate,
                               double standard_error, double exact, double n_se) {
  double difference = estimate - exact;
  bool passed = std::abs(difference) <= n_se * standard_error;
  // z: how many standard errors the estimate is off. For a correct estimator it is
  // roughly standard normal, so |z| around 1 is typical and 3 is rare.
  double z = difference / standard_error;
  auto [estimate_text, exact_text] = compared_numbers(estimate, exact, passed);
  return record(id, what, fmt::format("{:>12} vs {:<12}", estimate_text, exact_text),
                fmt::format("z = {:+.2f}, |z| <= {}; se {}", z, n_se, small(standard_error)),
                passed);
}

bool Tutorial::check_true(std::string_view id, std::string_view what, bool holds,
                          std::string_view detail) {
  return record(id, what, detail, {}, holds);
}

bool Tutorial::check_less(std::string_view id, std::string_view what, double a, double b) {
  bool passed = a < b;
  auto [a_text, b_text] = compared_numbers(a, b, true);
  return record(id, what, fmt::format("{:>12} <  {:<12}", a_text, b_text), "margin " + small(b - a),
                passed);
}

bool Tutorial::check_less_equal(std::string_view id, std::string_view what, double a, double b) {
  bool passed = a <= b;
  auto [a_text, b_text] = compared_numbers(a, b, true);
  return record(id, what, fmt::format("{:>12} <= {:<12}", a_text, b_text), "margin " + small(b - a),
                passed);
}

fs::path Tutorial::new_file(std::string_view file_name) {
  if (!files_written_.insert(std::string(file_name)).second)
    throw ad::Error(fmt::format(
        "{}: the file '{}' was already written by this run; give the second figure or data "
        "file another name",
        name_, out_path(file_name).string()));
  return out_path(file_name);
}

std::optional<fs::path> Tutorial::save_figure(const Plot& plot) {
  for (const char* extension : {".csv", ".gp", ".png"}) new_file(plot.name() + extension);
  return announce_figure(plot.name(), plot.save(out_dir(), err_));
}

std::optional<fs::path> Tutorial::save_figure(const ImageFigure& figure) {
  for (const std::string& file : figure.file_names()) new_file(file);
  return announce_figure(figure.name(), figure.save(out_dir(), err_));
}

std::optional<fs::path> Tutorial::announce_figure(const std::string& name,
                                                  std::optional<fs::path> png) {
  if (png)
    print_note(fmt::format("figure: {}", png->string()));
  else
    print_note(fmt::format("figure: {} (no PNG, see message above)",
                           (out_dir() / (name + ".gp")).string()));
  return png;
}

fs::path Tutorial::save_text(std::string_view file_name, std::string_view contents) {
  fs::path path = new_file(file_name);
  ad::write_file_atomic(path, contents);
  print_note(fmt::format("data: {}", path.string()));
  return path;
}

int Tutorial::finish() {
  int failed = checks_failed();
  out_ << '\n';
  if (failed > 0) {
    out_ << "FAILED checks:\n";
    for (const std::string& failure : failures_) out_ << "  " << failure << '\n';
  }
  out_ << fmt::format("{}: {} checks, {} ok, {} FAILED\n", name_, checks_run_, checks_run_ - failed,
                      failed)
       << std::flush;
  return failed == 0 ? 0 : 1;
}

}  // namespace tut
