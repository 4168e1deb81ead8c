#include "nn/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace nn {

namespace {
// Redrawing more often than this only costs time and makes the numbers flicker.
constexpr double kRedrawSeconds = 0.1;

double seconds_between(std::chrono::steady_clock::time_point a,
                       std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
}  // namespace

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || std::isinf(seconds)) return "?";
  if (seconds < 1) return fmt::format("{:.0f} ms", seconds * 1000);
  if (seconds < 60) return fmt::format("{:.1f} s", seconds);
  const int64_t whole = std::llround(seconds);
  if (whole < 3600) return fmt::format("{}m{:02}s", whole / 60, whole % 60);
  return fmt::format("{}h{:02}m", whole / 3600, whole / 60 % 60);
}

std::string format_rate(double examples_per_second) {
  if (!(examples_per_second >= 0) || std::isinf(examples_per_second)) return "? ex/s";
  if (examples_per_second < 1e3) return fmt::format("{:.0f} ex/s", examples_per_second);
  if (examples_per_second < 1e6) return fmt::format("{:.1f}k ex/s", examples_per_second / 1e3);
  return fmt::format("{:.2f}M ex/s", examples_per_second / 1e6);
}

Progress::Progress(int epochs, int64_t examples_per_epoch, std::FILE* out)
    : epochs_(epochs),
      examples_per_epoch_(examples_per_epoch),
      out_(out),
      interactive_(::isatty(::fileno(out)) == 1) {}

void Progress::start_epoch(int epoch) {
  const Clock::time_point now = Clock::now();
  if (!started_) run_start_ = now;  // the time left counts everything since the first epoch
  started_ = true;
  epoch_ = epoch;
  epoch_examples_ = 0;
  epoch_loss_sum_ = 0;
  epoch_start_ = last_draw_ = now;
}

void Progress::add(int64_t examples, double loss) {
  epoch_examples_ += examples;
  total_examples_ += examples;
  epoch_loss_sum_ += loss * static_cast<double>(examples);
  if (!interactive_) return;
  const Clock::time_point now = Clock::now();
  if (seconds_between(last_draw_, now) < kRedrawSeconds) return;
  last_draw_ = now;
  draw(status_line(false), false);
}

double Progress::end_epoch(const std::string& extra) {
  std::string line = status_line(true);
  if (!extra.empty()) line += "  " + extra;
  draw(line, true);
  return mean_loss();
}

double Progress::mean_loss() const {
  return epoch_examples_ > 0 ? epoch_loss_sum_ / static_cast<double>(epoch_examples_) : NAN;
}

std::string Progress::status_line(bool finished) const {
  const Clock::time_point now = Clock::now();
  const double epoch_seconds = seconds_between(epoch_start_, now);
  const double run_seconds = seconds_between(run_start_, now);
  // Time left from the average rate of the whole run so far, which includes whatever
  // the caller does between epochs (validation, figures) and so predicts the end better.
  const int64_t examples_left = (epochs_ - epoch_ - 1) * examples_per_epoch_ +
                                std::max<int64_t>(examples_per_epoch_ - epoch_examples_, 0);
  const double seconds_left =
      total_examples_ > 0 ? examples_left * run_seconds / static_cast<double>(total_examples_)
                          : NAN;
  const int epoch_digits = static_cast<int>(std::to_string(epochs_).size());

  std::string line = fmt::format("epoch {:>{}}/{}  {}/{}  {}  loss {:.3f}", epoch_ + 1,
                                 epoch_digits, epochs_, epoch_examples_, examples_per_epoch_,
                                 format_rate(epoch_examples_ / epoch_seconds), mean_loss());
  if (finished) line += "  took " + format_duration(epoch_seconds);
  if (examples_left > 0) line += "  left " + format_duration(seconds_left);
  return line;
}

void Progress::draw(const std::string& line, bool finished) {
  if (interactive_) {
    // '\r' goes back to the start of the line; spaces blank out a longer previous line.
    const size_t blank = last_length_ > line.size() ? last_length_ - line.size() : 0;
    fmt::print(out_, "\r{}{:{}}", line, "", blank);
    last_length_ = finished ? 0 : line.size();
    if (finished) fmt::print(out_, "\n");
  } else {
    fmt::print(out_, "{}\n", line);
  }
  std::fflush(out_);
}

}  // namespace nn
