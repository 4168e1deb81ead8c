// Progress: one status line per training epoch.
//
// On a terminal the line is redrawn in place ('\r') a few times a second while the
// epoch runs; into a file or a pipe (a CI log, `| tee`) only the finished line of each
// epoch is written, so logs stay short and readable.
//
// Example:
//   nn::Progress progress(epochs, batches.examples_per_epoch());
//   for (int epoch = 0; epoch < epochs; ++epoch) {
//     progress.start_epoch(epoch);
//     for (nn::Batch batch; batches.next(batch);) {
//       ... double loss = ...;                 // the batch's mean loss
//       progress.add(batch.size(), loss);
//     }
//     progress.end_epoch(fmt::format("val -ELBO {:.2f}", validation_loss));
//   }
//
// prints, for example,
//   epoch  3/10  60000/60000  24.1k ex/s  loss 254.118  took 2.5 s  left 17.4 s  val -ELBO 256.90
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace nn {

class Progress {
 public:
  // `out` is a terminal (redraw in place) or not (one line per epoch), as isatty says.
  Progress(int epochs, int64_t examples_per_epoch, std::FILE* out = stdout);

  void start_epoch(int epoch);  // counting from 0; resets the epoch's mean loss
  // After each batch: how many examples it had and its mean loss per example.
  void add(int64_t examples, double loss);
  // Prints the epoch's final line, with `extra` (e.g. validation results) at the end.
  // Returns the epoch's mean loss per example.
  double end_epoch(const std::string& extra = {});

  double mean_loss() const;  // over the examples of the current epoch so far
  void set_interactive(bool interactive) { interactive_ = interactive; }  // e.g. for tests

 private:
  using Clock = std::chrono::steady_clock;
  std::string status_line(bool finished) const;
  void draw(const std::string& line, bool finished);

  int epochs_;
  int64_t examples_per_epoch_;
  std::FILE* out_;
  bool interactive_;

  int epoch_ = 0;
  int64_t epoch_examples_ = 0;
  double epoch_loss_sum_ = 0;
  int64_t total_examples_ = 0;  // over all epochs so far, for the time left
  Clock::time_point run_start_, epoch_start_, last_draw_;
  bool started_ = false;
  size_t last_length_ = 0;  // of the line on screen, to blank out leftovers
};

// "850 ms", "12.3 s", "4m07s", "1h02m": short and readable at a glance.
std::string format_duration(double seconds);
// "812 ex/s", "24.1k ex/s", "1.20M ex/s".
std::string format_rate(double examples_per_second);

}  // namespace nn
